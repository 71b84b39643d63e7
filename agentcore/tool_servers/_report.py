"""What a tool server is doing, and what each tool the agent would offer is, in
plain data for the CLI (`agentcore tools`), the Settings dialog's "Test" and the
console's status bar."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class ServerState(StrEnum):
    STARTING = "starting"  # started, not yet connected and listed
    READY = "ready"  # connected, tools listed
    RECONNECTING = "reconnecting"  # was ready, lost; trying again with backoff
    FAILED = "failed"  # gave up (hung on start, refused, bad command): `detail` says why
    DISABLED = "disabled"  # switched off in the settings


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """One tool as the agent would offer it."""

    llm_name: str  # as the LLM sees it (prefixed)
    source: str  # "domain", or the server's name
    name: str  # its own name, on the server or in the domain
    description: str
    writes: bool
    kind_from: str  # why read or write: "annotations", "operator", "unknown: a write", "domain"
    policy: str | None  # a write's policy in words; None: an operator approves each call
    public: bool = False  # offered to requests without a customer
    problems: tuple[str, ...] = ()  # schema problems (usable ones were cleaned)
    usable: bool = True  # its schema could be made acceptable to strict endpoints
    offered: bool = True  # allowed, usable and not shadowed: the LLM sees it

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.llm_name, "source": self.source, "tool": self.name,
                "description": self.description, "kind": "write" if self.writes else "read",
                "kind_from": self.kind_from, "policy": self.policy, "public": self.public,
                "problems": list(self.problems), "usable": self.usable,
                "offered": self.offered}


@dataclass(frozen=True, slots=True)
class ServerReport:
    """A server's state, and its tools as of its last listing."""

    name: str
    transport: str  # "stdio" or "http"
    state: ServerState
    detail: str = ""  # why it failed, what it is waiting for; empty when ready
    tools: tuple[ToolInfo, ...] = field(default_factory=tuple)
    since: float | None = None  # wall-clock time of the last state change
    reconnects: int = 0
    breaker: str = ""  # "breaker open: ..." while calls to it are held back; "" otherwise
    breaker_since: float | None = None  # wall-clock time the breaker opened

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "transport": self.transport, "state": str(self.state),
                "detail": self.detail, "since": self.since, "reconnects": self.reconnects,
                "breaker": self.breaker or None, "breaker_since": self.breaker_since,
                "tools": [t.as_dict() for t in self.tools]}
