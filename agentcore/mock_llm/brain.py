"""The mock model itself: a chat-completions request body in, a response object out.

Pure and deterministic: the same body gives the same answer (ids are derived
from a hash of the body; only `created` comes from the clock). Faults, latency
and HTTP belong to the transport and the server, not here.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from agentcore.demo_shop.intents import classify
from agentcore.mock_llm import _wire
from agentcore.mock_llm._conversation import read_conversation
from agentcore.mock_llm._playbooks import Final, next_step

# The stage models of the default settings, so a default configuration "exists" here.
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "mock-llm")


class MockBrain:
    """A deterministic offline stand-in for a tool-calling chat model."""

    def __init__(self, models: tuple[str, ...] = DEFAULT_MODELS,
                 clock: Callable[[], float] = time.time) -> None:
        self.models = models
        self._clock = clock

    def respond(self, body: dict[str, Any]) -> dict[str, Any]:
        """The chat.completion object answering `body` (a parsed request body)."""
        conv = read_conversation(body)
        if not conv.deciding:
            intent, confidence = classify(conv.user_text)
            message = _wire.assistant_message(
                json.dumps({"intent": intent, "confidence": confidence}))
            return self._complete(body, message, "stop")
        step = next_step(conv)
        if not isinstance(step, Final) and not body.get("tools"):
            # Asked for its answer with no tools on offer: a model says what it can.
            step = Final("I need to look a few things up before I can answer this; a "
                         "colleague will get back to you shortly.", 0.4,
                         handoff="the lookups it needed were not made in time")
        if isinstance(step, Final):
            content = json.dumps({"intent": conv.intent, "answer": step.answer,
                                  "confidence": step.confidence, "handoff": step.handoff},
                                 ensure_ascii=False)
            return self._complete(body, _wire.assistant_message(content), "stop")
        digest = _wire.body_digest(body)
        calls = [_wire.tool_call(_call_id(digest, i), c.name, json.dumps(c.arguments))
                 for i, c in enumerate(step)]
        return self._complete(body, _wire.assistant_message(None, calls), "tool_calls")

    def _complete(self, body: dict[str, Any], message: dict[str, Any],
                  finish_reason: str) -> dict[str, Any]:
        # A real model stops mid-sentence at the token cap; the engine must cope with that.
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        content = message.get("content")
        if isinstance(cap, int) and cap > 0 and content and len(content) > cap * 4:
            message["content"] = content[:cap * 4]
            finish_reason = "length"
        return _wire.chat_completion(body, message, finish_reason, int(self._clock()))


def _call_id(digest: str, index: int) -> str:
    return "call_" + hashlib.sha256(f"{digest}:{index}".encode()).hexdigest()[:24]
