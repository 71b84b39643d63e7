"""The learned tier: inference per request and training on 100,000 recorded requests.

1. Inference: the tier's `predict` over the shipped corpus's texts (normalised as
   the guard does), against one RE2 router pass over the same texts in the same run
   (the rule tier the learned one sits behind). Warm: every n-gram seen once
   already (its column memoised); cold: a fresh model, each n-gram hashed in Python.
2. Training: 100,000 labelled requests synthesised from the shipped corpus
   (`data/requests.jsonl`, its expected intents) with light variations (other
   order numbers, a greeting or a sign-off, a dropped, doubled or swapped letter,
   punctuation), deduplicated as training is: seconds and texts per second, for
   `train` alone and for the hold-out backtest an operator runs before saving.

`python -m bench.learned_bench` runs it alone and rewrites its section of RESULTS.md.
"""

from __future__ import annotations

import json
import random
import re
import statistics
import time
from pathlib import Path

from bench.sections import write_stamped

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "data" / "requests.jsonl"
TRAINING = 100_000
ROUNDS = 5
Row = tuple[str, str, str]

_GREETINGS = ("", "", "hi, ", "hello ", "hey there, ", "good morning, ", "hi team - ")
_SIGNOFFS = ("", "", " thanks", " thank you!", " cheers", " regards, sam", " pls help")
_NUMBER = re.compile(r"\d{3,}")


def corpus() -> list[tuple[str, str]]:
    """(text, expected intent) of the shipped corpus's labelled lines."""
    with CORPUS.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [(r["text"], r["expected_intent"]) for r in rows if r.get("expected_intent")]


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 8:
        return text
    i = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return text[:i] + text[i + 1:]  # dropped
    if kind == 1:
        return text[:i] + text[i] + text[i:]  # doubled
    return text[:i - 1] + text[i] + text[i - 1] + text[i + 1:]  # swapped


def synthesise(total: int, seed: int = 1) -> list[tuple[str, str]]:
    """`total` (text, intent) pairs varied from the corpus, as traffic would repeat it."""
    rng = random.Random(seed)
    base = corpus()
    out: list[tuple[str, str]] = []
    while len(out) < total:
        text, intent = rng.choice(base)
        text = _NUMBER.sub(lambda m: str(rng.randrange(10 ** (len(m[0]) - 1),
                                                       10 ** len(m[0]))), text)
        if rng.random() < 0.3:
            text = _typo(text, rng)
        text = rng.choice(_GREETINGS) + text + rng.choice(_SIGNOFFS)
        if rng.random() < 0.2:
            text = text.rstrip("?!.") + rng.choice(("?", "??", "!", "."))
        out.append((text, intent))
    return out


def bench_inference(results: list[Row]) -> None:
    from agentcore.demo_shop.domain import RESOURCES
    from agentcore.demo_shop.handlers import shop_handlers
    from agentcore.demo_shop.repository import Shop
    from agentcore.guard import normalise
    from agentcore.learned import Example, IntentModel, train
    from agentcore.router import Router
    from agentcore.stored_rules import default_rules
    from bench.workloads import fresh_data_dir

    labelled = {normalise(t): i for t, i in corpus()}  # a text counts once, as in training
    texts = list(labelled)
    model = train([Example(t, i, "llm") for t, i in labelled.items()])
    blob = model.to_bytes()
    cold_us = []
    for _ in range(ROUNDS):
        fresh = IntentModel.from_bytes(blob)  # nothing memoised: every n-gram hashed
        start = time.perf_counter()
        for text in texts:
            fresh.predict(text)
        cold_us.append((time.perf_counter() - start) / len(texts) * 1e6)
    warm_us = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(5):
            for text in texts:
                model.predict(text)
        warm_us.append((time.perf_counter() - start) / (5 * len(texts)) * 1e6)
    data = fresh_data_dir()
    shop = Shop(data / "shop.sqlite")
    rules, fragments = default_rules(RESOURCES)
    router = Router(rules, shop_handlers(shop), fragments=fragments)
    route_us = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(5):
            for text in texts:
                router.route(text)
        route_us.append((time.perf_counter() - start) / (5 * len(texts)) * 1e6)
    shop.close()
    warm, cold, route = (statistics.median(v) for v in (warm_us, cold_us, route_us))
    results.append((f"learned tier: predict one request ({len(texts)} corpus texts, "
                    f"{len(model.labels)} intents), warm vs cold word memo",
                    f"{warm:.1f} µs vs {cold:.1f} µs",
                    f"target < 100 µs; one RE2 router pass ({len(router)} rules) over the "
                    f"same texts: {route:.1f} µs ({warm / route:.1f}x)"))
    results.append(("learned tier: the stored model (npz, compressed)",
                    f"{len(blob) / 1e6:.2f} MB", f"{model.examples} examples"))


def bench_training(results: list[Row]) -> None:
    from agentcore.guard import normalise
    from agentcore.learned import Example, backtest_holdout, train

    pairs = synthesise(TRAINING)
    started = time.perf_counter()
    unique: dict[str, Example] = {}
    for text, intent in pairs:  # as training_examples does: a text counts once
        norm = normalise(text)
        unique[norm] = Example(norm, intent, "llm")
    examples = list(unique.values())
    prepared = time.perf_counter() - started
    started = time.perf_counter()
    model = train(examples)
    trained = time.perf_counter() - started
    started = time.perf_counter()
    result = backtest_holdout(examples, threshold=0.9, answerable=set(model.labels))
    held_out = time.perf_counter() - started
    results.append((f"learned tier: train on {TRAINING:,} synthesised requests "
                    f"({len(examples):,} distinct texts)",
                    f"{trained:.1f} s ({len(examples) / trained:,.0f} texts/s)",
                    f"normalising and deduplicating them: {prepared:.1f} s"))
    results.append(("learned tier: the hold-out backtest before saving, same texts",
                    f"{held_out:.1f} s", result.summary() + "; synthesised variants of "
                    "600 texts: a hold-out of them flatters, unlike real traffic"))


def run(results: list[Row]) -> None:
    bench_inference(results)
    bench_training(results)


def write_section(results: list[Row]) -> str:
    return write_stamped("Learned tier (bench/learned_bench.py)",
                         "other work shares these cores: the RE2 pass, run alongside, is "
                         "the yardstick", results)

if __name__ == "__main__":
    rows: list[Row] = []
    run(rows)
    print(write_section(rows))
