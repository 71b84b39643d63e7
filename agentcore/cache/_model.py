"""What the cache holds and reports: answers, hits, counters, and the keys."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from agentcore.models import Route

Tier = Literal["l1", "l2"]

ALL_TAG = "*"  # in the invalidation log: every entry goes


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    answer: str
    intent: str | None
    rule_id: str | None
    route: Route  # how the answer was first produced (rule or llm), not the cache tier
    tags: tuple[str, ...]  # entities it depends on: `order:12345`, `customer:42`, ...
    stored_at: float  # wall-clock seconds since the epoch
    policy: str = "shared"
    customer_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"answer": self.answer, "intent": self.intent, "rule_id": self.rule_id,
                "route": str(self.route), "policy": self.policy,
                "customer_id": self.customer_id}

    @classmethod
    def from_json(cls, data: dict[str, Any], tags: tuple[str, ...],
                  stored_at: float) -> CachedAnswer:
        return cls(answer=data["answer"], intent=data.get("intent"),
                   rule_id=data.get("rule_id"), route=Route(data.get("route", "llm")),
                   tags=tags, stored_at=stored_at, policy=data.get("policy", "shared"),
                   customer_id=data.get("customer_id"))


class CacheHit(NamedTuple):
    tier: Tier
    cached: CachedAnswer

    @property
    def route(self) -> Route:
        """The route an outcome served from this hit reports."""
        return Route.CACHE_L1 if self.tier == "l1" else Route.CACHE_L2

    # What an outcome (or the ladder's rung) takes from a hit, without unpacking it.
    @property
    def answer(self) -> str:
        return self.cached.answer

    @property
    def intent(self) -> str | None:
        return self.cached.intent

    @property
    def rule_id(self) -> str | None:
        return self.cached.rule_id


@dataclass(frozen=True, slots=True)
class CacheStats:
    l1_hits: int
    l2_hits: int
    misses: int
    stores: int
    stale_skips: int  # answers not stored: their data changed while they were computed
    evictions: int  # L1 entries pushed out by the entry or byte bound
    invalidations: int  # L1 entries dropped because a tag they carry changed
    l1_entries: int
    l1_bytes: int
    l2_entries: int

    @property
    def hit_rate(self) -> float:
        lookups = self.l1_hits + self.l2_hits + self.misses
        return (self.l1_hits + self.l2_hits) / lookups if lookups else 0.0


def normalise(text: str) -> str:
    """The guard's normalisation (NFKC, whitespace collapsed, lower case).

    Applied again here so a caller that forgets it cannot split one question
    into several keys; on the guard's output it is a no-op costing < 1 µs."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def shared_key(text: str) -> str:
    return "s:" + text


def customer_key(customer_id: int, text: str) -> str:
    return f"c:{customer_id}:{text}"
