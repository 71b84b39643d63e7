"""How much of the traffic the engine answers without an LLM, and how much of that is
right: on the shipped corpus (the rules were written with it) and on the independent
set in data/independent/ (hand-written by someone who never saw the rules; only ever
measured, never tuned on).

Each corpus goes through the whole engine (guard, rules, learned tier, the mock LLM
for the rest) on a fresh copy of the shop. The learned tier is trained the way an
operator trains it, on the engine's own recorded traffic: the shipped corpus answered
once; then also with the development set (data/dev/, hand-written by another writer,
which rules may be tuned on) as 425 requests operators labelled. Each is switched on
at the default threshold. The independent set is read only here, and only its totals
are printed: nothing about its rows is shown to whoever tunes the rules.

A fast-path answer (route `rule` or `learned`) is right when the message asks one
thing and the answer's intent is that thing, and, for a message about several orders,
when the answer speaks of each; a message with two asks answered by the fast path is
wrong (half an answer).

    .venv/bin/python -m bench.generalisation_bench
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import openai

from agentcore import Engine, Request, Settings
from agentcore.guard import normalise
from agentcore.learned import Example, IntentModel, TierBacktest, backtest_holdout, train
from agentcore.mock_llm.transport import mock_transport
from agentcore.replay import load_corpus
from agentcore.settings import MockSettings
from bench.workloads import bench_settings, fresh_data_dir

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "data" / "requests.jsonl"
DEV = REPO / "data" / "dev" / "requests.jsonl"
INDEPENDENT = REPO / "data" / "independent" / "requests.jsonl"
FAST = ("rule", "learned")


@dataclass
class Share:
    """What the fast path did with one corpus."""

    total: int = 0
    by_route: Counter[str] = field(default_factory=Counter)
    right: int = 0
    wrong: int = 0
    by_kind: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def fast(self) -> int:
        return self.right + self.wrong

    def line(self) -> str:
        precision = f"{self.right / self.fast:.1%}" if self.fast else "n/a"
        routes = ", ".join(f"{r} {n}" for r, n in self.by_route.most_common())
        return (f"{self.fast}/{self.total} without an LLM ({self.fast / self.total:.0%}), "
                f"{precision} right ({self.wrong} wrong); routes: {routes}")


def _client() -> openai.AsyncOpenAI:
    http = httpx2.AsyncClient(transport=mock_transport(MockSettings(latency_median_ms=0)))
    return openai.AsyncOpenAI(base_url="http://mock.llm/v1", api_key="mock", http_client=http,
                              max_retries=0)


def _settings() -> Settings:
    settings = bench_settings(fresh_data_dir())
    settings.cache.enabled = False  # the tiers themselves, not repeats of earlier answers
    return settings


def _asks(row: dict[str, Any]) -> list[str]:
    return list(row.get("intents") or [row["expected_intent"]])


def _score(share: Share, row: dict[str, Any], route: str, intent: str | None,
           answer: str) -> None:
    share.total += 1
    share.by_route[route] += 1
    kind = str(row.get("kind", "single"))
    counts = share.by_kind.setdefault(kind, Counter())
    counts["total"] += 1
    if route not in FAST:
        return
    asks = _asks(row)
    orders = [str(o) for o in row.get("orders") or []]
    every = len(orders) <= 1 or all(o in answer for o in orders)
    right = len(asks) == 1 and every and intent == asks[0]
    share.right += right
    share.wrong += not right
    counts["right" if right else "wrong"] += 1


async def _replay(engine: Engine, rows: list[dict[str, Any]], share: Share | None) -> None:
    for row in rows:
        outcome = await engine.submit(Request(row["text"], row.get("customer_id"),
                                              row.get("channel", "chat")))
        if share is not None and row.get("expected_route") != "guard":
            _score(share, row, str(outcome.route), outcome.intent, outcome.answer)


def _labelled(rows: list[dict[str, Any]]) -> list[Example]:
    """The development set as operators' labels: each one-ask request and its intent."""
    return [Example(normalise(r["text"]), r["intents"][0], "label") for r in rows
            if len(r["intents"]) == 1]


@dataclass
class Tier:
    """A trained tier and how it was trained."""

    name: str
    model: IntentModel
    holdout: TierBacktest
    examples: int
    train_s: float


def _trained(name: str, examples: list[Example], threshold: float,
             answerable: frozenset[str]) -> Tier:
    started = time.perf_counter()
    model = train(examples)
    took = time.perf_counter() - started
    holdout = backtest_holdout(examples, threshold=threshold, answerable=answerable)
    return Tier(name, model, holdout, len(examples), took)


def operators_threshold(holdout: TierBacktest, precision: float = 0.98) -> float:
    """The threshold an operator reads off the hold-out curve: the lowest at which the
    tier's answers on text it was not trained on are `precision` right."""
    fits = [p.threshold for p in holdout.curve
            if p.precision is not None and p.precision >= precision and p.coverage > 0]
    return min(fits, default=holdout.threshold)


async def _on(rows: list[dict[str, Any]], tier: Tier | None) -> Share:
    share = Share()
    engine = Engine(_settings(), openai_client=_client())
    try:
        if tier is not None:
            engine.learned.save(tier.model, operators_threshold(tier.holdout), True, "bench",
                                tier.holdout)
        await _replay(engine, rows, share)
    finally:
        await engine.close()
    return share


async def measure() -> tuple[dict[str, Share], list[Tier], float]:
    """Shares by corpus and tier, the tiers, and the threshold they ran at."""
    shares: dict[str, Share] = {"shipped": Share()}
    trainer = Engine(_settings(), openai_client=_client())
    try:
        await _replay(trainer, load_corpus(SHIPPED), shares["shipped"])
        recorded = trainer.learned.training_examples()
        threshold = trainer.settings.learned.threshold
        answerable = trainer.router.answerable_intents()
    finally:
        await trainer.close()
    dev = load_corpus(DEV)
    tiers = [_trained("recorded traffic", recorded, threshold, answerable),
             _trained("recorded traffic + labelled dev set", [*recorded, *_labelled(dev)],
                      threshold, answerable)]
    shares["dev, rules alone"] = await _on(dev, None)
    independent = load_corpus(INDEPENDENT)
    shares["independent, rules alone"] = await _on(independent, None)
    for tier in tiers:
        shares[f"independent, rules + tier on {tier.name}"] = await _on(independent, tier)
    return shares, tiers, threshold


def run(results: list[tuple[str, str, str]]) -> None:
    shares, tiers, _default = asyncio.run(measure())
    notes = {"shipped": "in-sample: the rules were written with it",
             "dev, rules alone": "in-sample: the rules are tuned on it",
             "independent, rules alone": "goal: >= 60 % without an LLM, >= 98 % right"}
    for tier in tiers:
        chosen = operators_threshold(tier.holdout)
        point = next(p for p in tier.holdout.curve if p.threshold == chosen)
        notes[f"independent, rules + tier on {tier.name}"] = (
            f"tier trained on {tier.examples} examples in {tier.train_s:.1f} s, at "
            f"{chosen:g}: the lowest threshold its hold-out answers >= 98 % right at "
            f"({point.coverage:.0%} answered, {point.precision or 0:.1%} right)")
    for name, share in shares.items():
        results.append((f"fast path, {name}", share.line(), notes.get(name, "")))
    best = shares[f"independent, rules + tier on {tiers[-1].name}"]
    for kind, counts in sorted(best.by_kind.items()):
        fast = counts["right"] + counts["wrong"]
        results.append((f"  independent, rules + tier, {kind}",
                        f"{fast}/{counts['total']} without an LLM, {counts['wrong']} wrong", ""))


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    results: list[tuple[str, str, str]] = []
    run(results)
    for name, value, note in results:
        print(f"{name}: {value}" + (f"  [{note}]" if note else ""))
    print(json.dumps({"rows": len(results)}))


if __name__ == "__main__":
    main()
