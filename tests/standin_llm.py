"""A tiny OpenAI-compatible endpoint on a loopback port, over real HTTP, for what the
mock LLM does not do: serve only under /v1 (so a base URL without it gets bare 404s,
as from llama-cpp-python's server), want a key, report its slots (llama.cpp's
`GET /props`). It lists one model, chats with one fixed word, and records what it
was asked."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "tiny-local"


@dataclass
class StandIn:
    key: str | None = None  # the key it wants; None: it wants none
    public_models: bool = False  # lists its models to anyone, as llama.cpp's server does
    slots: int | None = None  # what GET /props reports as total_slots; None: no /props
    models: tuple[str, ...] = (MODEL,)
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # method, path, auth
    chat_models: list[str] = field(default_factory=list)  # the model of each chat call
    base_url: str = ""  # set once serving: http://127.0.0.1:PORT/v1

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def answer(self, method: str, path: str, auth: str, body: bytes
               ) -> tuple[int, dict[str, Any]]:
        self.seen.append((method, path, auth))
        if path == "/props" and self.slots is not None:
            return 200, {"total_slots": self.slots, "default_generation_settings": {}}
        if not path.startswith("/v1/"):
            return 404, {"detail": "Not Found"}  # FastAPI's bare 404, no error code
        route = path.removeprefix("/v1")
        listing = method == "GET" and route.startswith("/models")
        if self.key is not None and auth != f"Bearer {self.key}" and not (
                listing and self.public_models):
            return 401, {"error": {"message": "Invalid API Key", "type": "invalid_request_error",
                                   "code": "invalid_api_key"}}
        if method == "GET" and route == "/models":
            return 200, {"object": "list", "data": [_model(m) for m in self.models]}
        if method == "GET" and route.startswith("/models/"):
            name = route.removeprefix("/models/")
            if name in self.models:
                return 200, _model(name)
            return 404, {"error": {"message": f"The model '{name}' does not exist",
                                   "type": "invalid_request_error", "code": "model_not_found"}}
        if method == "POST" and route == "/chat/completions":
            request = json.loads(body)
            self.chat_models.append(request["model"])
            return 200, {
                "id": "chatcmpl-standin", "object": "chat.completion", "created": 0,
                "model": request["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "Hello."}}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}
        return 404, {"detail": "Not Found"}


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "standin"}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, reply = self.server.standin.answer(
            self.command, self.path.split("?", 1)[0], self.headers.get("Authorization", ""),
            body)
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: StandIn


@contextmanager
def standin_llm(**options: Any) -> Iterator[StandIn]:
    """A `StandIn(**options)` serving on 127.0.0.1 until the block ends."""
    standin = StandIn(**options)
    server = _Server(("127.0.0.1", 0), _Handler)
    server.standin = standin
    standin.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
