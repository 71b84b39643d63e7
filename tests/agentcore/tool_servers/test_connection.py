"""A tool server's connection, against real MCP servers over stdio and Streamable HTTP:
what an operator sees (state, detail) and what a call gets back, when servers answer,
fail, hang, die and come back."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import psutil
import pytest

from agentcore.errors import ToolError, ToolServerError
from agentcore.tool_servers import ServerState, ToolServerConfig

from .conftest import ECHO, HANG, HttpServer, free_port, stdio_config

FAST = {"first_retry_s": 0.05, "max_retry_s": 0.2}


@pytest.fixture(params=["stdio", "http"])
def echo_config(request: pytest.FixtureRequest) -> Callable[..., ToolServerConfig]:
    """The echo server's config, over each transport in turn."""
    if request.param == "stdio":
        return lambda **overrides: stdio_config(ECHO, **overrides)
    http: HttpServer = request.getfixturevalue("echo_http")
    return http.config


async def test_discovers_the_servers_tools(echo_config: Any, tool_server: Any) -> None:
    server, watch = tool_server(echo_config())
    await server.start()
    assert server.state is ServerState.READY, server.detail
    assert server.detail == ""
    assert {"echo", "echo_meta", "slow", "fail", "grow"} <= {t.name for t in server.tools}
    echo = next(t for t in server.tools if t.name == "echo")
    assert echo.description == "Say the text back."
    assert "text" in echo.input_schema["properties"]
    assert watch.calls >= 1 and server.since is not None


async def test_a_call_answers_and_carries_its_meta_to_the_server(echo_config: Any,
                                                                  tool_server: Any) -> None:
    server, _ = tool_server(echo_config())
    await server.start()
    meta = {"idempotency_key": "req-7", "request_id": "req-7", "customer_id": 42,
            "approved": True, "override": {"operator": "ana", "reason": "goodwill"}}
    result = await server.call("echo_meta", {}, meta=meta, timeout_s=10)
    assert not result.is_error
    assert result.structured == {"meta": meta}
    # The SDK serialises requests without None values: a null in `_meta` arrives absent.
    result = await server.call("echo_meta", {}, meta={**meta, "override": None}, timeout_s=10)
    assert result.structured == {"meta": {k: v for k, v in meta.items() if k != "override"}}
    said = await server.call("echo", {"text": "hello"}, meta={}, timeout_s=10)
    assert said.text == "hello"


async def test_a_slow_tool_times_out_and_the_session_still_works(echo_config: Any,
                                                                  tool_server: Any) -> None:
    server, _ = tool_server(echo_config())
    await server.start()
    with pytest.raises(ToolServerError, match=r"slow timed out after 0\.3 s"):
        await server.call("slow", {"seconds": 30}, meta={}, timeout_s=0.3)
    assert server.state is ServerState.READY
    assert (await server.call("echo", {"text": "still here"}, meta={},
                              timeout_s=10)).text == "still here"


async def test_an_erroring_tool_is_an_error_result_with_its_text(echo_config: Any,
                                                                  tool_server: Any) -> None:
    server, _ = tool_server(echo_config())
    await server.start()
    result = await server.call("fail", {"message": "no such order 12"}, meta={}, timeout_s=10)
    assert result.is_error
    assert "no such order 12" in result.text
    assert server.state is ServerState.READY


async def test_calls_from_many_tasks_share_the_one_session(echo_config: Any,
                                                          tool_server: Any) -> None:
    server, _ = tool_server(echo_config())
    await server.start()
    # One slow call does not hold up the others: they run concurrently.
    slow = asyncio.create_task(server.call("slow", {"seconds": 1}, meta={}, timeout_s=20))
    quick = await asyncio.gather(*(server.call("echo", {"text": str(i)}, meta={}, timeout_s=20)
                                   for i in range(8)))
    assert [r.text for r in quick] == [str(i) for i in range(8)]
    assert not slow.done()
    assert (await slow).text == "done"
    assert server.reconnects == 0


async def test_a_changed_tool_list_is_relisted_and_announced(echo_config: Any,
                                                             tool_server: Any) -> None:
    server, watch = tool_server(echo_config())
    await server.start()
    assert "extra" not in {t.name for t in server.tools}
    seen = watch.calls
    await server.call("grow", {"name": "extra"}, meta={}, timeout_s=10)
    await watch.until(lambda: "extra" in {t.name for t in server.tools})
    assert watch.calls > seen
    assert (await server.call("extra", {}, meta={}, timeout_s=10)).text == "added"


async def test_a_stdio_server_killed_mid_run_is_restarted(tool_server: Any) -> None:
    server, watch = tool_server(stdio_config(ECHO), **FAST)
    await server.start()
    first = int((await server.call("pid", {}, meta={}, timeout_s=10)).text)
    os.kill(first, signal.SIGKILL)
    await watch.until(lambda: server.reconnects == 1 and server.state is ServerState.READY)
    assert watch.states[-2:] == [ServerState.RECONNECTING, ServerState.READY]
    assert "exited" in server.detail or server.detail == ""
    second = int((await server.call("pid", {}, meta={}, timeout_s=10)).text)
    assert second != first


async def test_a_call_in_flight_when_the_server_dies_fails_at_once(tool_server: Any) -> None:
    server, watch = tool_server(stdio_config(ECHO), **FAST)
    await server.start()
    pid = int((await server.call("pid", {}, meta={}, timeout_s=10)).text)
    in_flight = asyncio.create_task(server.call("slow", {"seconds": 60}, meta={}, timeout_s=60))
    await asyncio.sleep(0)  # let it be sent
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ToolServerError, match="lost"):
        await in_flight
    await watch.until(lambda: server.state is ServerState.READY and server.reconnects == 1)


async def test_a_call_in_flight_when_an_http_server_dies_fails_at_once(
        echo_http: HttpServer, tool_server: Any) -> None:
    server, watch = tool_server(echo_http.config(), **FAST)
    await server.start()
    pid = int((await server.call("pid", {}, meta={}, timeout_s=10)).text)
    in_flight = asyncio.create_task(server.call("slow", {"seconds": 60}, meta={}, timeout_s=60))
    await asyncio.sleep(0)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ToolServerError, match="lost"):
        await in_flight
    await watch.until(lambda: server.state is ServerState.RECONNECTING)


async def test_an_idle_http_server_that_died_shows_as_reconnecting(
        echo_http: HttpServer, tool_server: Any) -> None:
    # No call needed: the idle connection's ping finds it gone.
    server, watch = tool_server(echo_http.config(), ping_interval_s=0.1, **FAST)
    await server.start()
    echo_http.kill()
    await watch.until(lambda: server.state is ServerState.RECONNECTING)
    assert "connection refused" in server.detail
    echo_http.start()
    await watch.until(lambda: server.state is ServerState.READY)
    assert server.reconnects == 1


async def test_an_http_server_restarted_on_its_port_gets_a_new_session(
        echo_http: HttpServer, tool_server: Any) -> None:
    server, _ = tool_server(echo_http.config(), **FAST)
    await server.start()
    assert (await server.call("echo", {"text": "before"}, meta={}, timeout_s=10)).text == "before"
    echo_http.kill()
    echo_http.start()
    # The restarted server does not know our session (HTTP 404): a new one, not a failure.
    assert (await server.call("echo", {"text": "after"}, meta={}, timeout_s=20)).text == "after"
    assert server.state is ServerState.READY
    assert server.reconnects == 1


async def test_an_http_server_down_then_up_is_reconnecting_then_ready(
        echo_http: HttpServer, tool_server: Any) -> None:
    server, watch = tool_server(echo_http.config(), **FAST)
    await server.start()
    echo_http.kill()
    with pytest.raises(ToolServerError):
        await server.call("echo", {"text": "anyone?"}, meta={}, timeout_s=10)
    await watch.until(lambda: server.state is ServerState.RECONNECTING)
    assert "connection refused" in server.detail
    with pytest.raises(ToolServerError, match="reconnecting: connection refused"):
        await server.call("echo", {"text": "now?"}, meta={}, timeout_s=10)
    echo_http.start()
    await watch.until(lambda: server.state is ServerState.READY)
    assert server.reconnects == 1
    assert (await server.call("echo", {"text": "back"}, meta={}, timeout_s=10)).text == "back"


async def test_a_server_that_hangs_on_start_fails_within_the_start_timeout(
        tool_server: Any) -> None:
    server, _ = tool_server(stdio_config(HANG, name="hang", start_timeout_s=0.5))
    await server.start()
    assert server.state is ServerState.FAILED
    assert server.detail == "did not answer within 0.5 s of starting"
    with pytest.raises(ToolServerError, match=r"'hang' is failed: did not answer within 0\.5 s"):
        await server.call("echo", {"text": "x"}, meta={}, timeout_s=1)


async def test_a_command_that_does_not_exist(tool_server: Any) -> None:
    server, _ = tool_server(ToolServerConfig(name="nope", command="no-such-mcp-server-xyz"))
    await server.start()
    assert server.state is ServerState.FAILED
    assert server.detail == "command not found: no-such-mcp-server-xyz"


async def test_a_server_that_exits_at_once_says_what_it_printed(tool_server: Any) -> None:
    config = ToolServerConfig(name="crash", command=sys.executable,
                              args=["-c", "import sys; sys.exit('missing DATABASE_URL')"])
    server, _ = tool_server(config)
    await server.start()
    assert server.state is ServerState.FAILED
    assert "missing DATABASE_URL" in server.detail


async def test_an_http_url_where_nothing_listens(tool_server: Any) -> None:
    port = free_port()
    server, _ = tool_server(ToolServerConfig(name="gone", url=f"http://127.0.0.1:{port}/mcp"))
    await server.start()
    assert server.state is ServerState.FAILED
    assert server.detail == f"connection refused: nothing answers at http://127.0.0.1:{port}/mcp"


async def test_retries_back_off_and_a_server_that_comes_up_later_becomes_ready(
        tool_server: Any) -> None:
    http = HttpServer(ECHO, free_port())
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        if len(delays) == 5:
            http.start()
        await asyncio.sleep(0)

    server, watch = tool_server(http.config(), sleep=sleep, first_retry_s=1.0, max_retry_s=4.0)
    try:
        await server.start()
        assert server.state is ServerState.FAILED
        await watch.until(lambda: server.state is ServerState.READY)
    finally:
        await server.close()
        http.kill()
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert server.reconnects == 0  # it had never been ready: a first connection


async def test_a_keyring_reference_is_resolved_through_the_secret_callable(
        tool_server: Any) -> None:
    config = stdio_config(ECHO, env={"SHOP_TOKEN": "keyring:shop-token"})
    server, _ = tool_server(config, secrets={"shop-token": "s3cret-value"})
    await server.start()
    assert server.state is ServerState.READY, server.detail
    assert (await server.call("env", {"name": "SHOP_TOKEN"}, meta={},
                              timeout_s=10)).text == "s3cret-value"


async def test_a_header_from_the_keyring_reaches_an_http_server(tool_server: Any) -> None:
    http = HttpServer(ECHO, free_port(), "--token", "tok-123")
    http.start()
    try:
        config = http.config(headers={"Authorization": "keyring:echo-auth"})
        server, _ = tool_server(config, secrets={"echo-auth": "Bearer tok-123"})
        await server.start()
        assert server.state is ServerState.READY, server.detail
        said = await server.call("header", {"name": "Authorization"}, meta={}, timeout_s=10)
        assert said.text == "Bearer tok-123"
        await server.close()

        wrong, _ = tool_server(config, secrets={"echo-auth": "Bearer wrong-secret"})
        await wrong.start()
        assert wrong.state is ServerState.FAILED
        assert wrong.detail == f"HTTP 401 from {http.url}"
    finally:
        http.kill()


async def test_a_secret_never_reaches_the_detail_or_the_log(
        tool_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    # A server that prints its token as it dies: the operator sees what it said, not
    # the token.
    config = ToolServerConfig(name="leaky", command=sys.executable, args=[
        "-c", "import os, sys; sys.exit('bad token ' + os.environ['SHOP_TOKEN'])"],
        env={"SHOP_TOKEN": "keyring:shop-token"})
    server, _ = tool_server(config, secrets={"shop-token": "s3cret-value"})
    with caplog.at_level(logging.DEBUG):
        await server.start()
    assert server.state is ServerState.FAILED
    assert "bad token ***" in server.detail
    assert "s3cret-value" not in server.detail
    assert "s3cret-value" not in caplog.text


async def test_a_missing_keyring_entry_fails_naming_the_entry_not_the_secret(
        tool_server: Any) -> None:
    config = stdio_config(ECHO, env={"SHOP_TOKEN": "keyring:shop-token"})
    server, _ = tool_server(config, secrets={})
    await server.start()
    assert server.state is ServerState.FAILED
    assert "keyring entry 'shop-token'" in server.detail
    assert "missing" in server.detail


async def test_close_terminates_the_stdio_child(tool_server: Any) -> None:
    server, _ = tool_server(stdio_config(ECHO))
    await server.start()
    pid = int((await server.call("pid", {}, meta={}, timeout_s=10)).text)
    await server.close()
    assert not psutil.pid_exists(pid)  # gone, and reaped: not even a zombie
    with pytest.raises(ToolServerError):
        await server.call("echo", {"text": "x"}, meta={}, timeout_s=1)


async def test_close_while_starting_returns_promptly(tool_server: Any) -> None:
    server, _ = tool_server(stdio_config(HANG, name="hang", start_timeout_s=60))
    starting = asyncio.create_task(server.start())
    await asyncio.sleep(0)
    await server.close()
    await starting
    assert server.state is ServerState.DISABLED


def test_the_error_is_a_tool_error() -> None:
    # The agent loop catches ToolError: a server that did not answer ends the turn
    # the same way a failing tool does.
    assert issubclass(ToolServerError, ToolError)
