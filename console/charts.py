"""Live charts of the engine: latency, route mix, cost, cache tiers, breaker state.

Signals only feed a Qt-free `LiveSeries`; drawing happens on a 100 ms timer and
only when the series changed (or time moved a display bin), so the redraw rate
is at most 10 per second whatever the traffic. All six plots share one
`GraphicsLayoutWidget` (one scene, one paint) and a time axis in wall-clock time,
the clock the engine stamps its spans with. Each plot's legend sits in the
layout row below it, never over the curves. After a restart the last hour is
read from the engine's database off the GUI thread, then merged.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from agentcore import BreakerChanged, LatencyBins, Outcome, OutcomeHistory, StorageError
from console import message
from console.bridge import EngineBridge
from console.live_series import (
    BREAKER_LEVELS,
    HISTOGRAM,
    MIX_GROUPS,
    LiveSeries,
    Snapshot,
    bin_size,
    history_plan,
)
from console.theme import BREAKER_COLOURS, ROUTE_COLOURS

log = logging.getLogger("console.charts")
# A plain thread of our own, not the loop's default executor: qasync's default is a
# pool of QThreads that outlive a closed loop (one per test), which crashed the suite.
_HISTORY_READER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="charts-history")

# (since, until, bucket_s, bins) -> what finished then: the store's `history` read.
HistorySource = Callable[[float, float, int, LatencyBins], OutcomeHistory]

WINDOWS = ((60, "1 min"), (300, "5 min"), (900, "15 min"), (3600, "60 min"))
REDRAW_INTERVAL_MS = 100  # at most 10 redraws a second
MIN_PLOT_HEIGHT = 80  # pixels of curves per plot; below that the panel scrolls
_ROWS = 3  # of plots, two to a row
_TITLE_SIZE = "9pt"
_LEGEND_INDENT = 24  # pixels: legends start near the axis, not under its labels
_WIDE = 760  # pixels of panel from which legends take more columns (twice: more still)
# Entries per legend row in a narrow, a medium and a wide panel.
_LEGEND_COLUMNS = {"latency": (2, 3, 3), "mix": (2, 3, 6), "cache": (2, 2, 2),
                   "breaker": (3, 3, 3)}
_AXIS_WIDTH = 64  # pixels for the y labels: "half-open", "$0.004", "100 ms"
_LABEL_HEIGHT = 16  # pixels an axis label needs so that the next one doesn't touch it
_LATENCY_DECADES = (-1, 3)  # 0.1 ms .. 1 s while there is nothing to show

# Readable on the dark and the light theme alike: the theme's semantic colours.
COLOURS = {
    "p50": "#5b8def", "p95": "#e3a33b", "p99": "#e5534b",
    "per_minute": "#5b8def", "cumulative": "#a371f7",
    "l1": "#3fb950", "l2": "#5b8def",
    "rule": ROUTE_COLOURS["rule"], "learned": ROUTE_COLOURS["learned"],
    "cache": ROUTE_COLOURS["cache-l1"],
    "llm": ROUTE_COLOURS["llm"], "degraded": ROUTE_COLOURS["template"],
    "human": ROUTE_COLOURS["human"], "rejected": ROUTE_COLOURS["guard"],
}
MIX_LABELS = {"rule": "rule", "learned": "learned", "cache": "cache", "llm": "LLM",
              "degraded": "degraded",
              "human": "human", "rejected": "rejected"}


def money(dollars: float) -> str:
    """"$0.00" for nothing, "<$0.01" for a fraction of a cent, else cents: never "8e-05"."""
    if dollars <= 0:
        return "$0.00"
    return "<$0.01" if dollars < 0.01 else f"${dollars:,.2f}"


def duration(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.3g} s"
    return f"{ms:.2g} ms" if ms < 1 else f"{ms:.3g} ms"


class DollarAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph has no stubs
    """Dollars with as many decimals as the tick spacing needs: "$0.004", "$1.50"."""

    def __init__(self) -> None:
        super().__init__("left")
        self.enableAutoSIPrefix(False)

    def tickStrings(self, values: list[float], scale: float,
                    spacing: float) -> list[str]:
        decimals = max(2, math.ceil(-math.log10(spacing))) if spacing > 0 else 2
        return [f"${v:,.{decimals}f}" for v in values]


class ChartsPanel(QWidget):
    """`now`: the engine's clock; `breaker_state`: the breaker's state at start;
    `history`: the store's back-fill read (None: start empty)."""

    def __init__(self, bridge: EngineBridge, *, now: Callable[[], float],
                 breaker_state: str, history: HistorySource | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._now = now
        started = now()
        self._history = history
        self.series = LiveSeries(max_window_s=WINDOWS[-1][0], breaker_state=breaker_state,
                                 now=started,
                                 history_until=started if history is not None else None)
        self.history_task: asyncio.Task[None] | None = None
        self.history_loaded = False
        self.redraw_count = 0  # read by the bench: redraws per second stay <= 10
        self.last_snapshot: Snapshot | None = None  # what the curves now show
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        self.legends: dict[str, pg.LegendItem] = {}
        self._texts: dict[str, str] = {}  # titles and legend labels shown
        self._decades: tuple[int, int, int] | None = None  # the latency axis's ticks
        self._window_s = WINDOWS[0][0]
        self._drawn: tuple[int, int, int] | None = None
        self._built = False
        self.text_colour: str | None = None  # the theme's, for titles (set from the palette)
        self._build()
        self._apply_palette()
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._wire(bridge)
        self._timer.start()
        if history is not None:  # once the loop runs: the window shows first
            QTimer.singleShot(0, self._start_history)

    # -- the public surface ---------------------------------------------------

    @property
    def window_s(self) -> int:
        return self._window_s

    def set_window(self, seconds: int) -> None:
        """Shows the last `seconds` (one of `WINDOWS`); the next tick redraws."""
        index = next((i for i, (s, _) in enumerate(WINDOWS) if s == seconds), None)
        if index is None:
            raise ValueError(f"window must be one of {[s for s, _ in WINDOWS]} seconds")
        self._window_s = seconds
        if self.window_combo.currentIndex() != index:
            self.window_combo.setCurrentIndex(index)

    async def load_history(self) -> None:
        """Reads the last hour from the store in a worker thread (aggregated there:
        a few thousand rows however many requests), then merges it."""
        source = self._history
        if source is None:
            return
        plan = history_plan(self.series.history_until, [s for s, _ in WINDOWS])

        def read() -> list[OutcomeHistory]:
            return [source(since, until, size, HISTOGRAM) for since, until, size in plan]

        try:
            parts = await asyncio.get_running_loop().run_in_executor(_HISTORY_READER, read)
        except StorageError as exc:
            message.warning(f"The charts show only new traffic: the last hour could not "
                            f"be read ({exc})")
            return
        for part in parts:
            self.series.add_history(part)
        self.history_loaded = True

    def reload_history(self) -> None:
        """Starts over from the store: the live link to a shared database is back, and
        what the other processes finished meanwhile was never announced here. The
        series is rebuilt (counting the store's history up to now, live outcomes from
        now on) rather than topped up: nothing is counted twice."""
        if self._history is None:
            return
        if self.history_task is not None and not self.history_task.done():
            self.history_task.cancel()
        now = self._now()
        self.series = LiveSeries(max_window_s=WINDOWS[-1][0],
                                 breaker_state=self.series.breaker_state, now=now,
                                 history_until=now)
        self.history_loaded = False
        self._drawn = None
        self._start_history()

    # -- construction -----------------------------------------------------------

    def _build(self) -> None:
        self.window_combo = QComboBox()
        for seconds, label in WINDOWS:
            self.window_combo.addItem(label, seconds)
        self.window_combo.setToolTip("How far back the charts look")
        self.summary = QLabel()
        top = QHBoxLayout()
        top.addWidget(QLabel("Window"))
        top.addWidget(self.window_combo)
        top.addStretch(1)
        top.addWidget(self.summary)

        self.canvas = pg.GraphicsLayoutWidget()
        self.canvas.setBackground(None)  # the theme's window colour shows through
        self.canvas.ci.setContentsMargins(2, 2, 2, 2)
        self.canvas.ci.layout.setSpacing(2)
        latency = self._plot("latency", 0, 0)
        latency.setLogMode(y=True)
        # p99 dashed underneath, p95 solid and thicker on top: apart where they meet.
        for p, style, width, z in (("p50", Qt.PenStyle.SolidLine, 1.5, 1),
                                   ("p95", Qt.PenStyle.SolidLine, 2.5, 3),
                                   ("p99", Qt.PenStyle.DashLine, 1.5, 2)):
            self._curve("latency", f"latency.{p}", p, pg.mkPen(COLOURS[p], width=width,
                                                               style=style), z=z)
        mix = self._plot("mix", 0, 1)
        mix.setYRange(0, 100, padding=0)
        _percent_ticks(mix)
        # Stacked areas: each group filled from its top edge down to 0, the lower
        # groups drawn over the higher ones, so each colour shows its own band.
        for i, group in enumerate(MIX_GROUPS):
            colour = COLOURS[group]
            self._curve("mix", f"mix.{group}", MIX_LABELS[group], pg.mkPen(colour, width=1),
                        z=len(MIX_GROUPS) - i, fillLevel=0, brush=pg.mkBrush(colour))
        self._plot("cost", 1, 0, DollarAxis())
        self._curve("cost", "cost.per_minute", None, pg.mkPen(COLOURS["per_minute"], width=2))
        self._plot("cumulative", 1, 1, DollarAxis())
        self._curve("cumulative", "cost.cumulative", None,
                    pg.mkPen(COLOURS["cumulative"], width=2))
        cache = self._plot("cache", 2, 0)
        cache.setYRange(0, 100, padding=0)
        _percent_ticks(cache)
        self._curve("cache", "cache.l1", "L1 memory", pg.mkPen(COLOURS["l1"], width=1.5))
        self._curve("cache", "cache.l2", "L2 database", pg.mkPen(COLOURS["l2"], width=1.5))
        breaker = self._plot("breaker", 2, 1)
        breaker.setYRange(-0.3, 2.3, padding=0)
        breaker.getAxis("left").setTicks([[(level, state.replace("_", "-"))
                                           for state, level in BREAKER_LEVELS.items()], []])
        for state in BREAKER_LEVELS:  # healthy green, half-open amber, open red
            self._curve("breaker", f"breaker.{state}", state.replace("_", "-"),
                        pg.mkPen(BREAKER_COLOURS[state], width=3))
        self._set_title("latency", "Latency (log scale)")
        self._set_title("mix", "Route mix (% stacked)")
        self._set_title("cache", "Cache hit rate per tier (%)")

        # Below the minimum the plots keep their height and the panel scrolls.
        legend_rows = 3 * 21  # the mix's two, the cache's and breaker's one
        self.canvas.setMinimumHeight(_ROWS * (MIN_PLOT_HEIGHT + 18) + legend_rows + 16)
        scroll = QScrollArea()
        scroll.setWidget(self.canvas)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll_area = scroll

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)
        self._built = True

    def _plot(self, name: str, row: int, col: int,
              left: pg.AxisItem | None = None) -> pg.PlotItem:
        axes: dict[str, pg.AxisItem] = {"bottom": pg.DateAxisItem(orientation="bottom")}
        if left is not None:
            axes["left"] = left
        # Layout rows in pairs: the plot, then its legend (empty rows take no room).
        plot = self.canvas.addPlot(row=2 * row, col=col, axisItems=axes)
        plot.setMinimumHeight(MIN_PLOT_HEIGHT)
        if row < _ROWS - 1:
            # All plots span the same window: clock times under the bottom row only.
            # A time axis is re-labelled on every redraw, the costliest part of one.
            plot.hideAxis("bottom")
        # A live view the mouse can't drag away from "now"; the window combo sets the range.
        plot.setMouseEnabled(x=False, y=False)
        plot.disableAutoRange()
        # A fixed width: labels that grow ("0.9" -> "0.15") would re-lay out all six.
        plot.getAxis("left").setWidth(_AXIS_WIDTH)
        plot.setMenuEnabled(False)
        plot.hideButtons()
        # No grid: pyqtgraph paints it into every axis picture, tripling a redraw's cost.
        # No setXLink: linked views align by pixel, and the two columns' axes have
        # different widths; every redraw sets each plot's range to the window instead.
        self.plots[name] = plot
        return plot

    def _curve(self, plot: str, key: str, name: str | None, pen: Any, z: float = 0,
               **options: Any) -> None:
        # Antialiased lines read smoothly; the stacked fills are drawn without.
        options.setdefault("antialias", "fillLevel" not in options)
        curve = self.plots[plot].plot([], [], pen=pen, **options)
        curve.setZValue(z)
        self.curves[key] = curve
        if name is None:
            return  # the plot's only series: its title names it
        legend = self.legends.get(plot)
        if legend is None:
            legend = self.legends[plot] = pg.LegendItem(colCount=3, labelTextSize="8pt",
                                                        frame=False)
            index = list(self.plots).index(plot)
            row = 2 * (index // 2) + 1
            self.canvas.addItem(legend, row=row, col=index % 2)
            # The plots take the height; a legend row only what its entries need.
            legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            legend.layout.setContentsMargins(_LEGEND_INDENT, 0, 0, 0)
            self.canvas.ci.layout.setRowStretchFactor(row, 0)
            self.canvas.ci.layout.setRowStretchFactor(row - 1, 1)
        legend.addItem(curve, name)

    def _wire(self, bridge: EngineBridge) -> None:
        bridge.outcome.connect(self._on_outcome)
        bridge.breaker_changed.connect(self._on_breaker)
        self.window_combo.currentIndexChanged.connect(
            lambda i: self.set_window(int(self.window_combo.itemData(i))))
        self._timer.timeout.connect(self._tick)

    def resizeEvent(self, event: QResizeEvent) -> None:
        # Legends as wide as the dock allows: the scene cannot shrink below its widest
        # legend row, and the view would clip the right-hand column.
        size = 2 if event.size().width() >= 2 * _WIDE else 1 if event.size().width() >= _WIDE else 0
        for name, legend in self.legends.items():
            legend.setColumnCount(_LEGEND_COLUMNS[name][size])
        super().resizeEvent(event)

    def _start_history(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # a tool without the app's loop: no back-fill
            log.info("no running event loop: the charts start without history")
            return
        self.history_task = loop.create_task(self.load_history())

    # -- theme ------------------------------------------------------------------

    def changeEvent(self, event: QEvent) -> None:
        # The theme switch sets the application's palette; every widget hears of it.
        if self._built and event.type() in (QEvent.Type.PaletteChange,
                                            QEvent.Type.ApplicationPaletteChange):
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        dim = palette.color(QPalette.ColorRole.PlaceholderText)
        self.text_colour = text.name()
        for plot in self.plots.values():
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                axis.setPen(pg.mkPen(dim))
                axis.setTextPen(pg.mkPen(text))
        for legend in self.legends.values():
            legend.setLabelTextColor(text)
        for name, plot in self.plots.items():
            if name in self._texts:
                plot.setTitle(self._texts[name], color=self.text_colour, size=_TITLE_SIZE)
        self._drawn = None  # the next tick redraws at once, in the new colours
        self._tick()

    # -- events and drawing ---------------------------------------------------

    def _on_outcome(self, outcome: Outcome) -> None:
        self.series.add_outcome(outcome)

    def _on_breaker(self, event: BreakerChanged) -> None:
        self.series.add_breaker(event.new, self._now())

    def _tick(self) -> None:
        if not self.isVisible():
            return  # a closed dock costs nothing; the first tick once shown catches up
        now = self._now()
        key = (self.series.version, self._window_s, int(now // bin_size(self._window_s)))
        if key == self._drawn:
            return  # nothing new, and time has not moved a display bin
        self._drawn = key
        self._draw(self.series.snapshot(now, self._window_s))

    def _draw(self, snap: Snapshot) -> None:
        x = snap.times
        c = self.curves
        for p in ("p50", "p95", "p99"):
            c[f"latency.{p}"].setData(x, _positive(getattr(snap, p)))
        for group in MIX_GROUPS:
            c[f"mix.{group}"].setData(x, snap.mix_stacked[group])
        c["cost.per_minute"].setData(x, snap.cost_per_minute)
        # The window's own spend, from $0 at its left edge.
        c["cost.cumulative"].setData([snap.starts[0], *x], [0.0, *snap.cumulative_dollars])
        c["cache.l1"].setData(x, [100 * r for r in snap.l1_hit_rate])
        c["cache.l2"].setData(x, [100 * r for r in snap.l2_hit_rate])
        for state, (bx, by) in _segments(snap.breaker, snap.now).items():
            c[f"breaker.{state}"].setData(bx, by, connect="finite")
        # Both axes' ranges set here, from data at hand: pyqtgraph's auto-range would
        # work them out again from the curves while painting, and paint twice.
        for plot in self.plots.values():
            plot.setXRange(snap.now - snap.window_s, snap.now, padding=0)
        self._latency_range(snap.p50 + snap.p95 + snap.p99)
        self.plots["cost"].setYRange(0, _nice(max(snap.cost_per_minute, default=0)),
                                     padding=0)
        self.plots["cumulative"].setYRange(0, _nice(snap.cumulative_dollars[-1]), padding=0)
        self._titles(snap)
        # The views' new transforms, now rather than when painting: changed then,
        # they dirty the curves again and the canvas is painted twice per redraw.
        self.canvas.scene().prepareForPaint()
        self.last_snapshot = snap
        self.redraw_count += 1

    def _latency_range(self, values: Sequence[float]) -> None:
        shown = [v for v in values if v > 0]  # NaN compares False
        if shown:  # the plot is logarithmic: its range is in decades
            low = math.floor(math.log10(min(shown)))
            high = max(low + 1, math.ceil(math.log10(max(shown))))
        else:
            low, high = _LATENCY_DECADES
        # One label a decade, or every other one where they would touch: pyqtgraph's
        # own log ticks label 2..9 of each decade too, and stack into a column.
        room = max(2, int(self.plots["latency"].getViewBox().height() // _LABEL_HEIGHT))
        step = math.ceil((high - low + 1) / room)
        if (low, high, step) == self._decades:
            return
        self._decades = (low, high, step)
        self.plots["latency"].setYRange(low, high, padding=0)
        ticks = [(d, duration(10.0 ** d)) for d in range(low, high + 1, step)]
        self.plots["latency"].getAxis("left").setTicks([ticks, []])

    def _titles(self, snap: Snapshot) -> None:
        # The window's figures beside the curves' names, where an operator looks
        # first. In the legends, not the titles: a long title would widen its
        # column past the panel.
        w = snap.window
        for q in (50, 95, 99):
            value = snap.percentile(q)
            self._set_label("latency", f"latency.p{q}",
                            f"p{q}" + ("" if math.isnan(value) else f" {duration(value)}"))
        for g in MIX_GROUPS:
            share = f" {w.mix[g] / w.count:.0%}" if w.count else ""
            self._set_label("mix", f"mix.{g}", MIX_LABELS[g] + share)
        self._set_label("cache", "cache.l1", "L1 memory" + _percent(w.l1_hits, w.lookups))
        self._set_label("cache", "cache.l2",
                        "L2 database" + _percent(w.l2_hits, w.lookups - w.l1_hits))
        self._set_title("cost", f"Cost per minute: {money(snap.cost_per_minute[-1])} now")
        self._set_title("cumulative", f"Spent in the window: {money(w.dollars)}")
        self._set_title("breaker", "LLM circuit breaker: "
                        + snap.breaker[-1][1].replace("_", "-"))
        self.summary.setText(f"{w.count:,} requests, {money(w.dollars)} in the window")

    def _set_title(self, plot: str, text: str) -> None:
        if self._texts.get(plot) != text:  # a new title re-lays out the plot
            self._texts[plot] = text
            self.plots[plot].setTitle(text, color=self.text_colour,
                                      size=_TITLE_SIZE)

    def _set_label(self, plot: str, curve: str, text: str) -> None:
        if self._texts.get(curve) != text:
            self._texts[curve] = text
            self.legends[plot].getLabel(self.curves[curve]).setText(text)


def _percent_ticks(plot: pg.PlotItem) -> None:
    plot.getAxis("left").setTicks([[(v, f"{v}%") for v in (0, 50, 100)], []])


def _nice(value: float) -> float:
    """A round top for a dollar axis (1, 2 or 5 of a power of ten), at least a cent."""
    if value <= 0.01:
        return 0.01
    power = 10 ** math.floor(math.log10(value))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= value))


def _percent(part: int, whole: int) -> str:
    return f" {part / whole:.0%}" if whole else ""


def _positive(values: list[float]) -> list[float]:
    # The latency plot is logarithmic: a 0 ms bin (a fake clock) has no place on it.
    return [v if v > 0 else math.nan for v in values]


def _segments(changes: list[tuple[float, str]],
              now: float) -> dict[str, tuple[list[float], list[float]]]:
    """(time, state) changes as one curve per state: a level line wherever the
    breaker was in it, gaps (NaN) elsewhere, so each state keeps its colour."""
    out: dict[str, tuple[list[float], list[float]]] = {s: ([], []) for s in BREAKER_LEVELS}
    for (at, state), (until, _) in zip(changes, [*changes[1:], (now, "")], strict=True):
        if state not in out:
            continue
        xs, ys = out[state]
        level = float(BREAKER_LEVELS[state])
        xs += [at, until, until]
        ys += [level, level, math.nan]
    return out
