"""A small MCP server for the client's tests, built with the official SDK.

Run as `python echo_server.py` (stdio) or `python echo_server.py --http PORT`
(Streamable HTTP on 127.0.0.1:PORT, path /mcp). Its tools are what the tests
need to see from the other side: the `_meta` a call carried, an environment
variable or header it was started with, a slow call, a failing one, its own
pid (to kill it), and one that grows the tool list and says so.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("echo", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return text


@server.tool()
def echo_meta(ctx: Context) -> dict[str, Any]:
    """The `_meta` the call arrived with."""
    meta = ctx.request_context.meta or {}
    return {"meta": dict(meta)}


@server.tool()
def env(name: str) -> str:
    """An environment variable the server was started with ('' if unset)."""
    return os.environ.get(name, "")


@server.tool()
def header(name: str, ctx: Context) -> str:
    """A header of the HTTP request that carried this call ('' on stdio)."""
    return (ctx.headers or {}).get(name.lower(), "")


@server.tool()
async def slow(seconds: float) -> str:
    """Answer after the given seconds."""
    await asyncio.sleep(seconds)
    return "done"


@server.tool()
def fail(message: str) -> str:
    """Fail with the message (an isError result)."""
    raise ToolError(message)


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool of that name and announce the changed list."""
    def added() -> str:
        return "added"

    server.add_tool(added, name=name, description=f"added at run time: {name}")
    await ctx.session.send_tool_list_changed()
    return "grown"


def _requiring(token: str, app: Any) -> Any:
    """The app behind a bearer token: anything else is answered 401."""
    expected = f"Bearer {token}".encode()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != expected:
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return
        await app(scope, receive, send)

    return guarded


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None, help="serve on 127.0.0.1:PORT")
    parser.add_argument("--token", default=None, help="HTTP: require this bearer token")
    args = parser.parse_args()
    if args.http is None:
        server.run()
    elif args.token is None:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        import uvicorn

        app = _requiring(args.token, server.streamable_http_app(host="127.0.0.1"))
        uvicorn.run(app, host="127.0.0.1", port=args.http, log_level="warning")


if __name__ == "__main__":
    main()
