"""Every configured tool server, and the tool set the agent offers with them.

`ToolServers` keeps one `ToolServer` per enabled config and, on each change a
server reports (connected, lost, listed again), swaps the engine's registry to
the merged set in place (the domain's tools, then the ready servers' offered
ones) and publishes a `ToolServerChanged`. A server that is not ready offers
nothing: its tools are absent until it is back. Names clash by what the LLM sees:
a server's tool named like one of the domain's replaces it only where the server
says `replaces_domain_tools` (and only while that server is ready, so the
domain's stays when the server is down); any other clash is a problem and the
later tool is not offered.

Each server has a breaker with the LLM's thresholds (settings
`resilience.breaker`): after `failure_threshold` calls in a row that the server
did not answer (ToolServerError), calls fail at once for `open_s`, then one is
let through again. An `isError` answer is an answer, and counts as a success.
A tool's failure reaches the loop as a ToolError either way: the model hears it,
and a hand-off after it escalates as TOOL_FAILED.

The SDK (`agentcore.tool_servers._connection`) is imported when a server is
first started, never at `import agentcore`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agentcore.clock import Clock, SystemClock
from agentcore.errors import ToolServerError
from agentcore.tool_servers._adapter import BACKSTOP_S, adapt
from agentcore.tool_servers._config import ToolServerConfig
from agentcore.tool_servers._report import ServerReport, ServerState, ToolInfo
from agentcore.tools import DOMAIN, Tool, ToolRegistry

if TYPE_CHECKING:
    import mcp_types

    from agentcore.events import ToolServerChanged
    from agentcore.resilience import BreakerSettings
    from agentcore.tool_servers._connection import CallResult, ToolServer

log = logging.getLogger("agentcore.tool_servers")

Secret = Callable[[str], "str | None"]
# (tool, arguments, request id) -> what that write did; as agentcore.pending_writes
Recorded = Callable[[str, dict[str, Any], str], "dict[str, Any] | None"]


class _Breaker:
    """Consecutive unanswered calls to one server open it for a cool-down; after it,
    calls go through again and the first failure opens it once more."""

    def __init__(self, name: str, settings: Callable[[], BreakerSettings | None],
                 clock: Clock, on_change: Callable[[], None] = lambda: None) -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._on_change = on_change  # opened or closed: the status bar shows it
        self.failures = 0
        self._opened_at: float | None = None
        self.opened_wall: float | None = None  # when it opened, for the report

    @property
    def described(self) -> str:
        """'' while closed; else why it is open, for the report."""
        if self._opened_at is None:
            return ""
        settings = self._settings()
        cool = f"; calls go through again {settings.open_s:g} s after" if settings else ""
        return f"breaker open: {self.failures} calls in a row unanswered{cool}"

    def check(self) -> None:
        settings = self._settings()
        if settings is None or self._opened_at is None:
            return
        left = self._opened_at + settings.open_s - self._clock.monotonic()
        if left > 0:
            raise ToolServerError(f"tool server {self.name!r} failed {self.failures} calls in a "
                                  f"row: not called for another {left:.0f} s")

    def success(self) -> None:
        was_open = self._opened_at is not None
        if was_open:
            log.info("tool server %s answers again: its breaker closed", self.name)
        self.failures = 0
        self._opened_at = None
        self.opened_wall = None
        if was_open:
            self._on_change()

    def failure(self) -> None:
        self.failures += 1
        settings = self._settings()
        if settings is not None and self.failures >= settings.failure_threshold:
            opening = self._opened_at is None
            if opening:
                log.warning("tool server %s: %d calls in a row unanswered; its breaker opened "
                            "for %g s", self.name, self.failures, settings.open_s)
                self.opened_wall = self._clock.now()
            self._opened_at = self._clock.monotonic()
            if opening:
                self._on_change()


@dataclass
class _Entry:
    """One started server, its breaker and its last listing as adapted."""

    server: ToolServer
    breaker: _Breaker
    listing: list[mcp_types.Tool] | None = None  # the listing `adapted` was made from
    adapted: list[tuple[ToolInfo, Tool | None]] = field(default_factory=list)


@dataclass
class _Memory:
    """What a server's tools were, kept across its listings, reconnects and restarts:
    a tool once a write stays one, and a limited write's "once per request" holds."""

    writes: set[str] = field(default_factory=set)  # the server's own names
    ran_for: dict[str, OrderedDict[str, None]] = field(default_factory=dict)


class ToolServers:
    """The engine's tool servers. `registry` is the engine's: it holds the domain's
    tools when this is built, and the merged set after every change."""

    def __init__(self, configs: Sequence[ToolServerConfig], registry: ToolRegistry, *,
                 secret: Secret, publish: Callable[[ToolServerChanged], None] | None = None,
                 clock: Clock | None = None,
                 breaker: Callable[[], BreakerSettings | None] | None = None) -> None:
        self._configs = list(configs)
        self._registry = registry
        self._domain = registry.tools  # the domain's own, before any server's
        self._secret = secret
        self._publish = publish
        self._clock = clock or SystemClock()
        self._breaker_settings = breaker or (lambda: None)
        self._entries: dict[str, _Entry] = {}
        self._memory: dict[str, _Memory] = {}
        self._infos: dict[str, tuple[ToolInfo, ...]] = {}
        self._domain_infos: tuple[ToolInfo, ...] = tuple(_domain_info(t) for t in self._domain)
        self._starting: asyncio.Future[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- life ----------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._starting is not None and self._starting.done()

    @property
    def configs(self) -> list[ToolServerConfig]:
        return list(self._configs)

    async def start(self) -> None:
        """Starts every enabled server, each bounded by its `start_timeout_s`; returns
        when each is ready or failed (a failed one keeps trying in the background).
        Idempotent: a second call waits for the first."""
        if self._starting is None:
            if not any(c.enabled for c in self._configs):
                # Nothing to connect: done without yielding, so a first request runs on
                # as it did before tool servers existed (none configured, none started).
                self._starting = asyncio.get_running_loop().create_future()
                self._starting.set_result(None)
                return
            self._starting = asyncio.ensure_future(self._start_all())
        await asyncio.shield(self._starting)

    async def _start_all(self) -> None:
        entries = [self._entry(c) for c in self._configs if c.enabled]
        await asyncio.gather(*(e.server.start() for e in entries))
        self._refresh()

    def _entry(self, config: ToolServerConfig) -> _Entry:
        from agentcore.tool_servers._connection import ToolServer

        name = config.name
        entry = _Entry(ToolServer(config, secret=self._secret,
                                  on_change=lambda: self._changed(name), clock=self._clock),
                       _Breaker(name, self._breaker_settings, self._clock,
                                on_change=lambda: self._announce(name)))
        self._entries[name] = entry
        return entry

    async def apply(self, configs: Sequence[ToolServerConfig]) -> None:
        """New settings: a server whose config changed (or was removed, or switched
        off) is closed, a new or changed one started in the background once the
        servers have been started; the others keep their connections."""
        before = {c.name: c for c in self._configs}
        self._configs = list(configs)
        after = {c.name: c for c in self._configs}
        stale = [name for name in self._entries
                 if after.get(name) != before.get(name) or not after[name].enabled]
        closing = [self._entries.pop(name) for name in stale]
        await asyncio.gather(*(e.server.close() for e in closing))
        changed = set(stale) | {n for n, c in after.items() if before.get(n) != c}
        if self._starting is not None and not self._closed:
            for name in changed:
                config = after.get(name)
                if config is not None and config.enabled and name not in self._entries:
                    task = asyncio.ensure_future(self._entry(config).server.start())
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
        self._refresh()
        for name in sorted(changed):
            self._announce(name)

    async def close(self) -> None:
        self._closed = True
        entries = list(self._entries.values())
        await asyncio.gather(*(e.server.close() for e in entries))
        self._refresh()

    def recorded(self, domain: Recorded) -> Recorded:
        """The escalation queue's `recorded` (how an approval a crash cut short is
        settled): the domain's record, asked only about the domain's own tool names (a
        server replacing one writes where the domain keeps its record: the demo shop
        over MCP). A tool server's other writes leave no record here: such an approval
        settles as failed, and approving it again sends the same idempotency key, so a
        server that honours it acts at most once."""
        names = {t.name for t in self._domain}

        def recorded(tool: str, arguments: dict[str, Any],
                     request_id: str) -> dict[str, Any] | None:
            return domain(tool, arguments, request_id) if tool in names else None

        return recorded

    def keeps_record(self, tool: str) -> bool:
        """Whether `recorded` can say if this tool's write happened: the domain's own
        tool names only."""
        return tool in {t.name for t in self._domain}

    def longest_call_s(self, domain_timeout_s: float) -> float:
        """The longest a write may take: the domain's bound or any server's own."""
        return max([domain_timeout_s, *(c.timeout_s + BACKSTOP_S for c in self._configs)])

    # -- what the engine, the CLI and the console read ---------------------------------

    def reports(self) -> list[ServerReport]:
        return [self._report(c) for c in self._configs]

    def report(self, name: str) -> ServerReport | None:
        config = next((c for c in self._configs if c.name == name), None)
        return None if config is None else self._report(config)

    def catalog(self) -> list[ToolInfo]:
        """Every tool the agent would offer, the domain's too, with those it does not
        (not allowed, unusable, clashing) and why."""
        return [*self._domain_infos, *(info for c in self._configs
                                       for info in self._infos.get(c.name, ()))]

    @property
    def ready(self) -> bool:
        """Every enabled server is ready."""
        return all(r.state is ServerState.READY for r in self.reports()
                   if r.state is not ServerState.DISABLED)

    def _report(self, config: ToolServerConfig) -> ServerReport:
        entry = self._entries.get(config.name)
        tools = self._infos.get(config.name, ())
        if not config.enabled:
            return ServerReport(config.name, config.transport, ServerState.DISABLED,
                                "switched off in the settings")
        if entry is None:
            return ServerReport(config.name, config.transport, ServerState.STARTING,
                                "not started yet")
        server = entry.server
        return ServerReport(config.name, config.transport, server.state, server.detail,
                            tools, server.since, server.reconnects,
                            breaker=entry.breaker.described,
                            breaker_since=entry.breaker.opened_wall)

    # -- changes ------------------------------------------------------------------

    def _changed(self, name: str) -> None:
        """A server's state or listing changed (called on the loop, by the server)."""
        self._refresh()
        self._announce(name)

    def _announce(self, name: str) -> None:
        report = self.report(name)
        if report is None:
            report = ServerReport(name, "stdio", ServerState.DISABLED, "removed from the settings")
        if self._publish is not None:
            # Imported here: agentcore.events imports this package for ServerReport.
            from agentcore.events import ToolServerChanged

            self._publish(ToolServerChanged(report))

    def _refresh(self) -> None:
        """The merged tool set into the registry, and each tool's info with its clashes."""
        domain_names = {t.name for t in self._domain}
        taken: dict[str, str] = {}  # an LLM name -> the server whose tool has it
        replaced: dict[str, str] = {}  # a domain tool -> the ready server replacing it
        offered: list[Tool] = []
        infos: dict[str, tuple[ToolInfo, ...]] = {}
        for config in self._configs:
            entry = self._entries.get(config.name)
            if entry is None or not config.enabled:
                continue
            ready = entry.server.state is ServerState.READY
            mine = []
            for info, tool in self._adapted(entry):
                if tool is not None:
                    problem = None
                    if info.llm_name in taken:
                        problem = f"tool server {taken[info.llm_name]!r} offers that name first"
                    elif info.llm_name in domain_names and not config.replaces_domain_tools:
                        problem = ("the domain has a tool of that name (the server may replace "
                                   "it with replaces_domain_tools)")
                    if problem is not None:
                        info = replace(info, problems=(*info.problems, problem), offered=False)
                        tool = None
                    else:
                        taken[info.llm_name] = config.name
                if tool is not None and ready:
                    offered.append(tool)
                    if tool.name in domain_names:
                        replaced[tool.name] = config.name
                mine.append(info)
            infos[config.name] = tuple(mine)
        self._infos = infos
        self._domain_infos = tuple(
            replace(i, offered=False, problems=(f"replaced by tool server {replaced[i.name]!r}",))
            if i.name in replaced else i for i in map(_domain_info, self._domain))
        self._registry.replace([*(t for t in self._domain if t.name not in replaced), *offered])

    def _adapted(self, entry: _Entry) -> list[tuple[ToolInfo, Tool | None]]:
        server = entry.server
        if entry.listing is not server.tools:  # listed again: adapted again, once
            config = server.config
            memory = self._memory.setdefault(config.name, _Memory())
            # A server replacing a domain write can't make it a read by its annotations.
            domain_writes = {t.name for t in self._domain if t.writes}
            entry.listing = server.tools
            entry.adapted = []
            for t in server.tools:
                was_write = t.name in memory.writes or (
                    config.replaces_domain_tools and config.tool_prefix + t.name in domain_writes)
                adapted = adapt(config, t, self._caller(entry), was_write=was_write,
                                ran_for=memory.ran_for.setdefault(t.name, OrderedDict()))
                if adapted[0].writes:
                    memory.writes.add(t.name)
                entry.adapted.append(adapted)
        return entry.adapted

    @staticmethod
    def _caller(entry: _Entry) -> Any:
        async def call(name: str, arguments: dict[str, Any], meta: dict[str, Any],
                       timeout_s: float) -> CallResult:
            entry.breaker.check()
            try:
                result = await entry.server.call(name, arguments, meta=meta, timeout_s=timeout_s)
            except ToolServerError:
                entry.breaker.failure()
                raise
            entry.breaker.success()
            return result

        return call


def _domain_info(tool: Tool) -> ToolInfo:
    return ToolInfo(llm_name=tool.name, source=tool.source if tool.source else DOMAIN,
                    name=tool.name, description=tool.description, writes=tool.writes,
                    kind_from="domain", policy=tool.policy, public=tool.public)


async def test_server(config: ToolServerConfig, secret: Secret) -> ServerReport:
    """Connect, list, classify, close: what the Settings dialog's "Test" shows. Waits
    at most the server's `start_timeout_s`; never raises for the server's fault."""
    from agentcore.tool_servers._connection import ToolServer

    server = ToolServer(config, secret=secret)
    try:
        await server.start()

        async def no_calls(*_: Any) -> CallResult:
            raise ToolServerError("a tested server is not called")

        tools = tuple(adapt(config, t, no_calls)[0] for t in server.tools)
        return ServerReport(config.name, config.transport, server.state, server.detail, tools,
                            server.since, server.reconnects)
    finally:
        await server.close()


test_server.__test__ = False  # type: ignore[attr-defined]  # pytest: not a test
