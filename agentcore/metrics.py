"""Running totals of what the engine did: route mix, latency, cost, escalations.

A plain event subscriber; the replay prints it, the console charts it.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from agentcore.events import (
    BreakerChanged,
    Event,
    RequestAnswered,
    RequestEscalated,
    RequestRejected,
)
from agentcore.models import Outcome


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Metrics:
    outcomes: int = 0
    routes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    escalations: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    rungs: Counter[str] = field(default_factory=Counter)  # degradation ladder
    breaker_state: str = "closed"
    breaker_opens: int = 0
    latency_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    dollars: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RequestAnswered | RequestEscalated | RequestRejected):
            self.record(event.outcome)
        elif isinstance(event, BreakerChanged):
            if event.new == "open" and event.old != "open":
                self.breaker_opens += 1
            self.breaker_state = event.new

    def record(self, outcome: Outcome) -> None:
        self.outcomes += 1
        route = str(outcome.route)
        self.routes[route] += 1
        self.statuses[str(outcome.status)] += 1
        self.latency_ms[route].append(outcome.latency_ms)
        self.dollars += outcome.usage.dollars
        self.prompt_tokens += outcome.usage.prompt_tokens
        self.completion_tokens += outcome.usage.completion_tokens
        if outcome.escalation_reason is not None:
            self.escalations[str(outcome.escalation_reason)] += 1
        if outcome.rung is not None:
            self.rungs[outcome.rung] += 1
        if outcome.errors and str(outcome.status) == "rejected":
            self.rejections[outcome.errors[0].removeprefix("rejected: ")] += 1

    def summary(self) -> str:
        lines = [f"{'route':<10}{'requests':>10}{'share':>8}{'p50 ms':>10}{'p95 ms':>10}"
                 f"{'p99 ms':>10}"]
        for route, count in self.routes.most_common():
            lat = self.latency_ms[route]
            lines.append(f"{route:<10}{count:>10}{count / self.outcomes:>8.1%}"
                         f"{percentile(lat, 50):>10.2f}{percentile(lat, 95):>10.2f}"
                         f"{percentile(lat, 99):>10.2f}")
        mean = self.dollars / self.outcomes if self.outcomes else 0.0
        lines.append(f"\nrequests {self.outcomes}: "
                     + ", ".join(f"{k} {v}" for k, v in self.statuses.most_common()))
        lines.append(f"cost ${self.dollars:.4f} total, ${mean:.6f} per request "
                     f"({self.prompt_tokens} prompt + {self.completion_tokens} completion tokens)")
        if self.escalations:
            lines.append("escalations: " + ", ".join(
                f"{k} {v}" for k, v in self.escalations.most_common()))
        if self.rungs:
            lines.append("degraded, by rung: " + ", ".join(
                f"{k} {v}" for k, v in self.rungs.most_common()))
        if self.breaker_opens:
            lines.append(f"LLM circuit breaker: opened {self.breaker_opens} times, "
                         f"now {self.breaker_state}")
        if self.rejections:
            lines.append("rejected: " + ", ".join(
                f"{k} {v}" for k, v in self.rejections.most_common()))
        return "\n".join(lines)
