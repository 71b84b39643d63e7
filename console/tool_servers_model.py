"""The Settings dialog's tool servers, without Qt: the editor's draft of one server,
what it becomes as a `ToolServerConfig`, the secrets waiting for the keyring, the
"Test" that connects to it, and the status bar's summary of each server's state.

Plain Python, tested headless (tests/console/test_tool_servers_model.py); the
widgets (`console.tool_server_editor`, `console.statusbar.ToolsSegment`) only show
this and write back through it.

Secrets: a row of headers or environment marked secret never reaches the settings:
its value is written `keyring:tool-server:<server>:<name>` and the value itself waits
in `Built.secrets` until the dialog's Apply stores it in the keyring (with the API
key, through `KeyringCredentials`). A row already stored shows no value; leaving it
empty keeps the stored one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from agentcore import (
    KEYRING_PREFIX,
    ServerReport,
    ServerState,
    ToolInfo,
    ToolServerConfig,
    WritePolicy,
)

log = logging.getLogger("console.tool_servers")

Secret = Callable[[str], str | None]  # a keyring entry's value, None: not stored
# The dialog's "Test": connect, list, classify, close (agentcore.tool_servers.test_server).
# Injected, so a widget test can hand in a scripted one.
Tester = Callable[[ToolServerConfig, Secret], Awaitable[ServerReport]]
# What may stand before a tool's name: OpenAI's rule for a function's name.
_PREFIX = re.compile(r"[A-Za-z0-9_-]+")
_MARGIN_S = 5.0  # past the server's own start timeout: the tester's, not ours, should say


ENTRY_PREFIX = "tool-server:"


def secret_entry(server: str, key: str) -> str:
    """The keyring entry of a server's secret header or variable."""
    return f"{ENTRY_PREFIX}{server}:{key}"


def orphaned(before: Iterable[ToolServerConfig], after: Iterable[ToolServerConfig]) -> list[str]:
    """The keyring entries the dialog made that no server refers to any more (a server
    removed, a secret row removed or no longer secret): to delete once applied. An
    entry the operator named otherwise is theirs, and stays."""
    kept = {entry for config in after for entry in config.secrets()}
    return sorted({entry for config in before for entry in config.secrets()
                   if entry.startswith(ENTRY_PREFIX) and entry not in kept})


@dataclass(slots=True)
class Row:
    """One header or environment variable as the editor shows it."""

    key: str = ""
    value: str = ""  # typed; for a stored secret, empty until the operator replaces it
    secret: bool = False
    stored: str | None = None  # the keyring entry it already has, when it has one


@dataclass(slots=True)
class Draft:
    """A server as being edited: text as typed, rows, the Test's marks."""

    name: str = ""
    transport: Literal["stdio", "http"] = "stdio"
    command: str = ""
    args: str = ""  # one per line: an argument may hold spaces
    env: list[Row] = field(default_factory=list)
    url: str = ""
    headers: list[Row] = field(default_factory=list)
    enabled: bool = True
    allow: str = ""  # names, comma- or space-separated; empty: all
    timeout_s: str = "10"  # per call
    start_timeout_s: str = "15"  # to start, connect and list: the Test's bound too
    cwd: str = ""  # stdio: the folder it starts in; empty: the console's own
    prefix: str = ""  # before each tool's name for the LLM; empty: the name and "__"
    no_prefix: bool = False  # the tools keep their own names (prefix "")
    public: list[str] = field(default_factory=list)  # reads offered without a customer
    kinds: dict[str, Literal["read", "write"]] = field(default_factory=dict)
    writes: dict[str, WritePolicy | Literal["ask"]] = field(default_factory=dict)
    rest: dict[str, Any] = field(default_factory=dict)  # what the editor does not show

    @classmethod
    def of(cls, config: ToolServerConfig | None) -> Draft:
        if config is None:
            return cls()
        data = config.model_dump(exclude={"name", "command", "args", "env", "url",
                                          "headers", "enabled", "allow", "kinds", "writes",
                                          "timeout_s", "start_timeout_s", "cwd", "prefix",
                                          "public"})
        return cls(name=config.name, transport=config.transport,
                   command=config.command or "", args="\n".join(config.args),
                   env=_rows(config.env), url=config.url or "",
                   headers=_rows(config.headers), enabled=config.enabled,
                   allow=", ".join(config.allow or ()), kinds=dict(config.kinds),
                   writes=dict(config.writes), timeout_s=f"{config.timeout_s:g}",
                   start_timeout_s=f"{config.start_timeout_s:g}", cwd=config.cwd or "",
                   prefix=config.prefix or "", no_prefix=config.prefix == "",
                   public=list(config.public), rest=data)

    def tool_prefix(self) -> str:
        """What the LLM sees before each tool's own name."""
        return "" if self.no_prefix else self.prefix.strip() or f"{self.name.strip()}__"


def _rows(values: Mapping[str, str]) -> list[Row]:
    rows = []
    for key, value in values.items():
        if value.startswith(KEYRING_PREFIX):
            rows.append(Row(key, "", True, value[len(KEYRING_PREFIX):]))
        else:
            rows.append(Row(key, value))
    return rows


@dataclass(frozen=True, slots=True)
class Built:
    """What a draft makes: the config (None if refused), each refusal under its field
    ("name", "command", "cwd", "url", "allow", "prefix", "timeout_s", "start_timeout_s",
    "env.<i>", "headers.<i>", or "" for the rest),
    and the secrets to store once the settings are applied (entry -> value)."""

    config: ToolServerConfig | None
    errors: dict[str, str]
    secrets: dict[str, str]


def build(draft: Draft) -> Built:
    errors: dict[str, str] = {}
    secrets: dict[str, str] = {}
    name = draft.name.strip()
    rows = {"env": draft.env, "headers": draft.headers}
    values: dict[str, dict[str, str]] = {"env": {}, "headers": {}}
    active = "env" if draft.transport == "stdio" else "headers"
    for i, row in enumerate(rows[active]):
        where = f"{active}.{i}"
        key = row.key.strip()
        if not key:
            if row.value or row.stored:
                errors[where] = "give it a name"
            continue
        if key in values[active]:
            errors[where] = f"{key} is given twice"
            continue
        if row.secret:
            if row.value:
                entry = secret_entry(name or "server", key)
                secrets[entry] = row.value
            elif row.stored:
                entry = row.stored
            else:
                errors[where] = "type the secret: it goes to the keyring"
                continue
            values[active][key] = KEYRING_PREFIX + entry
        else:
            values[active][key] = row.value
            refusal = _row_refusal(active, key, row.value)
            if refusal:
                errors[where] = refusal
    data: dict[str, Any] = {**draft.rest, "name": name, "enabled": draft.enabled,
                            "kinds": draft.kinds, "writes": draft.writes,
                            "allow": _names(draft.allow) or None, "public": draft.public,
                            "prefix": "" if draft.no_prefix else draft.prefix.strip() or None}
    prefix = draft.prefix.strip()
    if not draft.no_prefix and prefix and not _PREFIX.fullmatch(prefix):
        errors["prefix"] = ("letters, digits, _ and - only: the LLM's tool names allow "
                            "no more")
    for key in ("timeout_s", "start_timeout_s"):
        text = getattr(draft, key).strip()
        try:
            data[key] = float(text)
        except ValueError:
            errors[key] = "seconds, a number like 10"
            data.pop(key, None)
    if draft.transport == "stdio":
        cwd = draft.cwd.strip()
        data.update(command=draft.command.strip() or None, env=values["env"],
                    args=[a for a in draft.args.splitlines() if a.strip()], cwd=cwd or None)
        if not draft.command.strip():
            errors.setdefault("command", "the program to start, e.g. python or npx")
        if cwd and not Path(cwd).is_absolute():
            errors["cwd"] = "the whole path, e.g. /opt/crm (~ is not expanded)"
        elif cwd and not Path(cwd).is_dir():
            errors["cwd"] = f"there is no folder {cwd} on this machine"
    else:
        data.update(url=draft.url.strip() or None, headers=values["headers"])
        data.pop("cwd", None)
        if not draft.url.strip():
            errors.setdefault("url", "the server's MCP endpoint, e.g. http://127.0.0.1:8765/mcp")
    try:
        config = ToolServerConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = str(err["loc"][0]) if err["loc"] else ""
            message = str(err["msg"]).removeprefix("Value error, ")
            if loc in ("env", "headers"):
                continue  # said beside the row already
            if loc == "name" and err["type"] == "string_pattern_mismatch":
                message = ("a-z first, then up to 31 of a-z, 0-9, - and _: it names the "
                           "server's tools")
            if loc in ("timeout_s", "start_timeout_s"):
                message = "seconds, more than 0 and at most 600"
            key = loc if loc in ("name", "command", "cwd", "url", "allow", "prefix",
                                 "timeout_s", "start_timeout_s") else ""
            if not key and any(k.startswith(("env.", "headers.")) for k in errors):
                continue  # the model's refusal of a secret row: beside that row
            errors.setdefault(key, message)
        return Built(None, errors, secrets)
    if errors:
        return Built(None, errors, secrets)
    return Built(config, errors, secrets)


def _row_refusal(where: str, key: str, value: str) -> str:
    """ToolServerConfig's word on one row alone: a plaintext secret is refused."""
    probe: dict[str, Any] = ({"command": "x", "env": {key: value}} if where == "env"
                             else {"url": "http://127.0.0.1/", "headers": {key: value}})
    try:
        ToolServerConfig.model_validate({"name": "probe", **probe})
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        return message.removeprefix("tool server 'probe': ") + " (tick Secret)"
    return ""


def _names(text: str) -> list[str]:
    return [n for n in text.replace(",", " ").split() if n]


# -- the operator's marks on tools ---------------------------------------------------

class Policy(StrEnum):
    ASK = "ask"  # an operator approves every call
    SERVER = "server"  # the server holds itself to a policy, in words
    LIMITS = "limits"  # limits on named arguments, as JSON


def policy_of(draft: Draft, tool: str) -> tuple[Policy, str]:
    """A write's policy as the editor shows it: its kind and its text."""
    found = draft.writes.get(tool, "ask")
    if found == "ask" or found.ask:
        return Policy.ASK, ""
    if found.server_policy is not None:
        return Policy.SERVER, found.server_policy
    return Policy.LIMITS, json.dumps({k: {b: _plain(v) for b, v in
                                          limit.model_dump(exclude_none=True).items()}
                                      for k, limit in found.limits.items()})


def _plain(value: Any) -> Any:
    """50, not 50.0: the limits read back as the operator typed them."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def set_policy(draft: Draft, tool: str, kind: Policy, text: str) -> str:
    """Gives a write its policy; returns why it is refused ("" when set). "ask" is the
    default and leaves no entry behind."""
    if kind is Policy.ASK:
        draft.writes.pop(tool, None)
        return ""
    try:
        if kind is Policy.SERVER:
            policy = WritePolicy(server_policy=text.strip() or None)
        else:
            limits = json.loads(text or "null")
            if not isinstance(limits, dict) or not limits:
                return ('limits are a JSON object of named arguments, e.g. '
                        '{"amount": {"max": 50}}')
            policy = WritePolicy(limits=limits)
    except json.JSONDecodeError as exc:
        return f"not JSON: {exc.msg} at character {exc.pos + 1}"
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if kind is Policy.SERVER and not text.strip():
            message = "say, in words, what the server holds this write to"
        return f"{where}: {message}" if where else message
    draft.writes[tool] = policy
    return ""


def set_kind(draft: Draft, tool: str, kind: Literal["read", "write"] | None) -> None:
    """The operator's word on a tool; None: as its annotations say. A write is never
    offered without a customer: marking one takes it off the public reads."""
    if kind is None:
        draft.kinds.pop(tool, None)
    else:
        draft.kinds[tool] = kind
    if kind == "write":
        set_public(draft, tool, False)


def set_public(draft: Draft, tool: str, public: bool) -> None:
    """Whether a read touches no customer's records, so requests without a customer
    (anonymous ones) are offered it too."""
    if public and tool not in draft.public:
        draft.public.append(tool)
    elif not public and tool in draft.public:
        draft.public.remove(tool)


@dataclass(frozen=True, slots=True)
class ToolRow:
    """One row of the Test table: the tool as tested, with the draft's marks over it."""

    tool: str  # its own name on the server
    llm_name: str
    description: str
    writes: bool
    why: str  # "annotations", "operator", "unknown: a write"
    policy: str  # in words
    usable: bool
    problems: tuple[str, ...]
    offered: bool
    listed: bool  # False: only the marks know it (not in the last Test)
    public: bool = False  # a read offered to requests without a customer too


def tool_rows(draft: Draft, report: ServerReport | None) -> list[ToolRow]:
    tools: dict[str, ToolInfo] = {t.name: t for t in report.tools} if report else {}
    prefix = draft.tool_prefix()
    allow = set(_names(draft.allow))
    rows = []
    marked_only = (set(draft.kinds) | set(draft.writes) | set(draft.public)) - set(tools)
    for name in [*tools, *sorted(marked_only)]:
        info = tools.get(name)
        marked = draft.kinds.get(name)
        if marked is not None:
            writes, why = marked == "write", "operator"
        elif info is not None:
            writes, why = info.writes, info.kind_from
        else:
            writes, why = True, "unknown: a write"
        if writes:
            kind, text = policy_of(draft, name)
            policy = ("asks: an operator approves every call" if kind is Policy.ASK
                      else draft.writes[name].describe()  # type: ignore[union-attr]
                      if kind is Policy.LIMITS else f"the server's own: {text}")
        elif name in draft.public:
            policy = "read: runs alone; public: offered without a customer too"
        else:
            policy = "read: runs alone"
        rows.append(ToolRow(
            tool=name, llm_name=info.llm_name if info else prefix + name,
            description=info.description if info else "",
            writes=writes, why=why, policy=policy,
            usable=info.usable if info else True, problems=info.problems if info else (),
            offered=(info.offered if info else False) and (not allow or name in allow),
            listed=info is not None, public=not writes and name in draft.public))
    return rows


# -- the Test ----------------------------------------------------------------------

class TestState(StrEnum):
    __test__ = False  # not a pytest class, whatever its name
    IDLE = "idle"
    TESTING = "testing"
    DONE = "done"  # the tester answered: its report says how the server did
    NO_ANSWER = "no answer"
    CANCELLED = "cancelled"
    ERROR = "error"  # the tester itself failed (a bug, a missing keyring)


class ServerTest:
    """One "Test" at a time for the editor: runs the tester, bounded by the server's
    start timeout (and a margin), and can be cancelled. `on_change` is called after
    every change of `state`."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, tester: Tester, stored: Secret,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self._tester = tester
        self._stored = stored
        self._on_change = on_change
        self.state = TestState.IDLE
        self.report: ServerReport | None = None
        self.message = ""
        self.task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        # By state, not by the task: `on_change` runs inside the task as it ends.
        return self.state is TestState.TESTING

    def start(self, config: ToolServerConfig,
              pending: Mapping[str, str] | None = None) -> asyncio.Task[None]:
        """Starts a Test on the running loop (the qasync one in the app). `pending`:
        secrets typed and not yet in the keyring (entry -> value)."""
        self.cancel()
        secret = secret_lookup(dict(pending or {}), self._stored)
        self.task = asyncio.ensure_future(self._run(config, secret))
        return self.task

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self, config: ToolServerConfig, secret: Secret) -> None:
        bound = config.start_timeout_s + _MARGIN_S
        self._set(TestState.TESTING, f"connecting to {config.name}…")
        try:
            report = await asyncio.wait_for(self._tester(config, secret), bound)
        except TimeoutError:
            self._set(TestState.NO_ANSWER, f"no answer within {bound:g} s")
            return
        except asyncio.CancelledError:
            self._set(TestState.CANCELLED, "cancelled")
            raise
        except Exception as exc:  # the tester's own failure: said, logged, not a dialog
            log.warning("testing tool server %s failed", config.name, exc_info=True)
            self._set(TestState.ERROR, f"the test itself failed: {exc}")
            return
        self.report = report
        self._set(TestState.DONE, summary(report))

    def _set(self, state: TestState, message: str) -> None:
        self.state, self.message = state, message
        self._on_change()


def summary(report: ServerReport) -> str:
    if report.state is ServerState.READY:
        count = len(report.tools)
        unusable = sum(not t.usable for t in report.tools)
        bad = f", {unusable} with an unusable schema" if unusable else ""
        return f"connected: {count} tool{'s' * (count != 1)}{bad}"
    detail = f": {report.detail}" if report.detail else ""
    return f"{report.state}{detail}"


def secret_lookup(pending: Mapping[str, str], stored: Secret) -> Secret:
    """Secrets for a Test: the ones typed and not yet stored, else the keyring's."""
    return lambda entry: pending[entry] if entry in pending else stored(entry)


# -- the status bar ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Badge:
    """One server in the status bar."""

    name: str
    state: ServerState
    text: str  # "shop ● ready (8)"
    tooltip: str
    held_back: bool = False  # its breaker is open: ready, but not called


class ServerStates:
    """Each configured server's last report, for the status bar: the engine's
    `reports()` at first and after settings change, then each `ToolServerChanged`."""

    def __init__(self, reports: Callable[[], list[ServerReport]],
                 now: Callable[[], float] = time.time) -> None:
        self._reports = reports
        self._now = now
        self.by_name: dict[str, ServerReport] = {}
        self.on_change: list[Callable[[], None]] = []
        self.reload()

    def reload(self) -> None:
        self.by_name = {r.name: r for r in self._reports()}
        self._changed()

    def update(self, report: ServerReport) -> None:
        self.by_name[report.name] = report
        self._changed()

    def _changed(self) -> None:
        for callback in list(self.on_change):
            callback()

    def badges(self) -> list[Badge]:
        return [badge(r, self._now()) for r in self.by_name.values()]


def badge(report: ServerReport, now: float) -> Badge:
    offered = sum(t.offered for t in report.tools)
    count = f" ({offered})" if report.state is ServerState.READY else ""
    text = f"{report.name} ● {report.state}{count}"
    if report.breaker:
        text = f"{report.name} ● breaker open"
    lines = [f"{report.name} ({report.transport}): {report.state}"]
    if report.since is not None:
        lines.append(f"since {_when(report.since, now)}")
    if report.detail:
        lines.append(report.detail)
    if report.breaker:
        since = f" (since {_when(report.breaker_since, now)})" if report.breaker_since else ""
        lines.append(report.breaker + since)
    if report.reconnects:
        lines.append(f"reconnected {report.reconnects} time{'s' * (report.reconnects != 1)}")
    if report.state is ServerState.READY:
        lines.append(f"{offered} of {len(report.tools)} tools offered to the LLM")
    return Badge(report.name, report.state, text, "\n".join(lines), bool(report.breaker))


def _when(since: float, now: float) -> str:
    moment = datetime.fromtimestamp(since)
    ago = max(0, int(now - since))
    if ago < 60:
        said = f"{ago} s ago"
    elif ago < 3600:
        said = f"{ago // 60} min ago"
    else:
        said = f"{ago // 3600} h {ago % 3600 // 60} min ago"
    return f"{moment:%H:%M:%S} ({said})"

