"""Tool servers as the settings declare them: MCP servers the agent takes tools from.

A server is a name and either a command (stdio: `command`, `args`, `env`) or a URL
(Streamable HTTP: `url`, `headers`). Secrets never sit in the settings file: a
value written `keyring:ENTRY` is read from the keyring entry ENTRY when the server
is started, and a header or variable whose name says it holds a secret (a token, a
key, a password, `Authorization`) is refused unless it is such a reference.

Which tools are writes, and what lets a write run without an operator, is the
operator's to declare here: `kinds` marks a tool read or write over what its MCP
annotations say (a tool that says nothing is a write); `writes` gives a write its
policy, "ask" (always an operator), `limits` on named arguments, or `server_policy`
(the server holds itself to it at the write, in words; the operator vouches for
that); a write with no entry asks every time. `allow`, `kinds`, `public` and
`writes` name a tool by its own name on the server; the name the LLM sees (with
the prefix) is taken too, and stored as the server's own.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KEYRING_PREFIX = "keyring:"
NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
# OpenAI's rule for a function's name: what the LLM sees must pass it.
LLM_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SECRET_NAME = re.compile(r"(?i)authorization|token|secret|passw|api[-_]?key|(^|[-_])key$"
                          r"|cookie|credential")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class ArgumentLimit(_Model):
    """Bounds on one named argument of a write: outside them, it waits for an operator."""

    min: float | None = None
    max: float | None = None
    one_of: list[str | int] | None = Field(None, min_length=1)
    max_length: int | None = Field(None, ge=0)


class WritePolicy(_Model):
    """What lets one write run without an operator. Exactly one of: `ask` (never),
    `limits` (every named argument within its bounds), `server_policy` (the server
    enforces this policy at the write itself)."""

    ask: bool = False
    limits: dict[str, ArgumentLimit] = Field(default_factory=dict)
    server_policy: str | None = Field(None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_kind(self) -> WritePolicy:
        kinds = sum((self.ask, bool(self.limits), self.server_policy is not None))
        if kinds != 1:
            raise ValueError("a write's policy is one of 'ask', {\"limits\": {...}} or "
                             "{\"server_policy\": \"...\"}")
        return self

    @property
    def runs_alone(self) -> bool:
        """Whether the write may ever run on the model's say-so."""
        return not self.ask

    def describe(self) -> str:
        if self.ask:
            return "an operator approves every call"
        if self.server_policy is not None:
            return f"the server holds it to: {self.server_policy}"
        return "runs alone once per request, only with " + "; ".join(
            f"{name} {_bounds(limit)}" for name, limit in self.limits.items())


def _bounds(limit: ArgumentLimit) -> str:
    parts = []
    if limit.min is not None:
        parts.append(f">= {limit.min:g}")
    if limit.max is not None:
        parts.append(f"<= {limit.max:g}")
    if limit.one_of is not None:
        parts.append("one of " + ", ".join(map(str, limit.one_of)))
    if limit.max_length is not None:
        parts.append(f"at most {limit.max_length} characters")
    return " and ".join(parts) or "as given"


class ToolServerConfig(_Model):
    name: str = Field(pattern=NAME_PATTERN, description="names the server in tool names, "
                      "traces and the status bar")
    command: str | None = Field(None, min_length=1, description="stdio: the program to start")
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict, description="stdio: extra environment; "
                                "a secret as keyring:ENTRY")
    cwd: str | None = None
    url: str | None = Field(None, description="Streamable HTTP: the server's MCP endpoint")
    headers: dict[str, str] = Field(default_factory=dict,
                                    description="HTTP headers; a secret as keyring:ENTRY")
    enabled: bool = True
    allow: list[str] | None = Field(None, description="the server's tools offered (by their "
                                    "own names); None: all")
    prefix: str | None = Field(None, description="put before each tool's name for the LLM; "
                               "None: the server's name and '__'")
    kinds: dict[str, Literal["read", "write"]] = Field(
        default_factory=dict, description="the operator's word on a tool over its "
        "annotations")
    public: list[str] = Field(default_factory=list, description="reads that touch no "
                              "customer's records: offered to anonymous requests too")
    writes: dict[str, WritePolicy | Literal["ask"]] = Field(default_factory=dict)
    replaces_domain_tools: bool = Field(False, description="a tool of the same name as one of "
                                        "the domain's replaces it (the demo shop over MCP)")
    timeout_s: float = Field(10.0, gt=0, le=600, description="per tool call")
    start_timeout_s: float = Field(15.0, gt=0, le=600,
                                   description="to start, connect and list the tools")

    @model_validator(mode="before")
    @classmethod
    def _own_tool_names(cls, data: Any) -> Any:
        """An entry written with the LLM's name ('desk__refund') would match no tool and
        do nothing, silently: it is taken as the server's own name ('refund')."""
        if not isinstance(data, dict) or not isinstance(data.get("name"), str):
            return data
        prefix = data.get("prefix")
        prefix = f"{data['name']}__" if prefix is None else prefix
        if not isinstance(prefix, str) or not prefix:
            return data

        def own(tool: Any) -> Any:
            return tool[len(prefix):] if isinstance(tool, str) and tool.startswith(prefix) \
                and len(tool) > len(prefix) else tool

        data = dict(data)
        for field in ("allow", "public"):
            if isinstance(data.get(field), list):
                data[field] = [own(t) for t in data[field]]
        for field in ("kinds", "writes"):
            if isinstance(data.get(field), dict):
                data[field] = {own(t): v for t, v in data[field].items()}
        return data

    @model_validator(mode="after")
    def _one_transport(self) -> ToolServerConfig:
        if (self.command is None) == (self.url is None):
            raise ValueError(f"tool server {self.name!r}: give either a command (stdio) or "
                             "a url (Streamable HTTP)")
        if self.url is None and self.headers:
            raise ValueError(f"tool server {self.name!r}: headers go with a url")
        if self.command is None and (self.env or self.args or self.cwd):
            raise ValueError(f"tool server {self.name!r}: args, env and cwd go with a command")
        for where, values in (("header", self.headers), ("environment variable", self.env)):
            for key, value in values.items():
                if _SECRET_NAME.search(key) and not value.startswith(KEYRING_PREFIX):
                    raise ValueError(
                        f"tool server {self.name!r}: the {where} {key} holds a secret; store "
                        f"it in the keyring and write it as {KEYRING_PREFIX}ENTRY")
        return self

    @field_validator("url")
    @classmethod
    def _an_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("a tool server's url starts with http:// or https:// and names "
                             "a host, e.g. http://127.0.0.1:8765/mcp")
        if parts.username or parts.password:
            raise ValueError("put a tool server's credentials in the keyring, not in its url")
        for key, _ in parse_qsl(parts.query, keep_blank_values=True):
            if _SECRET_NAME.search(key):
                raise ValueError(f"the url's query parameter {key} holds a secret: a url is "
                                 "logged and shown; send it as a header from the keyring "
                                 f"({KEYRING_PREFIX}ENTRY) instead")
        return value.strip()

    @property
    def transport(self) -> Literal["stdio", "http"]:
        return "stdio" if self.command is not None else "http"

    @property
    def tool_prefix(self) -> str:
        return f"{self.name}__" if self.prefix is None else self.prefix

    def policy_of(self, tool: str) -> WritePolicy:
        """A write's policy: declared, else "ask"."""
        found = self.writes.get(tool, "ask")
        return WritePolicy(ask=True) if found == "ask" else found

    def secrets(self) -> list[str]:
        """The keyring entries this server's start reads."""
        return [v[len(KEYRING_PREFIX):] for v in (*self.env.values(), *self.headers.values())
                if v.startswith(KEYRING_PREFIX)]
