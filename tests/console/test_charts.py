"""The live charts after real traffic, as an operator reads them: curves that match
the engine's own metrics, legends below the plots naming every series, honest
units, a green healthy breaker, the hour before a restart, the theme switch, and
at most 10 redraws a second.

The engine runs on the test's qasync loop (`run_async` / `qasync_loop`, see
conftest): while a test waits, the bridge's signals, the charts' 100 ms timer
and the engine's awaits interleave as they do in the app. Nothing is redrawn by
hand: the tests wait (`asyncio.sleep` inside `run_async`, or `qtbot.waitUntil`)
and read what the timer drew.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections import Counter
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from agentcore import Engine, FakeClock, Metrics, Outcome, Request, RequestAnswered, Route, Status
from agentcore.metrics import percentile
from console.bridge import EngineBridge
from console.charts import MIN_PLOT_HEIGHT, REDRAW_INTERVAL_MS, ChartsPanel, money
from console.live_series import MIX_GROUPS, mix_group
from console.theme import BREAKER_COLOURS, Theme, apply_theme

CORPUS = Path(__file__).resolve().parents[2] / "data" / "requests.jsonl"


@pytest.fixture
def engine(settings, run_async):
    settings.cache.l1_ttl_s = 0.3  # short enough for a test to see L2 hits
    engine = Engine(settings)
    yield engine
    run_async(engine.close())


@pytest.fixture
def metrics(engine) -> Metrics:
    """The engine's own count of what it did, to hold the charts against."""
    metrics = Metrics()
    engine.subscribe(metrics)
    return metrics


def charts_of(qtbot, engine: Engine, *, history: bool = False,
              size: tuple[int, int] = (1000, 700)) -> tuple[ChartsPanel, EngineBridge]:
    bridge = EngineBridge(engine)
    panel = ChartsPanel(bridge, now=engine.clock.now, breaker_state=str(engine.breaker.state),
                        history=engine.store.requests.history if history else None)
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    return panel, bridge


@pytest.fixture
def panel(qtbot, engine):
    panel, bridge = charts_of(qtbot, engine)
    yield panel
    bridge.close()


@pytest.fixture
def restored_theme(qapp):
    """A test that switches the theme leaves the application as it found it."""
    style, palette, sheet = qapp.style().name(), qapp.palette(), qapp.styleSheet()
    yield
    qapp.setStyle(style)
    qapp.setPalette(palette)
    qapp.setStyleSheet(sheet)


def corpus(n: int) -> list[Request]:
    with CORPUS.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for _, line in zip(range(n), fh, strict=False)]
    return [Request(r["text"], customer_id=r.get("customer_id")) for r in rows]


def y(panel: ChartsPanel, key: str) -> list[float]:
    data = panel.curves[key].yData
    return [] if data is None else [float(v) for v in data]


def legend_names(panel: ChartsPanel, plot: str) -> list[str]:
    return [label.text for _sample, label in panel.legends[plot].items]


def pen_colour(panel: ChartsPanel, key: str) -> str:
    return QColor(panel.curves[key].opts["pen"].color()).name()


def test_curves_hold_what_the_engine_counted(run_async, engine, metrics, panel):
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

    run_async(traffic())
    snap = panel.last_snapshot
    assert snap is not None and snap.window.count == metrics.outcomes == len(outcomes)
    assert snap.bin_s == 2  # the 1-minute window draws a point every 2 seconds

    # Route mix, stacked: each band (its top edge minus the one below) times the
    # bin's count gives back the engine's counts; escalations are shown as "human",
    # both cache tiers as "cache". Every bin with requests stacks up to 100 %.
    escalated = metrics.statuses["escalated"]
    # A rule that hands a request to a person (a "human" rule) escalates it too.
    handed = sum(o.route is Route.RULE and o.status is Status.ESCALATED for o in outcomes)
    expected = {"rule": metrics.routes["rule"] - handed, "learned": metrics.routes["learned"],
                "llm": metrics.routes["llm"] - (escalated - handed),
                "human": escalated,
                "degraded": metrics.routes["static"] + metrics.routes["template"],
                "cache": metrics.routes["cache-l1"] + metrics.routes["cache-l2"],
                "rejected": metrics.routes["guard"]}
    assert all(expected[g] > 0 for g in ("rule", "llm", "cache", "rejected"))
    below = [0.0] * len(snap.counts)
    from_curves = {}
    for g in MIX_GROUPS:
        top = y(panel, f"mix.{g}")
        from_curves[g] = sum(round((t - b) / 100 * n)
                             for t, b, n in zip(top, below, snap.counts, strict=True) if n)
        below = top
    assert from_curves == expected
    assert all(t == pytest.approx(100) for t, n in zip(below, snap.counts, strict=True) if n)

    # Cost: what the last minute cost is what all of it cost (it took under a
    # minute), and no point claims more; the window's curve climbs from $0 to it.
    spent = sum(o.usage.dollars for o in outcomes)
    assert spent > 0 and metrics.dollars == pytest.approx(spent)
    assert y(panel, "cost.per_minute")[-1] == pytest.approx(spent)
    assert max(y(panel, "cost.per_minute")) <= spent * (1 + 1e-9)
    cumulative = y(panel, "cost.cumulative")
    assert cumulative[0] == 0 and cumulative[-1] == pytest.approx(spent)
    assert panel.plots["cumulative"].viewRange()[1][0] == 0  # the axis starts at $0
    assert panel.plots["cumulative"].titleLabel.text == f"Spent in the window: {money(spent)}"

    # Cache tiers: the hits the curves were drawn from are the engine's hits.
    assert snap.window.l1_hits == metrics.routes["cache-l1"] > 0
    assert snap.window.l2_hits == metrics.routes["cache-l2"] > 0
    assert max(v for v in y(panel, "cache.l1") if not math.isnan(v)) > 0

    # Latency: the window's percentiles are the engine's, within the histogram's 1.5 %.
    every = [ms for values in metrics.latency_ms.values() for ms in values]
    for q in (50, 95, 99):
        assert snap.percentile(q) == pytest.approx(percentile(every, q), rel=0.015)
    by_bin: dict[int, list[float]] = {}
    for o in outcomes:
        by_bin.setdefault(int(o.spans[-1].end) // 2 * 2, []).append(o.latency_ms)
    drawn = dict(zip(snap.starts, y(panel, "latency.p99"), strict=True))
    for start, latencies in by_bin.items():
        assert drawn[start] == pytest.approx(percentile(latencies, 99), rel=0.015)
    assert all(math.isnan(v) for s, v in drawn.items() if s not in by_bin)

    # The breaker never moved: one green line at "closed" up to now, nothing else.
    assert {v for v in y(panel, "breaker.closed") if not math.isnan(v)} == {0.0}
    assert y(panel, "breaker.open") == [] and y(panel, "breaker.half_open") == []


def test_legends_sit_below_their_plots_and_name_every_series(run_async, engine, panel):
    run_async(engine.submit(Request("hey there", customer_id=1)))
    run_async(asyncio.sleep(3 * REDRAW_INTERVAL_MS / 1000))
    assert [n.split()[0] for n in legend_names(panel, "latency")] == ["p50", "p95", "p99"]
    assert [n.split()[0] for n in legend_names(panel, "mix")] == [
        "rule", "learned", "cache", "LLM", "degraded", "human", "rejected"]  # all seven
    assert legend_names(panel, "mix")[0] == "rule 100%"  # the window's share beside it
    assert [n.split()[0] for n in legend_names(panel, "cache")] == ["L1", "L2"]
    assert legend_names(panel, "breaker") == ["closed", "half-open", "open"]
    for name, legend in panel.legends.items():
        curves = panel.plots[name].getViewBox().sceneBoundingRect()
        box = legend.sceneBoundingRect()
        assert box.height() > 0 and box.top() >= curves.bottom(), name  # never over the curves


def test_p95_shows_over_p99_in_its_own_colour_and_line(panel):
    p95, p99 = panel.curves["latency.p95"], panel.curves["latency.p99"]
    assert p95.zValue() > p99.zValue()  # drawn on top where they meet
    assert pen_colour(panel, "latency.p95") != pen_colour(panel, "latency.p99")
    assert p99.opts["pen"].style() == Qt.PenStyle.DashLine
    assert p95.opts["pen"].widthF() > p99.opts["pen"].widthF()


def test_breaker_is_green_when_healthy_and_red_when_open(run_async, engine, panel):
    assert pen_colour(panel, "breaker.closed") == BREAKER_COLOURS["closed"]  # green
    assert pen_colour(panel, "breaker.half_open") == BREAKER_COLOURS["half_open"]
    assert pen_colour(panel, "breaker.open") == BREAKER_COLOURS["open"]

    async def flip():
        await asyncio.sleep(0.25)
        engine.breaker.force_open()
        await asyncio.sleep(0.25)
        engine.breaker.release()  # back to automatic; stays open until probed
        engine.breaker.force_closed()
        await asyncio.sleep(0.25)

    run_async(flip())
    closed = [v for v in y(panel, "breaker.closed") if not math.isnan(v)]
    opened = [v for v in y(panel, "breaker.open") if not math.isnan(v)]
    assert set(closed) == {0.0} and set(opened) == {2.0}
    assert panel.curves["breaker.closed"].xData[-2] == pytest.approx(engine.clock.now(), abs=1)
    assert panel.plots["breaker"].titleLabel.text.endswith("closed")


def test_an_empty_window_reads_in_dollars_and_milliseconds(run_async, settings, qtbot):
    engine = Engine(settings, clock=FakeClock())
    panel, bridge = charts_of(qtbot, engine)
    run_async(asyncio.sleep(0.25))
    cost = panel.plots["cost"]
    low, high = cost.viewRange()[1]
    assert (low, high) == (0, pytest.approx(0.01))
    axis = cost.getAxis("left")
    labels = [s for spacing, values in axis.tickValues(low, high, 100)
              for s in axis.tickStrings(values, 1, spacing)]
    assert labels and all(s.startswith("$") and "e" not in s for s in labels)
    assert cost.titleLabel.text == "Cost per minute: $0.00 now"
    assert panel.summary.text() == "0 requests, $0.00 in the window"
    assert money(0.00008) == "<$0.01" and money(1234.5) == "$1,234.50"
    latency_ticks = [label for _v, label in panel.plots["latency"].getAxis("left")._tickLevels[0]]
    assert latency_ticks == ["0.1 ms", "1 ms", "10 ms", "100 ms", "1 s"]  # one a decade
    bridge.close()
    run_async(engine.close())


def test_redraws_stay_at_ten_a_second_whatever_the_traffic(run_async, engine, panel):
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

    published, redraws, elapsed = run_async(burst())
    assert published >= 10_000
    assert panel.series.total_outcomes == 20 + published
    assert 5 <= redraws <= math.ceil(elapsed * 10) + 1  # drawn while busy, never > 10/s


def test_no_redraw_while_nothing_changes(run_async, settings, qtbot):
    engine = Engine(settings, clock=FakeClock())  # time stands still: no bin scrolls out
    panel, bridge = charts_of(qtbot, engine)

    async def idle_then_one():
        await asyncio.sleep(0.5)
        idle = panel.redraw_count
        await engine.submit(Request("hey there", customer_id=1))
        await asyncio.sleep(0.25)
        return idle

    idle = run_async(idle_then_one())
    assert idle == 1  # the first draw only, over five timer ticks
    assert panel.redraw_count == 2
    assert panel.last_snapshot is not None and panel.last_snapshot.window.count == 1
    bridge.close()
    run_async(engine.close())


def test_the_window_combo_sets_the_span_and_the_bins_of_every_chart(run_async, panel):
    run_async(asyncio.sleep(0.15))
    panel.window_combo.setCurrentIndex(panel.window_combo.findText("15 min"))  # as a user
    assert panel.window_s == 900
    run_async(asyncio.sleep(0.25))
    snap = panel.last_snapshot
    assert snap is not None and snap.window_s == 900 and snap.bin_s == 30
    for plot in panel.plots.values():
        (left, right), _ = plot.viewRange()
        assert right - left == pytest.approx(900)
    panel.set_window(60)
    assert panel.window_combo.currentText() == "1 min"
    with pytest.raises(ValueError):
        panel.set_window(42)


def test_a_restarted_console_shows_the_hour_before_it(run_async, settings, qtbot):
    before = Engine(settings)
    done = run_async(asyncio.gather(*(before.submit(r) for r in corpus(60))))
    run_async(before.close())

    engine = Engine(settings)  # the restart: same database, a fresh console
    panel, bridge = charts_of(qtbot, engine, history=True)
    assert not panel.history_loaded  # read after the window shows, not while it builds
    qtbot.waitUntil(lambda: panel.history_loaded, timeout=5000)
    live = run_async(engine.submit(Request("hey there", customer_id=1)))  # and live on top
    panel.set_window(3600)
    qtbot.waitUntil(lambda: panel.last_snapshot is not None
                    and panel.last_snapshot.window_s == 3600
                    and panel.last_snapshot.window.count == len(done) + 1, timeout=3000)
    spent = sum(o.usage.dollars for o in done)
    assert spent > 0
    assert y(panel, "cost.cumulative")[-1] == pytest.approx(spent)
    expected = Counter(mix_group(o) for o in [*done, live])
    assert {g: sum(n) for g, n in panel.last_snapshot.mix_counts.items() if sum(n)} == expected
    bridge.close()
    run_async(engine.close())


def test_a_theme_switch_recolours_the_charts(qapp, qtbot, panel, restored_theme):
    axis = panel.plots["latency"].getAxis("left")
    for theme in (Theme.LIGHT, Theme.DARK):
        apply_theme(qapp, theme)
        text = QApplication.palette().color(QPalette.ColorRole.WindowText).name()
        # Qt delivers the palette change with its next events: no redraw is needed.
        qtbot.waitUntil(lambda text=text: axis.textPen().color().name() == text, timeout=2000)
        assert panel.legends["mix"].opts["labelTextColor"].name() == text
        # The panel's own labels and the canvas behind the curves follow too.
        assert panel.summary.palette().color(QPalette.ColorRole.WindowText).name() == text
        assert panel.canvas.palette().color(QPalette.ColorRole.Base) == (
            QApplication.palette().color(QPalette.ColorRole.Base))
        assert f"color: {text}" in panel.plots["mix"].titleLabel.item.toHtml().replace(
            "color:#", "color: #")


def test_plots_keep_a_readable_height_in_a_small_window(run_async, qtbot, engine):
    panel, bridge = charts_of(qtbot, engine, size=(560, 260))  # its corner of 1024x700
    run_async(engine.submit(Request("hey there", customer_id=1)))  # legends with figures
    run_async(asyncio.sleep(0.25))
    for name, plot in panel.plots.items():
        assert plot.getViewBox().height() >= MIN_PLOT_HEIGHT - 40, name  # minus axis, title
    assert panel.scroll_area.verticalScrollBar().maximum() > 0  # the rest a scroll away
    # Nothing cut off at the right: legends wrap into more rows instead.
    scene = panel.canvas.ci.geometry()
    assert scene.width() <= panel.canvas.viewport().width() + 1
    assert len({round(sample.sceneBoundingRect().top())
                for sample, _label in panel.legends["mix"].items}) == 4  # two to a row
    bridge.close()
