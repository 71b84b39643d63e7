"""A librarian model on a loopback port: an OpenAI-compatible chat endpoint that
speaks the library domain's tools (examples/library_loans), as the mock LLM speaks
the demo shop's. Deterministic and stateless: each answer is read off the
conversation so far, so any number of engines and processes may share one.

- A classify call (its system prompt starts "Classify") names an intent by keyword.
- A decide turn with tools on offer and no tool called yet calls one tool named by
  the message: `waive $X ... loan N` -> waive_fine, `renew ... loan N` -> renew_loan,
  `loan N` -> get_loan. It waives what is asked: the write's policy is the guard.
- Any other turn gives the final JSON answer from the tool results (a handoff when
  a tool failed).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_LOAN = re.compile(r"\bloan (?:#|no\.? |number )?(\d{4})\b", re.IGNORECASE)
_DOLLARS = re.compile(r"\$(\d+(?:\.\d{1,2})?)")
_INTENTS = (("waive", "fine_waiver"), ("fine", "fine_waiver"), ("renew", "renewal"),
            ("librarian", "human_request"), ("loan", "loan_status"),
            ("hours", "opening_hours"), ("open", "opening_hours"))


def intent_of(text: str) -> str:
    lowered = text.lower()
    return next((intent for word, intent in _INTENTS if word in lowered), "other")


def _tool_call(index: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"call_{index}_{name}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}


def _calls_for(text: str) -> list[dict[str, Any]]:
    loan = _LOAN.search(text)
    if loan is None:
        return []
    loan_id = int(loan.group(1))
    lowered = text.lower()
    amount = _DOLLARS.search(text)
    if "waive" in lowered and amount is not None:
        return [_tool_call(0, "waive_fine", {"loan_id": loan_id,
                                             "amount": float(amount.group(1))})]
    if "renew" in lowered:
        return [_tool_call(0, "renew_loan", {"loan_id": loan_id})]
    return [_tool_call(0, "get_loan", {"loan_id": loan_id})]


def _said(result: dict[str, Any]) -> str:
    if "error" in result:
        return ""
    if result.get("status") == "renewed":
        return f"I've renewed loan {result['loan_id']}: it is now due on {result['due_on']}."
    if result.get("status") == "waived":
        return (f"I've waived ${result['waived_cents'] / 100:.2f} of the fine on loan "
                f"{result['loan_id']}.")
    if "due_on" in result:
        return (f"Loan {result['loan_id']} ({result['title']}) is due on {result['due_on']}; "
                f"the fine on it is ${result['fine_cents'] / 100:.2f}.")
    return ""


def _final(intent: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [r["error"] for r in results if "error" in r]
    if failed:
        return {"intent": intent, "answer": "A librarian will look at this for you.",
                "confidence": 0.3, "handoff": f"a tool failed: {failed[0]}"}
    said = " ".join(s for s in map(_said, results) if s)
    return {"intent": intent, "confidence": 0.9, "handoff": None,
            "answer": said or "I can help with loans, renewals, fines and opening hours."}


@dataclass
class Librarian:
    base_url: str = ""  # set once serving: http://127.0.0.1:PORT/v1
    calls: list[dict[str, Any]] = field(default_factory=list)  # every chat request body
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def tool_names_offered(self) -> set[str]:
        return {t["function"]["name"] for body in self.calls for t in body.get("tools") or ()}

    def respond(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(body)
        messages = body["messages"]
        system = str(messages[0].get("content") or "")
        text = next(str(m["content"]) for m in messages if m["role"] == "user")
        if system.startswith("Classify"):
            content = json.dumps({"intent": intent_of(text), "confidence": 0.9})
            return self._completion(body, {"role": "assistant", "content": content})
        called = any(m["role"] == "assistant" and m.get("tool_calls") for m in messages)
        if body.get("tools") and not called and (calls := _calls_for(text)):
            return self._completion(body, {"role": "assistant", "content": None,
                                           "tool_calls": calls})
        results = [json.loads(m["content"]) for m in messages if m["role"] == "tool"]
        content = json.dumps(_final(intent_of(text), results))
        return self._completion(body, {"role": "assistant", "content": content})

    @staticmethod
    def _completion(body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        return {"id": f"chatcmpl-librarian-{len(body['messages'])}",
                "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason":
                             "tool_calls" if message.get("tool_calls") else "stop"}],
                "usage": {"prompt_tokens": 300, "completion_tokens": 40,
                          "total_tokens": 340}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?", 1)[0] != "/v1/chat/completions":
            self._reply(404, {"detail": "Not Found"})
            return
        self._reply(200, self.server.librarian.respond(json.loads(body)))

    def do_GET(self) -> None:
        self._reply(404, {"detail": "Not Found"})

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    librarian: Librarian


@contextmanager
def librarian_llm() -> Iterator[Librarian]:
    """A `Librarian` serving on 127.0.0.1 until the block ends."""
    librarian = Librarian()
    server = _Server(("127.0.0.1", 0), _Handler)
    server.librarian = librarian
    librarian.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield librarian
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
