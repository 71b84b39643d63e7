"""The headline bench's harness on a handful of corpus rows, the mock LLM at 0 ms:
both systems give every row its outcome, and the figures it reports are the ones
the rows add up to. LangChain is a bench-only dependency (bench/requirements-langchain.txt,
installed by `make bench`): without it this module is skipped."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("langchain.agents", reason="bench only: pip install -r "
                    "bench/requirements-langchain.txt")

from agentcore.replay import load_corpus
from bench.langchain_bench import (
    CORPUS,
    Figures,
    describe,
    describe_routes,
    interleaved,
)


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    # The head of the corpus, plus its first refund request with an order number (the
    # write tools' path), and a row without a customer (the public tools only).
    corpus = load_corpus(CORPUS)
    refund = next(r for r in corpus if r.get("expected_intent") == "refund_request"
                  and any(ch.isdigit() for ch in r["text"]) and r.get("customer_id"))
    anonymous = next(r for r in corpus if r.get("customer_id") is None
                     and r.get("expected_route") != "guard")
    return [*corpus[:14], refund, anonymous]


async def test_both_systems_reply_to_every_row_and_the_figures_add_up(rows):
    result = await interleaved(rows, 0.0, in_flight=4)

    assert len(result.engine) == len(result.langchain) == len(rows)
    for answered in (*result.engine, *result.langchain):
        assert answered.error is None
        assert answered.latency_ms > 0
    # Every row has its outcome: the engine answers, hands to a human or turns away
    # (with the reason as its reply); the agent answers each one itself.
    assert {a.status for a in result.engine} <= {"answered", "escalated", "rejected"}
    assert all(a.status == "answered" for a in result.langchain)
    # The all-LLM agent asks the model at least once for every row, and pays for it.
    assert all(a.calls >= 1 and a.dollars > 0 for a in result.langchain)
    # The engine's rule rows never reach the LLM and cost nothing; its LLM rows do.
    rule_rows = [a for a in result.engine if a.route == "rule"]
    assert rule_rows and all(a.calls == 0 and a.dollars == 0 for a in rule_rows)
    assert result.llm_rows
    assert all(result.engine[i].dollars > 0 for i in result.llm_rows)

    engine, langchain = Figures.of(result.engine), Figures.of(result.langchain)
    assert engine.calls == pytest.approx(sum(a.calls for a in result.engine) / len(rows))
    assert engine.p50_ms <= engine.p95_ms
    assert langchain.dollars > engine.dollars  # the rule rows cost the engine nothing

    table = [*describe(result), describe_routes(result)]
    for measure, figure, against in table:
        assert measure and figure and against
        assert "nan" not in figure + against
    assert f"LangChain: answered {len(rows)}" in table[-1][2]
    assert "raised" not in table[-1][2]


def test_figures_of_no_rows_are_zero_not_an_error():
    assert Figures.of([]).n == 0
    assert not math.isnan(Figures.of([]).mean_ms)
