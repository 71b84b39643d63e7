"""The degradation ladder: never fail completely when the LLM can't be had.

When the slow path fails for want of an LLM (unreachable, or shut by the
breaker), the request goes down, one rung at a time:

    cached answer for the intent (when a cache is wired in)
    -> a rule's template for the intent (a rule that needs no order number)
    -> the static answer for the intent (the domain's static_answers.yaml)
    -> a human (the caller escalates)

The intent is the classifier's when it ran, else that of the rule that matched and
could not answer, else the domain's keyword guess. Failures that are about the
request itself (a policy violation, a customer asking for a person, malformed
output) are not degraded: they go to a human directly; so does a run that had
already written (a refund) when the LLM was lost, which a canned answer would hide.
The engine tells each outcome why the LLM could not be had (`Outcome.llm_cause`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from agentcore.errors import NoDeterministicAnswer
from agentcore.handlers import HandlerContext
from agentcore.models import EscalationReason, Route
from agentcore.router import Router, RuleMatch

log = logging.getLogger("agentcore.ladder")

DEGRADABLE = frozenset({EscalationReason.LLM_UNAVAILABLE, EscalationReason.BREAKER_OPEN})


class IntentCache(Protocol):
    def lookup_by_intent(self, intent: str, customer_id: int | None) -> Any | None: ...


@dataclass(frozen=True, slots=True)
class Rung:
    name: str  # "cache", "template", "static"
    route: Route
    answer: str
    intent: str
    rule_id: str | None = None


def load_static_answers(resources: Path) -> dict[str, str]:
    path = resources / "static_answers.yaml"
    with path.open(encoding="utf-8") as fh:
        return {str(k): str(v) for k, v in (yaml.safe_load(fh) or {}).items()}


class Ladder:
    def __init__(self, router: Callable[[], Router], classify: Callable[[str], tuple[str, float]],
                 static_answers: dict[str, str], cache: IntentCache | None = None) -> None:
        self._router = router  # the current router, read at each descent
        self.classify = classify
        self.static_answers = static_answers
        self.cache = cache

    def descend(self, text: str, customer_id: int | None, intent: str | None) -> Rung | None:
        """The highest rung that can answer, or None: a human must."""
        if intent is None:
            intent, _ = self.classify(text)
        if self.cache is not None:
            cached = self.cache.lookup_by_intent(intent, customer_id)
            if cached is not None:
                tier = getattr(cached, "tier", "l1")
                route = Route.CACHE_L2 if tier == "l2" else Route.CACHE_L1
                return Rung("cache", route, cached.answer, intent,
                            getattr(cached, "rule_id", None))
        router = self._router()
        for rule in router.fallback_rules(intent):
            context = HandlerContext(customer_id, {})
            try:
                answer = router.answer(RuleMatch(rule, {}, (rule.id,)), context)
            except NoDeterministicAnswer:
                continue
            return Rung("template", Route.TEMPLATE, answer, intent, rule.id)
        static = self.static_answers.get(intent)
        if static:
            return Rung("static", Route.STATIC, static, intent)
        return None
