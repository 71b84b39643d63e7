"""The demo shop's MCP server as a user's client reaches it: a real subprocess, over
stdio (started from `server_config`, as the engine would) or Streamable HTTP on a
loopback port, through the SDK's own `ClientSession`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from agentcore.demo_shop.mcp import server_config

REPO = Path(__file__).resolve().parents[3]


@asynccontextmanager
async def stdio_session(shop_path: Path, errlog: Path) -> AsyncIterator[ClientSession]:
    config = server_config("stdio", shop_path)
    assert config.command is not None
    params = StdioServerParameters(command=config.command, args=config.args, cwd=REPO)
    with errlog.open("a") as err:
        async with (stdio_client(params, errlog=err) as (read, write),
                    ClientSession(read, write) as session):
            await session.initialize()
            yield session


@asynccontextmanager
async def http_session(url: str) -> AsyncIterator[ClientSession]:
    async with (streamable_http_client(url) as (read, write),
                ClientSession(read, write) as session):
        await session.initialize()
        yield session


def meta(customer_id: int | None, request_id: str = "req-1", **more: Any) -> dict[str, Any]:
    """The `_meta` the engine sends with every call (api.md)."""
    return {"idempotency_key": request_id, "request_id": request_id,
            "customer_id": customer_id, "approved": False, "override": None, **more}
