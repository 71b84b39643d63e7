"""Real MCP servers for the tool-server tests, over stdio and Streamable HTTP.

Fixtures other tests may use:
- `echo_stdio(**overrides) -> ToolServerConfig`: the echo server (servers/echo_server.py)
  as a stdio command;
- `echo_http` -> `HttpServer`: the echo server listening on a free loopback port
  (`.config(**overrides)`, `.kill()`, `.restart()` on the same port);
- `tool_server(config, secrets=...) -> (ToolServer, Watch)`: a started-on-demand
  ToolServer, closed at the end; `Watch` wakes on its `on_change` so a test waits for a
  state (`await watch.until(lambda: ...)`), never for a time.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcore.tool_servers import ToolServerConfig

SERVERS = Path(__file__).parent / "servers"
ECHO = SERVERS / "echo_server.py"
HANG = SERVERS / "hang_server.py"
# A bound on waiting for something that should happen, so a broken test fails, not hangs.
PATIENCE_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stdio_config(script: Path = ECHO, *, name: str = "echo", **overrides: Any) -> ToolServerConfig:
    return ToolServerConfig(name=name, command=sys.executable, args=[str(script)], **overrides)


class HttpServer:
    """A server script run as a subprocess on a loopback port."""

    def __init__(self, script: Path, port: int, *extra: str) -> None:
        self.script = script
        self.extra = extra
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._proc = subprocess.Popen([sys.executable, str(self.script), "--http", str(self.port),
                                       *self.extra],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Nothing tells us the port is bound but trying it: bounded polling.
        deadline = time.monotonic() + PATIENCE_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.script.name} exited with {self._proc.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.script.name} did not listen on {self.port}")

    def kill(self) -> None:
        """SIGKILL: no goodbye, no session termination."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def config(self, *, name: str = "echo", **overrides: Any) -> ToolServerConfig:
        return ToolServerConfig(name=name, url=self.url, **overrides)


class Watch:
    """An `on_change` callback a test can wait on."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.calls = 0
        self.server: Any = None
        self.states: list[Any] = []  # the server's state at each call, in order

    def __call__(self) -> None:
        self.calls += 1
        if self.server is not None:
            self.states.append(self.server.state)
        self._event.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(PATIENCE_S):
            while not condition():
                self._event.clear()
                await self._event.wait()


@pytest.fixture
def echo_stdio() -> Callable[..., ToolServerConfig]:
    return lambda **overrides: stdio_config(ECHO, **overrides)


@pytest.fixture
def echo_http() -> Iterator[HttpServer]:
    server = HttpServer(ECHO, free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
async def tool_server() -> AsyncIterator[Callable[..., Any]]:
    from agentcore.tool_servers._connection import ToolServer

    made: list[ToolServer] = []

    def make(config: ToolServerConfig, *, secrets: dict[str, str] | None = None,
             **kwargs: Any) -> tuple[ToolServer, Watch]:
        watch = Watch()
        server = ToolServer(config, secret=(secrets or {}).get, on_change=watch, **kwargs)
        watch.server = server
        made.append(server)
        return server, watch

    try:
        yield make
    finally:
        for server in made:
            await server.close()
