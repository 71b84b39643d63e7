"""`agentcore tools`: every tool the agent would offer, one line each, and each tool
server that is not ready, with why."""

from __future__ import annotations

import json
import sys

from agentcore.settings import Settings
from agentcore.tool_servers._report import ServerState, ToolInfo


async def run_tools(settings: Settings, *, as_json: bool) -> int:
    """Starts the engine's tool servers (each bounded by its start timeout), prints
    the catalog; 0 when every enabled server is ready, else 1."""
    from agentcore.engine import Engine

    engine = Engine(settings)
    try:
        await engine.start()
        servers = engine.tool_servers
        catalog, reports, ready = servers.catalog(), servers.reports(), servers.ready
    finally:
        await engine.close()
    if as_json:
        print(json.dumps({"tools": [t.as_dict() for t in catalog],
                          "servers": [r.as_dict() for r in reports]}, indent=2,
                         ensure_ascii=False))
    else:
        for info in catalog:
            print(_line(info))
        for report in reports:
            if report.state not in (ServerState.READY, ServerState.DISABLED):
                print(f"server {report.name} ({report.transport}) {report.state}: "
                      f"{report.detail or 'no reason given'}", file=sys.stdout)
    return 0 if ready else 1


def _line(info: ToolInfo) -> str:
    kind = "write" if info.writes else "read"
    policy = "-" if not info.writes else info.policy or "asks"
    notes = list(info.problems)
    if not info.offered:
        notes.insert(0, "NOT OFFERED")
    return "\t".join([info.llm_name, info.source, kind, policy, "; ".join(notes)]).rstrip()
