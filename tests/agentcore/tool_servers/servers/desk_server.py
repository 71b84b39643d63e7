"""A team's backend as an MCP server, for the engine's tests (official SDK).

Run as `python desk_server.py` (stdio) or `--http PORT`. Every action a write
tool takes is appended to the JSON-lines file named by the DESK_LOG environment
variable, with the idempotency key of its `_meta`; `refund` honours that key (a
second call with the same key acts no more and answers as the first did), so a
test sees on the server's side how many times it acted. Tools:

- `search` (readOnlyHint): a read;
- `refund` (destructiveHint): a write with an amount, honouring the key;
- `note` (no annotations): an unknown tool, which the agent must treat as a write;
- `broken`: an isError result;
- `lookup` (read): an optional argument, which strict mode rejects until cleaned;
- `tangled` (read): a schema that refers to a definition it lacks: unusable;
- `grow`: adds a tool and announces the changed list.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ToolAnnotations

server = MCPServer("desk", log_level="WARNING")
_done: dict[str, dict[str, Any]] = {}  # idempotency key -> the first refund's answer


def _log(tool: str, ctx: Context, arguments: dict[str, Any]) -> None:
    meta = dict(ctx.request_context.meta or {})
    path = os.environ.get("DESK_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"tool": tool, "key": meta.get("idempotency_key"),
                                 "meta": meta, "arguments": arguments}) + "\n")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def search(query: str) -> dict[str, Any]:
    """Search the team's knowledge base."""
    return {"hits": [f"article about {query}"]}


@server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True))
def refund(order: int, amount: float, ctx: Context) -> dict[str, Any]:
    """Refund an amount on an order."""
    key = str((ctx.request_context.meta or {}).get("idempotency_key"))
    if key in _done:
        return _done[key] | {"replayed": True}
    _log("refund", ctx, {"order": order, "amount": amount})
    _done[key] = {"refunded": amount, "order": order}
    return _done[key]


@server.tool()
def note(text: str, ctx: Context) -> str:
    """Add a note to the customer's file."""
    _log("note", ctx, {"text": text})
    return "noted"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def broken(query: str) -> str:
    """A read whose backend is down."""
    raise ToolError(f"the knowledge base is down (asked {query!r})")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def lookup(query: str, limit: int = 5) -> dict[str, Any]:
    """Look records up; `limit` is optional."""
    return {"query": query, "limit": limit}


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def tangled(thing: str) -> str:
    """A tool whose published schema is broken."""
    return thing


# Its published schema refers to a definition it does not carry: no strict schema can
# be made of it.
server._tool_manager.get_tool("tangled").parameters = {  # type: ignore[union-attr]
    "type": "object", "properties": {"thing": {"$ref": "#/$defs/Thing"}}, "required": ["thing"]}


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def grow(name: str, ctx: Context) -> str:
    """Add a tool of that name and announce the changed list."""
    def added() -> str:
        return "added"

    server.add_tool(added, name=name, description=f"added at run time: {name}",
                    annotations=ToolAnnotations(read_only_hint=True))
    await ctx.session.send_tool_list_changed()
    return "grown"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None, help="serve on 127.0.0.1:PORT")
    args = parser.parse_args()
    if args.http is None:
        server.run()
    else:
        server.run("streamable-http", host="127.0.0.1", port=args.http)


if __name__ == "__main__":
    main()
