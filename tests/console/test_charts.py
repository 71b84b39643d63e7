"""The live charts after real traffic: curves match the engine's own metrics; redraws
stay at 10 a second or fewer however many outcomes arrive.

asyncio + Qt: the engine runs on a qasync `QEventLoop` built over pytest-qt's
`qapp`. A test is a plain (sync) function that drives one coroutine with
`loop.run_until_complete`; while it runs, Qt's event loop runs too, so the
bridge's signals, the charts' 100 ms timer and the engine's awaits interleave
as they do in the app. Nothing is redrawn by hand: the tests wait on the loop
(`asyncio.sleep`) and read what the timer drew.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import json
import math
import time
from pathlib import Path

import pytest

from agentcore import Engine, FakeClock, Metrics, Outcome, Request, RequestAnswered
from agentcore.metrics import percentile
from console.bridge import EngineBridge
from console.charts import REDRAW_INTERVAL_MS, ChartsPanel
from console.live_series import MIX_GROUPS

CORPUS = Path(__file__).resolve().parents[2] / "data" / "requests.jsonl"


@pytest.fixture
def engine(settings, qloop):
    settings.cache.l1_ttl_s = 0.3  # short enough for a test to see L2 hits
    engine = Engine(settings)
    yield engine
    qloop.run_until_complete(engine.close())


@pytest.fixture
def metrics(engine) -> Metrics:
    """The engine's own count of what it did, to hold the charts against."""
    metrics = Metrics()
    engine.subscribe(metrics)
    return metrics


@pytest.fixture
def panel(qtbot, engine):
    bridge = EngineBridge(engine)
    panel = ChartsPanel(bridge, engine)
    qtbot.addWidget(panel)
    panel.resize(1000, 700)
    panel.show()
    yield panel
    bridge.close()


def corpus(n: int) -> list[Request]:
    with CORPUS.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for _, line in zip(range(n), fh, strict=False)]
    return [Request(r["text"], customer_id=r.get("customer_id")) for r in rows]


def y(panel: ChartsPanel, key: str) -> list[float]:
    return [float(v) for v in panel.curves[key].yData]


def test_curves_hold_what_the_engine_counted(qloop, engine, metrics, panel):
    outcomes: list[Outcome] = []

    async def traffic():
        requests = corpus(150)
        for request in requests:
            outcomes.append(await engine.submit(request))
        for request in requests[:40]:  # asked again: answered from memory (L1)
            outcomes.append(await engine.submit(Request(request.text, request.customer_id)))
        await asyncio.sleep(0.4)  # past the L1 TTL, not the L2 one
        for request in requests[:40]:
            outcomes.append(await engine.submit(Request(request.text, request.customer_id)))
        await asyncio.sleep(3 * REDRAW_INTERVAL_MS / 1000)  # the timer draws

    qloop.run_until_complete(traffic())
    snap = panel.last_snapshot
    assert snap is not None and snap.window.count == metrics.outcomes == len(outcomes)

    # Route mix: the curves are shares per bin; share x bin count gives back the
    # engine's counts (escalations are shown as "human", both cache tiers as "cache").
    escalated = metrics.statuses["escalated"]
    expected = {"rule": metrics.routes["rule"], "llm": metrics.routes["llm"] - escalated,
                "human": escalated,
                "degraded": metrics.routes["static"] + metrics.routes["template"],
                "cache": metrics.routes["cache-l1"] + metrics.routes["cache-l2"],
                "rejected": metrics.routes["guard"]}
    assert all(expected[g] > 0 for g in ("rule", "llm", "cache", "rejected"))
    from_curves = {g: sum(round(share / 100 * n) for share, n in
                          zip(y(panel, f"mix.{g}"), snap.counts, strict=True) if n)
                   for g in MIX_GROUPS}
    assert from_curves == expected

    # Cost: the cumulative curve ends at what every outcome cost, as Metrics says.
    spent = sum(o.usage.dollars for o in outcomes)
    assert spent > 0 and metrics.dollars == pytest.approx(spent)
    assert y(panel, "cost.cumulative")[-1] == pytest.approx(spent)
    per_minute = y(panel, "cost.per_minute")
    assert sum(v * snap.bin_s / 60 for v in per_minute[:-1]) <= spent * (1 + 1e-9)

    # Cache tiers: the hits the curves were drawn from are the engine's hits.
    assert snap.window.l1_hits == metrics.routes["cache-l1"] > 0
    assert snap.window.l2_hits == metrics.routes["cache-l2"] > 0
    assert max(v for v in y(panel, "cache.l1") if not math.isnan(v)) > 0

    # Latency: the window's percentiles are the engine's, within the histogram's 1.5 %.
    every = [ms for values in metrics.latency_ms.values() for ms in values]
    for q in (50, 95, 99):
        assert snap.percentile(q) == pytest.approx(percentile(every, q), rel=0.015)
    by_second: dict[int, list[float]] = {}  # the 1-minute window draws one point a second
    for o in outcomes:
        by_second.setdefault(int(o.spans[-1].end), []).append(o.latency_ms)
    drawn = dict(zip(snap.starts, y(panel, "latency.p99"), strict=True))
    for second, latencies in by_second.items():
        assert drawn[second] == pytest.approx(percentile(latencies, 99), rel=0.015)
    assert all(math.isnan(v) for s, v in drawn.items() if s not in by_second)

    # The breaker never moved: one flat line at "closed" up to now.
    assert set(y(panel, "breaker")) == {0.0}


def test_breaker_state_over_time_follows_the_engine(qloop, engine, panel):
    async def flip():
        await asyncio.sleep(0.25)
        engine.breaker.force_open()
        await asyncio.sleep(0.25)
        engine.breaker.release()  # back to automatic; stays open until probed
        engine.breaker.force_closed()
        await asyncio.sleep(0.25)

    qloop.run_until_complete(flip())
    levels = y(panel, "breaker")
    assert levels[0] == 0.0 and 2.0 in levels and levels[-1] == 0.0
    assert panel.plots["breaker"].titleLabel.text.endswith("closed")


def test_redraws_stay_at_ten_a_second_whatever_the_traffic(qloop, engine, panel):
    async def burst():
        # Real outcomes, then published again and again on the engine's own bus, far
        # faster than the engine could make them: the bridge and the panel see them all.
        seeds = [await engine.submit(r) for r in corpus(20)]
        await asyncio.sleep(0.15)
        redraws_before, started = panel.redraw_count, time.perf_counter()
        published = 0
        while time.perf_counter() - started < 1.5:
            for o in seeds * 25:
                engine.bus.publish(RequestAnswered(o))
            published += 25 * len(seeds)
            await asyncio.sleep(0)  # the loop turns between bursts, as under real load
        return published, panel.redraw_count - redraws_before, time.perf_counter() - started

    published, redraws, elapsed = qloop.run_until_complete(burst())
    assert published >= 10_000
    assert panel.series.total_outcomes == 20 + published
    assert 5 <= redraws <= math.ceil(elapsed * 10) + 1  # drawn while busy, never > 10/s


def test_no_redraw_while_nothing_changes(qloop, settings, qtbot):
    clock = FakeClock()  # time stands still: no bin ever scrolls out
    engine = Engine(settings, clock=clock)
    bridge = EngineBridge(engine)
    panel = ChartsPanel(bridge, engine)
    qtbot.addWidget(panel)
    panel.show()

    async def idle_then_one():
        await asyncio.sleep(0.5)
        idle = panel.redraw_count
        await engine.submit(Request("hey there", customer_id=1))
        await asyncio.sleep(0.25)
        return idle

    idle = qloop.run_until_complete(idle_then_one())
    assert idle == 1  # the first draw only, over five timer ticks
    assert panel.redraw_count == 2
    assert panel.last_snapshot is not None and panel.last_snapshot.window.count == 1
    bridge.close()
    qloop.run_until_complete(engine.close())


def test_the_window_combo_sets_the_span_of_every_chart(qloop, panel):
    qloop.run_until_complete(asyncio.sleep(0.15))
    panel.window_combo.setCurrentIndex(panel.window_combo.findText("15 min"))  # as a user
    assert panel.window_s == 900
    qloop.run_until_complete(asyncio.sleep(0.25))
    snap = panel.last_snapshot
    assert snap is not None and snap.window_s == 900 and snap.bin_s == 15
    for plot in panel.plots.values():
        (left, right), _ = plot.viewRange()
        assert right - left == pytest.approx(900)
    panel.set_window(60)
    assert panel.window_combo.currentText() == "1 min"
    with pytest.raises(ValueError):
        panel.set_window(42)
