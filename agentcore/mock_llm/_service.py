"""The mock LLM's HTTP semantics, shared by the in-process transport and the server.

`handle` maps (method, path, body bytes) to a `Reply`: what to send and how
long to wait first. Waiting and sending are left to the caller, because the
transport awaits `asyncio.sleep` while the server's thread may simply block.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from agentcore.mock_llm import _wire
from agentcore.mock_llm.brain import MockBrain
from agentcore.mock_llm.faults import KEY_REJECTED, FaultKind, FaultPlan, key_rejected
from agentcore.settings import MockSettings

log = logging.getLogger("agentcore.mock_llm")

_JSON = {"content-type": "application/json"}
MODELS_CREATED = 1_700_000_000  # a fixed date keeps the model list byte-for-byte stable
OVERSIZE = "oversize"  # the stats key of an oversized answer (see `oversize_bytes`)
_RAMBLE = "and furthermore, as I was saying, "


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: dict[str, Any] | None  # None with `timeout`: nothing is ever sent
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    timeout: bool = False


@dataclass(slots=True)
class CallStats:
    """What the mock has seen; read by tests and benchmarks."""

    requests: int = 0  # every HTTP request
    calls: int = 0  # chat-completion calls that reached the fault plan
    faults: Counter[str] = field(default_factory=Counter)  # FaultKind value -> count

    def snapshot(self) -> dict[str, Any]:
        return {"requests": self.requests, "calls": self.calls, "faults": dict(self.faults)}


class MockService:
    def __init__(self, settings: MockSettings | None = None,
                 brain: MockBrain | None = None, *, oversize_bytes: int = 0,
                 reject_key: bool = False) -> None:
        self.settings = settings or MockSettings()
        # Faults outside the seeded plan, so enabling them shifts no other draw: when
        # set, every chat answer rambles on for this many characters after its content;
        # every request is refused with a 401 that quotes the key presented.
        self.oversize_bytes = oversize_bytes
        self.reject_key = reject_key
        self.brain = brain or MockBrain()
        self.plan = FaultPlan(self.settings)
        self.stats = CallStats()
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, raw: bytes,
               authorization: str | None = None) -> Reply:
        """`authorization` is the request's Authorization header, if it had one."""
        with self._lock:
            self.stats.requests += 1
            if self.reject_key:
                self.stats.faults[KEY_REJECTED] += 1
        if self.reject_key:
            status, body = key_rejected(authorization)
            return Reply(status, body, dict(_JSON))
        route = path.rstrip("/")
        if route.startswith("/v1/"):
            route = route[3:]  # a base URL without /v1 works as well
        if route == "/chat/completions":
            if method != "POST":
                return _error(405, f"{method} is not allowed here", "invalid_request_error")
            return self._chat(raw)
        if route == "/models" and method == "GET":
            return Reply(200, _wire.model_list(self.brain.models, MODELS_CREATED), dict(_JSON))
        if route.startswith("/models/") and method == "GET":
            name = route.removeprefix("/models/")
            if name in self.brain.models:
                return Reply(200, _wire.model_list((name,), MODELS_CREATED)["data"][0], dict(_JSON))
            return _error(404, f"The model '{name}' does not exist", "invalid_request_error",
                          "model_not_found")
        return _error(404, f"Unknown request URL: {method} {path}", "invalid_request_error",
                      "unknown_url")

    def _chat(self, raw: bytes) -> Reply:
        try:
            body = json.loads(raw or b"")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return _error(400, f"We could not parse the JSON body of your request ({exc})",
                          "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is a required property", "invalid_request_error",
                          param="messages")
        if body.get("stream"):
            return _error(400, "the mock LLM does not stream; call without stream=True",
                          "invalid_request_error", param="stream")
        fault = self.plan.next_fault()
        delay = self.plan.latency_s()
        with self._lock:
            self.stats.calls += 1
            if fault.kind is not FaultKind.OK:
                self.stats.faults[fault.kind.value] += 1
        if fault.kind is not FaultKind.OK:
            log.debug("injecting fault %s", fault.kind.value)
        if fault.kind is FaultKind.TIMEOUT:
            return Reply(0, None, delay_s=delay, timeout=True)
        if fault.is_http_error:
            status, headers, error = fault.error_response()
            return Reply(status, error, headers | _JSON, delay_s=delay)
        try:
            completion = self.brain.respond(body)
        except Exception as exc:  # a bug in the mock must not look like a hung endpoint
            log.exception("the mock brain failed")
            return _error(500, f"mock brain failed: {exc!r}", "server_error")
        if fault.kind is not FaultKind.OK:
            completion = self.plan.corrupt(fault, completion, body)
        if self.oversize_bytes > 0:
            completion = self._ramble(completion, body)
        headers = _JSON | {"x-request-id": "req_" + completion["id"].removeprefix("chatcmpl-")}
        return Reply(200, completion, headers, delay_s=delay)

    def _ramble(self, completion: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        message = completion["choices"][0]["message"]
        filler = _RAMBLE * (self.oversize_bytes // len(_RAMBLE) + 1)
        message["content"] = (message.get("content") or "") + filler[: self.oversize_bytes]
        completion["choices"][0]["finish_reason"] = "length"
        with self._lock:
            self.stats.faults[OVERSIZE] += 1
        return _wire.with_usage(completion, body)


def _error(status: int, message: str, error_type: str, code: str | None = None,
           param: str | None = None) -> Reply:
    return Reply(status, _wire.error_body(message, error_type, code, param), dict(_JSON))
