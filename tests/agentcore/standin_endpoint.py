"""A chat-completions endpoint on a loopback port that tells what a client did to it.

The scripted LLM answers through the SDK's transport seam and cannot see a
connection close; this one is real HTTP on a real socket, on the test's own event
loop, so a test can tell when a client abandoned a call, how many calls were in
flight at once, and which path and key a request came with. (`tests/standin_llm.py`
is the threaded one for subprocess tests: models, keys and slots.) Each request takes the next step:
"ok" (a short final answer), "hang" (no answer until the client hangs up), or
an HTTP status. A path outside /v1 is a 404, as on any OpenAI-compatible server.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

OK_BODY = json.dumps({"intent": "technical", "answer": "Reinstall it.", "confidence": 0.9,
                      "handoff": None})


@dataclass
class Seen:
    path: str
    authorization: str
    body: dict[str, Any]
    arrived: float
    hung_up: float | None = None  # when the client closed the connection, for "hang"


@dataclass
class StandinEndpoint:
    steps: list[Any]
    delay_s: float = 0.0  # before every answer
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> StandinEndpoint:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def root(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        path = lines[0].split(" ")[1]
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        seen = Seen(path, headers.get("authorization", ""),
                    json.loads(body) if body else {}, time.monotonic())
        self.seen.append(seen)
        # A server answers only under /v1: a base URL without it finds nothing.
        step: Any = 404
        if path.startswith("/v1/"):
            step = self.steps.pop(0) if self.steps else "ok"
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if step == "hang":
                await reader.read()  # returns at EOF: the client hung up
                seen.hung_up = time.monotonic()
                return False
            await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if step == "ok":
            status, payload = 200, _completion(seen.body)
        else:
            status, payload = step, {"error": {"message": f"stand-in {step}", "type": "x"}}
        data = json.dumps(payload).encode()
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                     f"content-length: {len(data)}\r\n\r\n".encode() + data)
        await writer.drain()
        return True


def _completion(body: dict[str, Any]) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "created": 0,
            "model": body.get("model", "m"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": OK_BODY}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
