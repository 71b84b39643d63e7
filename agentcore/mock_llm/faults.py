"""Seeded fault injection and latency for the mock LLM.

One draw per chat-completion call picks at most one fault, the rates taken in a
fixed order (429, 5xx, timeout, malformed, unknown tool) on the same uniform
number, so they are exclusive and a rate of 1.0 always gives its fault. The
latency has its own seeded stream: changing the latency knobs does not shift
which calls fail, so a failing run can be replayed with the same seed.
"""

from __future__ import annotations

import json
import math
import random
import threading
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from agentcore.mock_llm import _wire
from agentcore.settings import MockSettings

# Tool names no shop offers: what a confused or manipulated model might ask for.
UNKNOWN_TOOL_NAMES = ("delete_all_orders", "refund_everything", "get_weather")


class FaultKind(StrEnum):
    OK = "ok"
    RATE_LIMIT = "429"
    SERVER_ERROR = "5xx"
    TIMEOUT = "timeout"
    MALFORMED = "malformed"
    UNKNOWN_TOOL = "unknown_tool"


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    status: int = 200
    retry_after_s: int | None = None
    variant: int = 0  # which malformation, which unknown name (drawn with the fault)

    @property
    def is_http_error(self) -> bool:
        return self.kind in (FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR)

    def error_response(self) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Status, headers and OpenAI-style body of a 429 or 5xx fault."""
        if self.kind is FaultKind.RATE_LIMIT:
            return (429, {"retry-after": str(self.retry_after_s or 1)},
                    _wire.error_body("Rate limit reached for requests (mock fault).",
                                     "requests", "rate_limit_exceeded"))
        return (self.status, {}, _wire.error_body(
            f"The server had an error while processing your request (mock {self.status}).",
            "server_error"))


OK = Fault(FaultKind.OK)

KEY_REJECTED = "401"  # the stats key of a refused key (see `key_rejected`)


def key_rejected(authorization: str | None) -> tuple[int, dict[str, Any]]:
    """Status and body of OpenAI's answer to a wrong key, which quotes the key presented.

    Outside the seeded plan (every request is refused, models included, as a real
    provider does), so turning it on shifts no other draw. It is what a client
    must never store, log or print: the key in an endpoint's error message."""
    presented = (authorization or "").removeprefix("Bearer ").strip()
    return 401, _wire.error_body(f"Incorrect API key provided: {presented}",
                                 "invalid_request_error", "invalid_api_key")


def _pick(u: float, rates: tuple[tuple[FaultKind, float], ...]) -> FaultKind:
    """The fault whose slice of [0, 1) holds `u`; slices are laid end to end."""
    threshold = 0.0
    for kind, rate in rates:
        threshold += rate
        if u < threshold:
            return kind
    return FaultKind.OK


class FaultPlan:
    """Decides, call by call, whether and how the mock LLM misbehaves. Thread-safe."""

    def __init__(self, settings: MockSettings | None = None) -> None:
        self.settings = settings or MockSettings()
        self._rng = random.Random(self.settings.seed)
        self._latency_rng = random.Random(f"{self.settings.seed}:latency")
        self._lock = threading.Lock()  # the loopback server draws from many threads

    def next_fault(self) -> Fault:
        s = self.settings
        with self._lock:
            u = self._rng.random()
            variant = self._rng.randrange(1_000_000)
        kind = _pick(u, ((FaultKind.RATE_LIMIT, s.rate_429), (FaultKind.SERVER_ERROR, s.rate_5xx),
                         (FaultKind.TIMEOUT, s.rate_timeout),
                         (FaultKind.MALFORMED, s.rate_malformed),
                         (FaultKind.UNKNOWN_TOOL, s.rate_unknown_tool)))
        if kind is FaultKind.OK:
            return OK
        if kind is FaultKind.RATE_LIMIT:
            return Fault(kind, 429, retry_after_s=1 + variant % 2, variant=variant)
        if kind is FaultKind.SERVER_ERROR:
            return Fault(kind, (500, 502, 503)[variant % 3], variant=variant)
        return Fault(kind, variant=variant)

    def latency_s(self) -> float:
        """Seconds to wait before answering: lognormal around the median; 0 when it is 0."""
        median_ms = self.settings.latency_median_ms
        if median_ms <= 0:
            return 0.0
        with self._lock:
            ms = self._latency_rng.lognormvariate(math.log(median_ms), self.settings.latency_sigma)
        return ms / 1000.0

    @staticmethod
    def corrupt(fault: Fault, completion: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Applies a malformed or unknown-tool fault to a good completion, in place."""
        choice = completion["choices"][0]
        message = choice["message"]
        if fault.kind is FaultKind.MALFORMED:
            calls = message.get("tool_calls")
            if calls:
                # A truncated arguments string: the call is there, its JSON is not valid.
                args = calls[0]["function"]["arguments"]
                calls[0]["function"]["arguments"] = args[: max(1, len(args) - 1)]
            else:
                text = message.get("content") or "{}"
                message["content"] = (f"Sure! Here is my answer: {text}" if fault.variant % 2
                                      else text[: max(1, len(text) // 2)])
        elif fault.kind is FaultKind.UNKNOWN_TOOL:
            offered = {(t.get("function") or {}).get("name") for t in body.get("tools") or []}
            names = [n for n in UNKNOWN_TOOL_NAMES if n not in offered] or ["delete_all_orders_2"]
            name = names[fault.variant % len(names)]
            call_id = f"call_unknown{_wire.body_digest(body)[:18]}"
            message["content"] = None
            message["tool_calls"] = [_wire.tool_call(call_id, name,
                                                     json.dumps({"confirm": True}))]
            choice["finish_reason"] = "tool_calls"
        return _wire.with_usage(completion, body)
