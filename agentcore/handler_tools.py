"""The domain's tools as a fast-path handler that acts calls them.

The same registry, context and timeout as the slow path's calls: a refund the
rule decides goes through the very tool (idempotent on the request id, held to
its policy at the write) the LLM would have called. Each call is a span under
the rule's `template` span and a record in the outcome's tool results, so the
trace, the detail pane and the escalation context show what the rule did.
"""

from __future__ import annotations

import itertools
from typing import Any

from agentcore.errors import ToolError
from agentcore.tool_results import ToolCallRecord, ToolResults
from agentcore.tools import ToolContext, ToolRegistry
from agentcore.tracing import Trace


class HandlerTools:
    """A `ToolCaller` for one request: raises ToolError as the registry does."""

    def __init__(self, registry: ToolRegistry, ctx: ToolContext, timeout_s: float,
                 trace: Trace, results: ToolResults) -> None:
        self.registry = registry
        self.ctx = ctx
        self.timeout_s = timeout_s
        self.trace = trace
        self.results = results
        self._ids = itertools.count(1)

    async def __call__(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        call_id = f"rule:{tool}:{next(self._ids)}"
        with self.trace.span(f"tool:{tool}", parent="template", arguments=arguments) as span:
            self.registry.mark_server(span, tool)
            try:
                if not self.registry.has(tool):
                    raise ToolError(f"the domain has no tool {tool!r}")
                result = await self.registry.call(tool, arguments, self.ctx, self.timeout_s)
            except ToolError as exc:
                span.error = str(exc)
                self.results.record(ToolCallRecord(call_id, tool, arguments, error=str(exc),
                                                   by="engine"))
                raise
        self.results.record(ToolCallRecord(call_id, tool, arguments, result, by="engine"))
        return result
