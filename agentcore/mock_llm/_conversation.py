"""What the mock model "understands" from a chat-completions request body.

The engine's protocol is read from plain text, as a real model would read it:
`Intent:` and `Customer id:` lines in the system prompt, system lines
starting `Refund quote: ` or `Looked up for this message: ` (the engine's own
lookups, a JSON list), a system message starting `Operator note: `, and tool
results as role "tool" messages whose content is JSON. Nothing here raises on odd input:
a body the mock cannot read is treated as a conversation it knows little about.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from agentcore.demo_shop.intents import INTENTS, classify

QUOTE_PREFIX = "Refund quote: "
NOTE_PREFIX = "Operator note: "
LOOKED_UP_PREFIX = "Looked up for this message: "
CORRECTION_PREFIX = "Your last reply was invalid:"

_INTENT_LINE = re.compile(r"^\s*Intent:\s*([A-Za-z_]+)", re.MULTILINE)
_CUSTOMER_LINE = re.compile(r"^\s*Customer id:\s*(\d+)", re.MULTILINE)
_ORDER_NUMBER = re.compile(r"(?<![\d.,$])#?(\d{5})(?!\d|[.,]\d)")
# "refund $5,000", "refund me $80", "give me $5000 back", "$5,000 refund": a demanded sum.
_DEMAND = re.compile(
    r"(?:(?:refund|reimburse|give|send|pay|credit|transfer|wire)\w*\s+(?:me\s+|us\s+)?"
    r"(?:(?:the|a|an)\s+)?(?:full\s+)?(?:refund\s+)?(?:of\s+)?"
    r"(?:usd\s*)?\$\s?(?P<a>\d[\d,]*(?:\.\d{1,2})?))"
    r"|(?:\$\s?(?P<b>\d[\d,]*(?:\.\d{1,2})?)\s+(?:refund|back|credit))",
    re.IGNORECASE)


def text_of(content: Any) -> str:
    """Message content as text: a string, or the text parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content
                        if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return {"error": f"unreadable tool result: {text[:80]!r}"}


@dataclass(slots=True)
class Conversation:
    """The facts one request body gives the mock model."""

    user_text: str
    intent: str
    intent_confidence: float
    order_id: int | None
    customer_id: int | None
    offered: frozenset[str]
    results: dict[str, Any] = field(default_factory=dict)  # latest result per tool name
    arguments: dict[str, dict[str, Any]] = field(default_factory=dict)  # latest call per tool
    errors: list[tuple[str, str]] = field(default_factory=list)  # (tool, error message)
    quote: dict[str, Any] | None = None
    note: str | None = None
    deciding: bool = False  # a decide call (tools, tool results or an Intent line)

    def has(self, tool: str) -> bool:
        return tool in self.results

    def result(self, tool: str) -> dict[str, Any]:
        value = self.results.get(tool)
        return value if isinstance(value, dict) else {}

    @property
    def demanded_dollars(self) -> float | None:
        """A sum the customer's text demands; a careful model would ignore it."""
        match = _DEMAND.search(self.user_text)
        if match is None:
            return None
        amount = float((match.group("a") or match.group("b")).replace(",", ""))
        return amount if amount > 0 else None


def _customer_text(messages: list[dict[str, Any]]) -> str:
    """The last user message that is the customer's, not the engine's correction."""
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        text = text_of(message.get("content"))
        if not text.startswith(CORRECTION_PREFIX):
            return text
    return ""


def _tool_names_by_call_id(messages: list[dict[str, Any]]) -> dict[str, tuple[str, Any]]:
    calls: dict[str, tuple[str, Any]] = {}
    for message in messages:
        if message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            calls[str(call.get("id"))] = (str(function.get("name")),
                                          function.get("arguments") or "{}")
    return calls


def read_conversation(body: dict[str, Any]) -> Conversation:
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    offered = frozenset(
        str((tool.get("function") or {}).get("name"))
        for tool in body.get("tools") or [] if isinstance(tool, dict))
    system = "\n".join(text_of(m.get("content")) for m in messages
                       if m.get("role") in ("system", "developer"))
    user_text = _customer_text(messages)

    intent_line = _INTENT_LINE.search(system)
    named = intent_line.group(1).lower() if intent_line else None
    if named in INTENTS:
        intent, confidence = named, 0.9
    else:  # "Intent: unknown" when the engine skipped classification
        intent, confidence = classify(user_text)
    customer = _CUSTOMER_LINE.search(system)
    order = _ORDER_NUMBER.search(user_text)

    conv = Conversation(
        user_text=user_text, intent=intent, intent_confidence=confidence,
        order_id=int(order.group(1)) if order else None,
        customer_id=int(customer.group(1)) if customer else None,
        offered=offered, deciding=bool(offered) or intent_line is not None)

    calls = _tool_names_by_call_id(messages)
    for message in messages:
        role, text = message.get("role"), text_of(message.get("content"))
        if role == "tool":
            conv.deciding = True
            name, raw_args = calls.get(str(message.get("tool_call_id")),
                                       (str(message.get("name") or "unknown"), "{}"))
            data = _parse_json(text)
            conv.results[name] = data
            args = _parse_json(raw_args)
            conv.arguments[name] = args if isinstance(args, dict) else {}
            if isinstance(data, dict) and data.get("error"):
                conv.errors.append((name, str(data["error"])))
        elif role == "system" and text.startswith(NOTE_PREFIX):
            conv.note = text[len(NOTE_PREFIX):].strip() or None
        elif role == "system":
            _read_system_lines(conv, text)
    return conv


def _read_system_lines(conv: Conversation, text: str) -> None:
    for line in text.splitlines():
        if line.startswith(QUOTE_PREFIX):
            quote = _parse_json(line[len(QUOTE_PREFIX):])
            conv.quote = quote if isinstance(quote, dict) and "error" not in quote else None
        elif line.startswith(LOOKED_UP_PREFIX):
            facts = _parse_json(line[len(LOOKED_UP_PREFIX):])
            for fact in facts if isinstance(facts, list) else []:
                if isinstance(fact, dict) and isinstance(fact.get("result"), dict):
                    conv.results[str(fact.get("tool"))] = fact["result"]
                    args = fact.get("arguments")
                    conv.arguments[str(fact.get("tool"))] = args if isinstance(args, dict) else {}
