"""The agent's world behind one Protocol: what it can look up, do and say.

The engine, the loop, the validator, the ladder, the cache and the console know a
domain only through `Domain`: its tools (reads and writes, each write with the
policy it holds itself to at the write), its fast-path handlers, its intents and
their cache policies, the facts the engine derives from tool results (the demo
shop's refund quote), the cache tags a call reads and the tags a change touches
(announced at once by `watch`, and durably by any process through `change_log`),
a customer's context and what is at stake in an escalation, its default rules,
prompts and static answers, and the effects a request already had.

A domain is chosen with `--domain module:factory` (settings `domain`), or by name
from the entry-point group `hybrid_agent.domains`; the factory is called with the
engine's `Settings` and returns a `Domain`. The demo shop (`agentcore.demo_shop`)
is the default and one implementation among others.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentcore.errors import SettingsError
from agentcore.router import CachePolicy

if TYPE_CHECKING:
    from agentcore.escalation_model import Escalation
    from agentcore.handlers import HandlerSpec
    from agentcore.models import PendingAction
    from agentcore.settings import Settings
    from agentcore.tools import ToolRegistry

log = logging.getLogger("agentcore.domain")

ENTRY_POINT_GROUP = "hybrid_agent.domains"
DEFAULT_DOMAIN = "agentcore.demo_shop:create"

ChangeListener = Callable[[list[str]], None]


@dataclass(frozen=True, slots=True)
class HandlerReads:
    """What a fast-path handler's answer depends on, for the cache: whether it reads
    the requesting customer's records, and the tags of shared data it reads."""

    customer: bool
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CacheTags:
    """How the cache names what an answer depends on (`order:12345`, `customer:42`).

    `entities` maps an argument or a rule's named group (`order_id`) to its tag's
    prefix (`order`): a call or a match naming one depends on that entity. A handler
    or a read tool absent from `handlers` / `read_tools` makes its answer uncachable:
    a miss costs a recomputation, a wrong tag costs a stale answer. Writes are never
    listed: an answer whose path wrote is never cached."""

    handlers: Mapping[str, HandlerReads] = field(default_factory=dict)
    read_tools: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    entities: Mapping[str, str] = field(default_factory=dict)
    customer_prefix: str = "customer"


@dataclass(frozen=True, slots=True)
class FactRecipe:
    """A fact the engine derives itself, so a decision never rests on the model's
    arithmetic: once every read of `inputs` has answered for one entity (the tools
    called with `{key: entity}`), `derive` computes it from the domain's own data.

    The engine also looks up, before the first turn, the entities a message names
    (numbers valid as `key` for the first input tool that the customer may see),
    and an entity a tool call names gets all its inputs fetched in the same turn.
    `propose` turns a fact into the write an operator could approve when a bound
    (the dollar ceiling, the iteration limit) cut a request of one of `intents`
    short; None when the fact allows nothing."""

    kind: str  # names the fact in results and traces: "refund_quote"
    key: str  # the argument that names the entity: "order_id"
    inputs: tuple[str, ...]  # read tools, each called with {key: entity}
    derive: Callable[[int], dict[str, Any] | None]
    prompt_prefix: str  # the line the model reads it under: "Refund quote: "
    intents: frozenset[str] = frozenset()
    propose: Callable[[dict[str, Any], str], PendingAction | None] | None = None


@dataclass(frozen=True, slots=True)
class ContextRecord:
    """One of the customer's records (an order, a loan) as an operator reads it:
    "Order #1042", "Wireless mouse · delivered · placed 2026-11-02", and its money
    side by side ("Paid" 2400, "Refunded" 0, in cents). `about`: the request is about
    this one (named in its text, looked up by the agent, or the pending write's)."""

    title: str
    summary: str = ""
    figures: tuple[tuple[str, int], ...] = ()
    about: bool = False


@dataclass(frozen=True, slots=True)
class CustomerContext:
    """Who wrote, for the operator handling an escalation: a card (name, tier, since
    when, credit, all typed; money in cents) and their records, the ones the request
    is about first (`items`). `facts`, `records` and `columns` are the raw rows, for
    a domain that has nothing typed to say."""

    title: str
    facts: Mapping[str, Any]
    records: Sequence[Mapping[str, Any]] = ()
    columns: Sequence[tuple[str, str]] = ()  # (key in a record, column heading)
    money_columns: frozenset[str] = frozenset()  # keys holding cents
    name: str | None = None
    tier: str | None = None
    since: date | None = None
    credit_cents: int | None = None  # store credit (or what the domain owes them)
    credit_label: str = "Store credit"
    items: Sequence[ContextRecord] = ()


@dataclass(frozen=True, slots=True)
class WriteLimits:
    """What bounds a pending write of money now, for the operator approving it: what
    the policy allows, the ceiling no override passes, what approving the arguments
    as they stand would do, and the figures to show beside them. The write checks
    the same limits again in its own transaction: this is what the operator is told."""

    allowed_cents: int  # what the policy allows
    ceiling_cents: int  # the hard limit, an override included
    approving_cents: int | None  # what these arguments would do; None: not readable
    figures: tuple[tuple[str, int], ...] = ()  # (label, cents) shown side by side
    reason: str = ""  # why the policy allows what it does
    verb: str = "refund"  # what the write does with the money, for the operator
    ceiling: str = "what is left of what was paid"  # what the hard limit is, in words

    def figure(self, label: str) -> int:
        return dict(self.figures)[label]


@dataclass(frozen=True, slots=True)
class Stake:
    """What an escalation is about, for the queue's column: a label and an amount."""

    label: str
    amount: float | None = None


class ChangeSource(Protocol):
    """A durable log of the tags a domain's changes touched, written by any process
    (the demo shop's triggers): the cache follows it, recording in the engine
    database how far it read, so a change made while no engine ran counts too."""

    name: str  # where the cache records how far it read

    def changed(self) -> bool: ...  # anything committed since the last call? (cheap)
    def head(self) -> int: ...  # the newest sequence number
    def since(self, seq: int, limit: int) -> list[tuple[int, str]]: ...


@runtime_checkable
class Domain(Protocol):
    """The agent's world. Implementations keep their own state (a database, a client
    to a backend); the engine calls these from the event loop, so each is quick or
    async (tools)."""

    @property
    def name(self) -> str: ...

    @property
    def resources(self) -> Path:
        """A folder with `rules.yaml`, `static_answers.yaml` and `prompts/`."""
        ...

    @property
    def tools(self) -> ToolRegistry:
        """Every tool the LLM may be offered; a write carries its policy, or none
        (then it only runs once an operator approved it)."""
        ...

    @property
    def handlers(self) -> Mapping[str, HandlerSpec]: ...

    @property
    def intents(self) -> Sequence[str]:
        """The intents the classifier and the model choose from; the last is the
        catch-all."""
        ...

    @property
    def intent_policies(self) -> Mapping[str, CachePolicy]:
        """The cache policy of an LLM answer by intent (settings may override)."""
        ...

    @property
    def keywords(self) -> Mapping[str, Mapping[str, float]]:
        """Keyword weights per intent for the cheap classifier (see keyword_intents)."""
        ...

    @property
    def cache_tags(self) -> CacheTags: ...

    @property
    def facts(self) -> Sequence[FactRecipe]: ...

    def today(self) -> date:
        """The date the domain's data treats as today (told to the model)."""
        ...

    def effects_of(self, request_id: str) -> list[dict[str, Any]]:
        """The writes a request already made (`{"tool", "result"}`), oldest first: a
        re-run is told of them, so it doesn't decide them again."""
        ...

    def recorded_write(self, tool: str, arguments: Mapping[str, Any],
                       request_id: str) -> dict[str, Any] | None:
        """What a request's write did, from the domain's own record, or None if it
        never happened (how an approval cut short by a crash is settled). With
        `as_asked: False` in it, the request did another write of that tool on that
        entity (an approval of these arguments can only replay it: not done)."""
        ...

    def write_limits(self, tool: str, arguments: Mapping[str, Any]) -> WriteLimits | None:
        """What bounds a pending write with these arguments now, for the operator
        approving it; None when it is not about money (a cancellation)."""
        ...

    def customer_context(self, customer_id: int,
                         about: Escalation | None = None) -> CustomerContext | None:
        """The customer's card and records; with `about`, the records that escalation
        is about (named in its text, its tool calls, its pending write) first."""
        ...

    def at_stake(self, item: Escalation) -> Stake:
        """What an escalation is about (money asked, quoted, or an order's total)."""
        ...

    def sample_requests(self) -> list[dict[str, Any]]:
        """Requests to replay as demo traffic (`{"text", "customer_id"?, ...}` rows, as
        `agentcore replay` reads them); may be empty."""
        ...

    def watch(self, listener: ChangeListener) -> Callable[[], None]:
        """Calls `listener` with the tags a change to the domain's data touched, after
        it is committed; returns the unsubscribe function."""
        ...

    def change_log(self) -> ChangeSource | None:
        """The domain's durable log of changes by any process, or None when `watch`
        (this process's own writes) is all it can say."""
        ...

    def close(self) -> None: ...


DomainFactory = Callable[["Settings"], Domain]


def resolve_factory(spec: str) -> DomainFactory:
    """`module:factory`, or the name of an installed domain (entry-point group
    `hybrid_agent.domains`). SettingsError says what is wrong with `spec`."""
    if ":" not in spec:
        found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
        if spec not in found:
            known = ", ".join(sorted(found)) or "none installed"
            raise SettingsError(f"no domain named {spec!r} (installed: {known}); "
                                "give module:factory for one that isn't installed")
        spec = found[spec].value
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a user's module: any failure of its import is theirs to fix
        raise SettingsError(f"domain {spec!r}: cannot import {module_name}: "
                            f"{type(exc).__name__}: {exc}") from exc
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise SettingsError(f"domain {spec!r}: {module_name} has no callable {attribute!r}")
    return factory  # type: ignore[no-any-return]


def installed_domains() -> dict[str, str]:
    """Installed domains by name, as `module:factory`."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load_domain(settings: Settings) -> Domain:
    """The domain the settings name (the demo shop by default), built."""
    spec = settings.domain or DEFAULT_DOMAIN
    factory = resolve_factory(spec)
    try:
        domain = factory(settings)
    except SettingsError:
        raise
    except Exception as exc:  # its backend missing, a wrong signature: said, with which
        log.debug("domain %s failed to build", spec, exc_info=True)
        raise SettingsError(f"domain {spec!r} could not be built: "
                            f"{type(exc).__name__}: {exc}") from exc
    missing = sorted(name for name in vars(Domain) if not name.startswith("_")
                     and not hasattr(domain, name))
    if missing:
        raise SettingsError(f"domain {spec!r} built a {type(domain).__name__}, which lacks "
                            f"{', '.join(missing)} of the Domain protocol "
                            "(agentcore.domain.Domain)")
    log.info("domain %s from %s", domain.name, spec)
    return domain
