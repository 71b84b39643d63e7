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
_DECODER = json.JSONDecoder()


def parse_json_object(text: str | None) -> dict[str, Any]:
    """The first JSON object in `text`. Raises ValueError saying why there is none."""
    if not text or not text.strip():
        raise ValueError("the reply is empty")
    start = text.find("{")
    first_error: json.JSONDecodeError | None = None
    while start != -1:
        try:
            value, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            first_error = first_error or exc
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    if first_error is None:
        raise ValueError("the reply is not JSON (no object in it)")
    raise ValueError(f"the reply is not JSON ({first_error.msg})")


def _formats(name: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "json_schema", "json_schema": {"name": name, "schema": schema}},
            {"type": "json_object", "schema": schema}]


class FormatNegotiation:
    """Which `response_format` this endpoint takes, found on the first calls that ask."""

    def __init__(self, mode: Mode = "auto") -> None:
        self.mode = mode
        self._choice = 0  # index into the formats; len(formats): none is taken
        self.settled = mode != "auto"

    @property
    def supported(self) -> bool | None:
        """None until an endpoint has answered a call that asked."""
        if self.mode == "off":
            return False
        if not self.settled:
            return None
        return self._choice < 2

    def response_format(self, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
        if self.mode == "off":
            return None
        formats = _formats(name, schema)
        return formats[self._choice] if self._choice < len(formats) else None

    def accepted(self) -> None:
        if not self.settled:
            self.settled = True
            log.info("the endpoint takes response_format %s",
                     ("json_schema", "json_object")[self._choice])

    def refused(self) -> bool:
        """The endpoint refused the last format: move on to the next one. False when
        there is none left to try, or the mode insists on a schema."""
        if self.mode != "auto" or self.settled:
            return False
        self._choice += 1
        if self._choice >= 2:
            self.settled = True
            log.warning("the endpoint takes no response_format: JSON replies are parsed "
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
