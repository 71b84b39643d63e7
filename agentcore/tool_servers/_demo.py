"""The demo with its shop's tools over MCP (`--shop-over-mcp`), for the console and CLI.

The demo shop is loaded by name here, as `load_domain` loads a domain: the console
and the pipeline know the shop only as a domain (import-linter holds them to it),
and this is the one place the console's start-up asks for the shop's MCP server.
"""

from __future__ import annotations

import importlib
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Literal, Protocol, cast

if TYPE_CHECKING:
    from agentcore.settings import Settings

SHOP_MCP_MODULE = "agentcore.demo_shop.mcp"


class ShopOverMcp(AbstractContextManager["Settings"], Protocol):
    def open(self) -> Settings: ...

    def close(self) -> None: ...


def demo_shop_over_mcp(settings: Settings,
                       transport: Literal["stdio", "http"] | None) -> ShopOverMcp:
    """`open()` gives `settings` with the demo shop's MCP server among their tool
    servers, standing in for the shop's in-process tools (over HTTP it starts the
    server; `close()` stops it); `transport` None leaves them as they are."""
    module = importlib.import_module(SHOP_MCP_MODULE)
    return cast(ShopOverMcp, module.ShopOverMcp(settings, transport))
