"""The engine's Prometheus metrics, on a registry of its own.

Two sources, as Prometheus advises: what happened is counted from the engine's
bus as it happens (requests, latencies, tokens, dollars, rule hits, breaker
moves); what is, is read from the engine when scraped (escalations waiting and
the oldest one's age, lapsed claims, breaker state, the outbox's pending and dead
deliveries), by a custom collector, so a gauge is never stale and a second
console's work on the same database shows.

A registry per engine, not the library's global one: two engines in one process
(tests, a console hosting an intake beside its own) never collide.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from agentcore.escalation_model import EscalationState
from agentcore.events import (
    BreakerChanged,
    Event,
    RequestAccepted,
    RequestAnswered,
    RequestEscalated,
    RequestRejected,
)
from agentcore.models import Outcome
from agentcore.resilience import BreakerMode, BreakerState

if TYPE_CHECKING:
    from agentcore.engine import Engine

log = logging.getLogger("agentcore.telemetry")

# From a fast-path answer (well under a millisecond) to a slow-path one that used its
# whole LLM budget (tens of seconds): a bucket at each step an SLO is likely drawn.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# Rule ids and model names are the operator's, and few; a runaway rule book (or a bug
# labelling by something unbounded) must not blow up the scrape: past this many
# distinct values, the rest count under "other".
MAX_LABEL_VALUES = 200
OTHER = "other"


class _Bounded:
    """The label values seen so far, at most `limit` of them; the rest are OTHER."""

    def __init__(self, limit: int = MAX_LABEL_VALUES) -> None:
        self._seen: set[str] = set()
        self._limit = limit

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if len(self._seen) >= self._limit:
            return OTHER
        self._seen.add(value)
        return value


class EngineMetrics:
    """The metrics of one engine: `registry` is what /metrics exposes. Subscribes to the
    engine's bus at once; `close()` stops listening."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("agentcore_requests", "Requests finished, by route and status",
                                ["route", "status"], registry=r)
        self.latency = Histogram("agentcore_request_duration_seconds",
                                 "Time from submit to outcome, by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("agentcore_requests_in_flight",
                               "Requests accepted and not yet answered or escalated",
                               registry=r)
        self.tokens = Counter("agentcore_llm_tokens", "LLM tokens used, by model and kind",
                              ["model", "kind"], registry=r)
        self.dollars = Counter("agentcore_llm_cost_dollars",
                               "Dollars spent on LLM calls, by model (the settings' prices)",
                               ["model"], registry=r)
        self.llm_calls = Counter("agentcore_llm_calls", "LLM calls made, by model and result",
                                 ["model", "result"], registry=r)
        self.rule_hits = Counter("agentcore_rule_hits",
                                 "Requests answered by a rule's template, by rule id and route",
                                 ["rule", "route"], registry=r)
        self.breaker_changes = Counter("agentcore_llm_breaker_transitions",
                                       "Moves of the LLM circuit breaker, by the state entered",
                                       ["state"], registry=r)
        self._rules = _Bounded()
        self._models = _Bounded()
        self.state = _StateCollector(engine)
        r.register(self.state)
        self._unsubscribe = engine.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RequestAccepted):
            self.in_flight.inc()
        elif isinstance(event, RequestAnswered | RequestEscalated):
            self.in_flight.dec()
            self._finished(event.outcome)
        elif isinstance(event, RequestRejected):
            # Turned away by the guard before acceptance (or a duplicate id): never in flight.
            self._finished(event.outcome)
        elif isinstance(event, BreakerChanged) and event.old != event.new:
            self.breaker_changes.labels(event.new).inc()

    def _finished(self, outcome: Outcome) -> None:
        route = str(outcome.route)
        self.requests.labels(route, str(outcome.status)).inc()
        self.latency.labels(route).observe(outcome.latency_ms / 1000.0)
        if outcome.rule_id is not None:
            self.rule_hits.labels(self._rules(outcome.rule_id), route).inc()
        for span in outcome.spans:
            model = span.attributes.get("model")
            if model is None or span.parent != "llm_loop":
                continue  # not an LLM call (lookups and tools carry no model)
            label = self._models(str(model))
            self.llm_calls.labels(label, "error" if span.error else "ok").inc()
            prompt = span.attributes.get("prompt_tokens")
            if prompt is None:
                continue  # the call failed: nothing was billed
            self.tokens.labels(label, "prompt").inc(int(prompt))
            self.tokens.labels(label, "completion").inc(
                int(span.attributes.get("completion_tokens") or 0))
            self.dollars.labels(label).inc(float(span.attributes.get("dollars") or 0.0))


class _StateCollector(Collector):
    """Gauges read from the engine at scrape time: the escalation queue and the breaker.
    A few indexed queries on the engine's own connection, on the loop: a scrape costs
    about what one queue refresh of the console does."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lapsed: set[tuple[int, float]] = set()  # the lapses seen at the last scrape
        self._expiries = 0

    def describe(self) -> Iterator[Metric]:
        return iter(())  # described by collecting: nothing is registered twice

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._queue()
        except Exception:  # a closed or broken store: /readyz says so, /metrics still answers
            log.warning("escalation gauges not read", exc_info=True)
        try:
            counts = self.engine.store.outbox.counts()
        except Exception:
            log.warning("outbox gauges not read", exc_info=True)
        else:
            outbox = GaugeMetricFamily(
                "agentcore_outbox_deliveries", "Deliveries owed to other servers (callbacks, "
                "help-desk posts): pending, still tried; dead, given up on until an operator "
                "retries them (agentcore outbox)", labels=["state"])
            for state in ("pending", "dead"):
                outbox.add_metric([state], counts[state])
            yield outbox
        yield from self._breaker()

    def _queue(self) -> Iterator[Metric]:
        engine = self.engine
        now = engine.clock.now()
        items = engine.store.escalations
        waiting = GaugeMetricFamily("agentcore_escalations", "Escalations by state (a lapsed "
                                    "claim reads as open: anyone may take it)", labels=["state"])
        for state in (EscalationState.OPEN, EscalationState.CLAIMED,
                      EscalationState.HANDED_BACK):
            waiting.add_metric([str(state)], items.count(now, state))
        yield waiting
        oldest = items.list(now, EscalationState.OPEN, limit=1)
        yield GaugeMetricFamily("agentcore_escalations_waiting",
                                "Escalations open, waiting for an operator to take them",
                                value=items.count(now, EscalationState.OPEN))
        yield GaugeMetricFamily(
            "agentcore_escalation_oldest_waiting_age_seconds",
            "Age of the oldest open escalation; 0 when none waits",
            value=max(0.0, now - oldest[0].created_at) if oldest else 0.0)
        # A lapse writes nothing (the row just reads as open from its lease's end), so the
        # counter counts each (item, lease end) once as scrapes see it. A lapse taken again
        # before any scrape saw it is missed; after a restart the lapses still standing
        # count once more, as any counter's reset (rate() handles it).
        lapsed = set(items.lapsed_claims(now))
        self._expiries += len(lapsed - self._lapsed)
        self._lapsed = lapsed
        expiries = CounterMetricFamily("agentcore_escalation_lease_expiries",
                                       "Claims whose lease ended before the operator acted")
        expiries.add_metric([], self._expiries)
        yield expiries

    def _breaker(self) -> Iterator[Metric]:
        breaker = self.engine.breaker
        state = GaugeMetricFamily("agentcore_llm_breaker_state",
                                  "The LLM circuit breaker: 1 for the state it is in",
                                  labels=["state"])
        current = breaker.state
        for s in BreakerState:
            state.add_metric([str(s)], 1.0 if s is current else 0.0)
        yield state
        mode = GaugeMetricFamily("agentcore_llm_breaker_mode",
                                 "Who drives the breaker: 1 for auto, or an operator's force",
                                 labels=["mode"])
        for m in BreakerMode:
            mode.add_metric([str(m)], 1.0 if m is breaker.mode else 0.0)
        yield mode
