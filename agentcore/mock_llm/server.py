"""The mock LLM on a loopback port, for out-of-process clients and end-to-end tests.

    with MockServer(MockSettings(rate_5xx=0.2)) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="mock")

One thread per connection (stdlib ThreadingHTTPServer), so an injected timeout
sleeping in one request never blocks another. Sleeps wait on a shared event,
which `stop()` sets: shutting down never waits for a simulated timeout.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from agentcore.mock_llm._service import CallStats, MockService
from agentcore.mock_llm.brain import MockBrain
from agentcore.settings import MockSettings

log = logging.getLogger("agentcore.mock_llm")

HOST = "127.0.0.1"  # loopback only: the mock has no auth and must not be reachable


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    service: MockService
    stopping: threading.Event
    timeout_sleep_s: float

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up mid-response is normal here (it timed out on purpose).
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like a real endpoint behind the SDK's pool
    timeout = 120  # an idle keep-alive connection frees its thread eventually

    def do_GET(self) -> None:
        self._serve(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._serve(self.rfile.read(length) if length > 0 else b"")

    def _serve(self, raw: bytes) -> None:
        server = self.server
        reply = server.service.handle(self.command, urlsplit(self.path).path, raw,
                                      self.headers.get("Authorization"))
        if reply.timeout:
            # Hold the request past the client's timeout, then hang up without a reply.
            server.stopping.wait(server.timeout_sleep_s)
            self.close_connection = True
            return
        if reply.delay_s > 0:
            server.stopping.wait(reply.delay_s)
        data = json.dumps(reply.body).encode("utf-8")
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up first; nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:  # the stdlib's signature
        log.debug("%s %s", self.address_string(), format % args)


class MockServer:
    """The mock LLM served on 127.0.0.1; `port=0` lets the OS pick a free port."""

    def __init__(self, settings: MockSettings | None = None, *, brain: MockBrain | None = None,
                 port: int = 0, timeout_sleep_s: float = 30.0, oversize_bytes: int = 0,
                 reject_key: bool = False) -> None:
        self.service = MockService(settings, brain, oversize_bytes=oversize_bytes,
                                   reject_key=reject_key)
        self._requested_port = port
        self._timeout_sleep_s = timeout_sleep_s
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> CallStats:
        return self.service.stats

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the mock server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def start(self) -> MockServer:
        if self._httpd is not None:
            return self
        httpd = _Server((HOST, self._requested_port), _Handler)
        httpd.service = self.service
        httpd.stopping = threading.Event()
        httpd.timeout_sleep_s = self._timeout_sleep_s
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"mock-llm:{self.port}", daemon=True)
        self._thread.start()
        log.info("mock LLM listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.stopping.set()  # wakes every simulated delay and timeout at once
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
