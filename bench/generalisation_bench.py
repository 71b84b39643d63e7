"""How much of the traffic the engine answers without an LLM, and how much of that is
right: on the shipped corpus (the rules were written with it) and on the independent
set in data/independent/ (hand-written by someone who never saw the rules; only ever
measured, never tuned on).

Both corpora go through the whole engine (guard, rules, learned tier, the mock LLM
for the rest) on a fresh copy of the shop each. The learned tier is trained the way
an operator trains it: on the engine's own recorded traffic, here the shipped corpus
answered once, then switched on at the default threshold. The independent set is
read only here, and only its totals are printed: nothing about its rows is shown to
whoever tunes the rules.

A fast-path answer (route `rule` or `learned`) is right when the message asks one
thing and the answer's intent is that thing; a message with two asks, or about
several orders, answered by the fast path is wrong (half an answer).

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
from agentcore.learned import backtest_holdout, train
from agentcore.mock_llm.transport import mock_transport
from agentcore.replay import load_corpus
from agentcore.settings import MockSettings
from bench.workloads import bench_settings, fresh_data_dir

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "data" / "requests.jsonl"
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


def _score(share: Share, row: dict[str, Any], route: str, intent: str | None) -> None:
    share.total += 1
    share.by_route[route] += 1
    kind = str(row.get("kind", "single"))
    counts = share.by_kind.setdefault(kind, Counter())
    counts["total"] += 1
    if route not in FAST:
        return
    asks = _asks(row)
    several = len(row.get("orders") or []) > 1
    right = len(asks) == 1 and not several and intent == asks[0]
    share.right += right
    share.wrong += not right
    counts["right" if right else "wrong"] += 1


async def _replay(engine: Engine, rows: list[dict[str, Any]], share: Share | None) -> None:
    for row in rows:
        outcome = await engine.submit(Request(row["text"], row.get("customer_id"),
                                              row.get("channel", "chat")))
        if share is not None and row.get("expected_route") != "guard":
            _score(share, row, str(outcome.route), outcome.intent)


async def measure() -> tuple[Share, Share, Share, dict[str, Any]]:
    """(shipped, independent by rules alone, independent with the learned tier, facts)."""
    shipped, rules_only, with_tier = Share(), Share(), Share()
    facts: dict[str, Any] = {}
    trainer = Engine(_settings(), openai_client=_client())
    try:
        await _replay(trainer, load_corpus(SHIPPED), shipped)
        examples = trainer.learned.training_examples()
        started = time.perf_counter()
        model = train(examples)
        facts["train_s"] = time.perf_counter() - started
        threshold = trainer.settings.learned.threshold
        answerable = trainer.router.answerable_intents()
        holdout = backtest_holdout(examples, threshold=threshold, answerable=answerable)
        facts.update(examples=len(examples), threshold=threshold,
                     holdout=holdout.summary())
    finally:
        await trainer.close()
    independent = load_corpus(INDEPENDENT)
    for share, tier_on in ((rules_only, False), (with_tier, True)):
        engine = Engine(_settings(), openai_client=_client())
        try:
            if tier_on:
                engine.learned.save(model, threshold, True, "bench", holdout)
            await _replay(engine, independent, share)
        finally:
            await engine.close()
    return shipped, rules_only, with_tier, facts


def run(results: list[tuple[str, str, str]]) -> None:
    shipped, rules_only, with_tier, facts = asyncio.run(measure())
    results.append(("fast path on the shipped corpus (rules written with it)",
                    shipped.line(), "in-sample"))
    results.append(("fast path on the independent set, rules alone", rules_only.line(),
                    "goal: >= 60 % without an LLM, >= 98 % of those right"))
    results.append(("fast path on the independent set, rules + learned tier",
                    with_tier.line(), f"tier trained on {facts['examples']} recorded "
                    f"requests in {facts['train_s']:.1f} s, threshold {facts['threshold']}; "
                    f"its hold-out: {facts['holdout']}"))
    for kind, counts in sorted(with_tier.by_kind.items()):
        fast = counts["right"] + counts["wrong"]
        results.append((f"  independent, {kind}",
                        f"{fast}/{counts['total']} without an LLM, {counts['wrong']} wrong",
                        ""))


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    results: list[tuple[str, str, str]] = []
    run(results)
    for name, value, note in results:
        print(f"{name}: {value}" + (f"  [{note}]" if note else ""))
    print(json.dumps({"rows": len(results)}))


if __name__ == "__main__":
    main()
