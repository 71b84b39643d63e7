"""JSON replies from any endpoint: asked for with a schema where it can, read tolerantly.

Two ways to ask for JSON exist on the wire. OpenAI, vLLM, Ollama and llama.cpp's
own server take `{"type": "json_schema", "json_schema": {...}}`; llama-cpp-python's
server knows only `{"type": "json_object", "schema": {...}}` and answers the other
with a validation error. `FormatNegotiation` tries them in that order, once per
endpoint, and remembers what it accepted. Whatever comes back is parsed by
`parse_json_object`, which also takes what small models write around their JSON:
a Markdown fence, a sentence before it, a remark after it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

log = logging.getLogger("agentcore.llm")

Mode = Literal["auto", "json_schema", "off"]
# strict=False: small models put raw line breaks inside strings; the meaning is plain.
_DECODER = json.JSONDecoder(strict=False)


def json_objects(text: str | None) -> list[tuple[dict[str, Any], str]]:
    """Every top-level JSON object in `text`, with its own text, in order."""
    found: list[tuple[dict[str, Any], str]] = []
    start = (text or "").find("{")
    while text and start != -1:
        try:
            value, end = _DECODER.raw_decode(text, start)
        except (json.JSONDecodeError, RecursionError):  # RecursionError: nested 1,000 deep
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            found.append((value, text[start:end]))
            start = text.find("{", end)
        else:
            start = text.find("{", start + 1)
    return found


def parse_json_object(text: str | None, *, quoted: str = "") -> dict[str, Any]:
    """The first JSON object in `text` that is not one of `quoted` (the customer's own
    text: a model echoing the customer's JSON is not answering with it). Raises
    ValueError saying why there is none."""
    for value, raw in json_objects(text):
        if not (quoted and raw in quoted):
            return value
    if not text or not text.strip():
        raise ValueError("the reply is empty")
    try:
        _DECODER.decode(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
        raise ValueError(f"the reply is not JSON ({why})") from None
    raise ValueError("the reply is not JSON (no object in it)")


def _formats(name: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "json_schema", "json_schema": {"name": name, "schema": schema}},
            {"type": "json_object", "schema": schema}]


def refuses_format(error: Exception) -> bool:
    """Does an endpoint's error say it takes no such response_format? A 400 or 422 that
    names none of it (a prompt over the context window) is about something else."""
    text = str(error).lower()
    return any(word in text for word in ("response_format", "json_schema", "json_object"))


class FormatNegotiation:
    """Which `response_format` this endpoint takes, found on the first calls that ask.

    A caller reads `(index, format)`, sends it, and reports back with that index, so
    two first calls in flight at once move the choice on once, not twice."""

    def __init__(self, mode: Mode = "auto") -> None:
        self.mode = mode
        self._choice = 0  # index into the formats; 2: none
        self.settled = mode != "auto"

    def response_format(self, name: str, schema: dict[str, Any]
                        ) -> tuple[int, dict[str, Any] | None]:
        if self.mode == "off":
            return self._choice, None
        formats = _formats(name, schema)
        return self._choice, formats[self._choice] if self._choice < len(formats) else None

    def accepted(self, index: int) -> None:
        """A call sent with format `index` succeeded: the endpoint takes it."""
        if not self.settled and index == self._choice:
            self.settled = True
            log.info("the endpoint takes response_format %s",
                     ("json_schema", "json_object", "none")[index])

    def refused(self, index: int) -> bool:
        """The endpoint refused format `index`: True to send the call again in the
        current one (the next, perhaps none). False when the mode insists on a schema
        or the choice is settled."""
        if self.mode != "auto":
            return False
        if index < self._choice:
            return True  # another call found it refused already, and moved on
        if self.settled:
            return False
        self._choice += 1
        if self._choice == 2:
            log.warning("the endpoint takes no response_format: JSON replies are read "
                        "tolerantly")
        return True


def classify_schema(intents: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False,
            "properties": {"intent": {"type": "string", "enum": list(intents)},
                           "confidence": {"type": "number"}},
            "required": ["intent", "confidence"]}


# Bounded so a grammar-constrained small model closes its JSON before max_tokens cuts
# it off mid-string (it otherwise writes until the cap: 400 tokens, unterminated).
MAX_ANSWER_CHARS = 1000


def answer_schema(intents: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False,
            "properties": {"intent": {"type": "string", "enum": list(intents)},
                           "answer": {"type": "string", "maxLength": MAX_ANSWER_CHARS},
                           "confidence": {"type": "number"},
                           "handoff": {"type": ["string", "null"], "maxLength": 300}},
            "required": ["intent", "answer", "confidence", "handoff"]}
