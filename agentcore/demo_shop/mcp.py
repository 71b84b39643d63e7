"""The demo shop's tools served over MCP, and the settings that use them.

`python -m agentcore.demo_shop.mcp [--shop PATH] [--today ISO] [--latency-ms N]
[--http PORT]` serves the shop's 8 tools with the official SDK's `MCPServer`, over
stdio (the default) or Streamable HTTP on 127.0.0.1 (`--http 0` picks a free port;
the URL is printed on stderr once the port listens). It is what an operator's own
backend would be: a separate process the engine reaches only through MCP.

The tools are the in-process ones, called through the same `ToolRegistry`: the same
names, descriptions and argument schemas (the registry's own, so they cannot drift),
the same checks (no customer, no customer's records; another customer's order is
refused) and the same results, as structuredContent. Who a call is for travels in
the request's `_meta` (what the engine sends, api.md): `customer_id`,
`idempotency_key`/`request_id` (the shop's writes act once per request id, across
processes: the idempotency row is written in the write's own transaction),
`approved`, `override` {operator, reason}. A refusal under the shop's policy comes
back as our convention: `isError` with structuredContent `{"refused": true,
"limits": ..., "offer": ...}`; "no such order of this customer's" carries
`{"not_found": true}` so a client can tell an answer from a failing backend.

Importing this module does not import the SDK: `server_config` is read by the CLI
and the console, which must start without it.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from agentcore.demo_shop.tools import PUBLIC_TOOLS, WRITE_POLICIES, shop_registry
from agentcore.errors import RecordNotFound, ToolError, WriteRefused
from agentcore.models import PolicyOverride
from agentcore.tool_servers import ToolServerConfig, WritePolicy
from agentcore.tools import Tool, ToolContext, ToolRegistry

if TYPE_CHECKING:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp_types import CallToolResult

    from agentcore.demo_shop.repository import Shop
    from agentcore.settings import Settings

log = logging.getLogger("agentcore.demo_shop.mcp")

SERVER_NAME = "shop"
MODULE = "agentcore.demo_shop.mcp"
HOST = "127.0.0.1"  # loopback only: the shop's data never listens on a network
MCP_PATH = "/mcp"
URL_LINE = "agentcore.demo_shop.mcp serving "  # stderr, then the URL: what a launcher waits for
# The engine bounds each call itself (the server's timeout_s); this only stops a call
# nobody waits for any more from running forever.
_SERVER_SIDE_TIMEOUT_S = 600.0
# A write is destructive when what it does cannot be taken back by another call: money
# leaving, an order cancelled. A reset link is additive (a mail, a timestamp).
_DESTRUCTIVE = {"issue_refund": True, "cancel_order": True, "send_password_reset": False}


# -- the caller's context, from the request's _meta ---------------------------------


class _MetaError(ToolError):
    """The request's `_meta` does not say who the call is for in a form we read."""


def tool_context(meta: dict[str, Any] | None, *, writes: bool, call_id: str) -> ToolContext:
    """Who a call is for, from `_meta`. A write needs an idempotency key (the engine's
    request id): without one a retry could act twice. A read without one gets the
    MCP request's id (reads record nothing)."""
    meta = meta or {}
    customer = meta.get("customer_id")
    if customer is not None and (type(customer) is not int or customer < 1):
        raise _MetaError("_meta.customer_id must be a positive integer or null")
    # The shop keys its own writes by request and target (one refund per order per
    # request), so the request's id is what it reads; the per-write key stands in.
    key = meta.get("request_id") or meta.get("idempotency_key")
    if key is not None and (not isinstance(key, str) or not 0 < len(key) <= 200):
        raise _MetaError("_meta.idempotency_key must be text of 1 to 200 characters")
    # Without a customer the registry refuses every write first, in its own words.
    if key is None and writes and customer is not None:
        raise _MetaError("a write needs _meta.idempotency_key (the request's id), so that a "
                        "retry never acts twice")
    approved = meta.get("approved", False)
    if not isinstance(approved, bool):
        raise _MetaError("_meta.approved must be true or false")
    return ToolContext(key or f"mcp:{call_id}", customer, _override(meta.get("override")),
                       approved)


def _override(raw: Any) -> PolicyOverride | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(
            isinstance(raw.get(k), str) and raw[k].strip() for k in ("operator", "reason")):
        raise _MetaError("_meta.override must be {\"operator\": ..., \"reason\": ...}")
    return PolicyOverride(raw["operator"], raw["reason"])


# -- results -------------------------------------------------------------------------


def as_json(result: dict[str, Any]) -> dict[str, Any]:
    """A tool's result as it reaches the prompt in process (`json.dumps(default=str)`),
    so the engine sees the same values either way."""
    data: dict[str, Any] = json.loads(json.dumps(result, default=str))
    return data


def _result(data: dict[str, Any]) -> CallToolResult:
    from mcp_types import CallToolResult, TextContent

    return CallToolResult(content=[TextContent(type="text", text=json.dumps(data))],
                          structured_content=data)


def _error(exc: ToolError) -> CallToolResult:
    from mcp_types import CallToolResult, TextContent

    structured: dict[str, Any] | None = None
    if isinstance(exc, WriteRefused):
        structured = {"refused": True, "limits": as_json(exc.limits),
                      "offer": None if exc.offer is None else as_json(exc.offer)}
    elif isinstance(exc, RecordNotFound):
        structured = {"not_found": True}
    return CallToolResult(content=[TextContent(type="text", text=str(exc))],
                          structured_content=structured, is_error=True)


# -- the server ----------------------------------------------------------------------


def _sdk_tool(tool: Tool, registry: ToolRegistry) -> Any:
    """One shop tool as the SDK's tool: the registry's own schema, the arguments
    validated by the registry's own model, run through the registry (its checks,
    redaction and timeout)."""
    from mcp.server.mcpserver.tools.base import Tool as SdkTool
    from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
    from mcp_types import ToolAnnotations

    class _AsGiven(FuncMetadata):
        """Hands the arguments over as the client sent them: `Tool.parse` validates them
        in `call`, so a bad argument is refused with the in-process tool's own words."""

        def validate_arguments(self, arguments_to_validate: dict[str, Any]) -> dict[str, Any]:
            return {"arguments": arguments_to_validate}


    async def call(context: Context, arguments: dict[str, Any]) -> CallToolResult:
        meta = context.request_context.meta
        try:
            ctx = tool_context(dict(meta) if meta else None, writes=tool.writes,
                               call_id=context.request_id)
            parsed = tool.parse(json.dumps(arguments))
            result = await registry.call(tool.name, parsed, ctx, _SERVER_SIDE_TIMEOUT_S)
        except ToolError as exc:
            # Returned, not raised: the SDK would prefix "Error executing tool ...", and
            # the engine puts a tool's error in the prompt as the in-process tool wrote it.
            return _error(exc)
        return _result(as_json(result))

    if tool.writes:
        annotations = ToolAnnotations(read_only_hint=False, idempotent_hint=True,
                                      destructive_hint=_DESTRUCTIVE.get(tool.name, True),
                                      open_world_hint=False)
    else:
        annotations = ToolAnnotations(read_only_hint=True, idempotent_hint=True,
                                      destructive_hint=False, open_world_hint=False)
    return SdkTool(fn=call, name=tool.name, description=tool.description,
                   parameters=tool.parameters,
                   fn_metadata=_AsGiven(arg_model=ArgModelBase), is_async=True,
                   context_kwarg="context", annotations=annotations)


def build_server(shop: Shop, latency_s: float = 0.0) -> MCPServer[Any]:
    """The MCP server of the shop's tools over `shop`."""
    from mcp.server.mcpserver import MCPServer

    registry = shop_registry(shop, latency_s)
    tools = [_sdk_tool(registry.get(name), registry) for name in registry.names]
    return MCPServer(SERVER_NAME, title="Demo shop", instructions=(
        "The demo shop's orders, payments, refunds and accounts. Say who the call is for "
        "in _meta (customer_id, idempotency_key); writes act once per idempotency key."),
        tools=tools, log_level="WARNING")


def _listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it
    sock.bind((HOST, port))
    # Listening before the URL is printed: a client that connects at once waits in the
    # backlog until uvicorn accepts, instead of being refused.
    sock.listen(128)
    return sock


async def serve_http(server: MCPServer[Any], port: int) -> None:
    import uvicorn

    sock = _listening_socket(port)
    url = f"http://{HOST}:{sock.getsockname()[1]}{MCP_PATH}"
    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=HOST, json_response=True)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(URL_LINE + url, file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


def main(argv: list[str] | None = None) -> int:
    import anyio

    from agentcore.demo_shop.repository import Shop
    from agentcore.demo_shop.shopgen import ensure_shop
    from agentcore.settings import Settings

    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=(
        "Serve the demo shop's tools over MCP (stdio, or Streamable HTTP on loopback)."))
    parser.add_argument("--shop", type=Path, help="the shop database (default: the "
                        "settings' shop, generated if missing)")
    parser.add_argument("--today", help="ISO date the shop treats as today")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="simulated round trip of each call to the shop's backend")
    parser.add_argument("--http", type=int, metavar="PORT", help="serve Streamable HTTP "
                        f"on {HOST}:PORT{MCP_PATH} (0: a free port) instead of stdio")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # stdout is the protocol's
    path = args.shop or Settings().shop_path
    today = date.fromisoformat(args.today) if args.today else None
    shop = Shop(ensure_shop(path), today=today)
    server = build_server(shop, max(args.latency_ms, 0.0) / 1000)
    try:
        if args.http is None:
            anyio.run(server.run_stdio_async)
        else:
            anyio.run(serve_http, server, args.http)
    except KeyboardInterrupt:
        pass
    finally:
        shop.close()
    return 0


# -- the settings that use it ---------------------------------------------------------


def server_args(shop_path: Path | str, *, today: str | date | None = None,
                latency_ms: float = 0, port: int | None = None) -> list[str]:
    """The arguments of `python` that start the server."""
    args = ["-m", MODULE, "--shop", str(shop_path)]
    if today is not None:
        args += ["--today", today if isinstance(today, str) else today.isoformat()]
    if latency_ms:
        args += ["--latency-ms", f"{latency_ms:g}"]
    if port is not None:
        args += ["--http", str(port)]
    return args


def server_config(transport: Literal["stdio", "http"], shop_path: Path | str, *,
                  port: int | None = None, today: str | date | None = None,
                  latency_ms: float = 0, name: str = SERVER_NAME) -> ToolServerConfig:
    """The tool server that stands in for the demo shop's in-process tools: the same
    names (no prefix), replacing the domain's, each write under the policy the shop
    holds it to at the write, `search_faq` offered without a customer. For "http" the
    server must already listen on `port` (`python -m agentcore.demo_shop.mcp --http
    PORT`); for "stdio" the engine starts it."""
    common: dict[str, Any] = {
        "name": name, "prefix": "", "replaces_domain_tools": True,
        "public": list(PUBLIC_TOOLS),
        "writes": {tool: WritePolicy(server_policy=text) for tool, text in WRITE_POLICIES.items()},
    }
    if transport == "stdio":
        return ToolServerConfig(command=sys.executable, args=server_args(
            shop_path, today=today, latency_ms=latency_ms), **common)
    if transport == "http":
        if port is None:
            raise ValueError("the shop over Streamable HTTP needs the port it listens on")
        return ToolServerConfig(url=f"http://{HOST}:{port}{MCP_PATH}", **common)
    raise ValueError(f"transport is 'stdio' or 'http', not {transport!r}")


class HttpShopServer:
    """`python -m agentcore.demo_shop.mcp --http PORT` as a child process, for the demo,
    the tests and the bench: started, its URL read off its stderr (printed once the
    port listens), stopped. The rest of its stderr is passed on to ours."""

    def __init__(self, shop_path: Path | str, *, port: int = 0,
                 today: str | date | None = None, latency_ms: float = 0) -> None:
        self.args = [sys.executable, *server_args(shop_path, today=today,
                                                  latency_ms=latency_ms, port=port)]
        self.process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self.url = ""

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def start(self, timeout_s: float = 30.0) -> str:
        """Starts the server; its URL. OSError when it does not come up."""
        proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.process = proc
        assert proc.stderr is not None
        lines: list[str] = []
        found = threading.Event()

        def read() -> None:  # a thread: stderr is a blocking pipe, and must keep draining
            assert proc.stderr is not None
            for line in proc.stderr:
                if not found.is_set():
                    lines.append(line)
                    if line.startswith(URL_LINE):
                        self.url = line[len(URL_LINE):].strip()
                        found.set()
                else:
                    sys.stderr.write(line)
            found.set()  # it ended without a URL

        self._reader = threading.Thread(target=read, name="shop-mcp-stderr", daemon=True)
        self._reader.start()
        if not found.wait(timeout_s) or not self.url:
            self.stop()
            raise OSError("the shop's MCP server did not start: " + "".join(lines)[-2000:])
        return self.url

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._reader is not None:
            self._reader.join(5)  # the pipe is at its end once the process is gone
        if proc.stderr is not None:
            proc.stderr.close()

    def __enter__(self) -> HttpShopServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ShopOverMcp:
    """The demo with its shop's tools over MCP, for one run of a command or the console
    (`--shop-over-mcp`): `open()` gives the settings with the shop's server added for
    the shop they name, its writes under the shop's own policies; over HTTP the server
    is started here (a free loopback port) and `close()` stops it. Over stdio the
    engine starts and stops it. `transport` None: the settings as they are."""

    def __init__(self, settings: Settings, transport: Literal["stdio", "http"] | None) -> None:
        self.settings = settings
        self.transport = transport
        self.http: HttpShopServer | None = None

    def open(self) -> Settings:
        from agentcore.demo_shop.shopgen import ensure_shop

        settings = self.settings
        if self.transport is None:
            return settings
        if settings.domain not in (None, "demo_shop"):
            raise ValueError(f"the shop over MCP serves the demo shop; these settings name "
                             f"the domain {settings.domain!r}")
        if any(s.name == SERVER_NAME for s in settings.tool_servers):
            raise ValueError(f"the settings have a tool server named {SERVER_NAME!r} already: "
                             "the demo shop's own would take that name")
        path = ensure_shop(settings.shop_path)  # before any process opens it
        port = None
        if self.transport == "http":
            self.http = HttpShopServer(path, today=settings.shop_today,
                                       latency_ms=settings.shop_latency_ms)
            self.http.start()
            port = self.http.port
        config = server_config(self.transport, path, port=port, today=settings.shop_today,
                               latency_ms=settings.shop_latency_ms)
        log.info("the demo shop's tools over MCP (%s): %s", self.transport,
                 config.url or f"{config.command} {' '.join(config.args)}")
        return settings.model_copy(update={"tool_servers": [*settings.tool_servers, config]})

    def close(self) -> None:
        if self.http is not None:
            self.http.stop()
            self.http = None

    def __enter__(self) -> Settings:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    sys.exit(main())
