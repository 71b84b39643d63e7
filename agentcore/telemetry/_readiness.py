"""Is this engine fit to take requests? What /readyz answers.

Not ready (503): what would lose or refuse a request a load balancer sent here —
the engine database closed, gone, read-only, or refusing outcome writes.
Ready but degraded (200, said in `degraded`): the LLM's breaker open, forced or
tripped. The fast path, the cache and the degradation ladder still answer, and
anything else reaches a human through the queue; pulling the instance out of
rotation would take all of that down with the LLM, and every instance shares
the same endpoint anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcore.resilience import BreakerMode, BreakerState

if TYPE_CHECKING:
    from agentcore.engine import Engine


@dataclass(frozen=True, slots=True)
class Readiness:
    problems: list[str] = field(default_factory=list)  # any: not ready
    degraded: list[str] = field(default_factory=list)  # ready, with less than all of it

    @property
    def ready(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        return {"ready": self.ready, "problems": self.problems, "degraded": self.degraded}


def readiness(engine: Engine) -> Readiness:
    try:
        problems = engine.store.health()
    except Exception as exc:  # a check that fails is a store nobody should send work to
        problems = [f"the engine database cannot be checked: {type(exc).__name__}: {exc}"]
    # The domain and the rules were loaded by the engine's constructor, which raises
    # rather than build an engine without them: nothing more to ask of them here.
    degraded = []
    breaker = engine.breaker
    if breaker.mode is BreakerMode.FORCED_OPEN:
        degraded.append(f"the LLM is switched off by an operator: {breaker.reason}")
    elif breaker.state is not BreakerState.CLOSED:
        degraded.append(f"the LLM breaker is {breaker.state}: {breaker.reason}")
    return Readiness(problems, degraded)
