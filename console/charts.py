"""Live charts of the engine: latency, cost, cache tiers, route mix, breaker state.

Signals only feed a Qt-free `LiveSeries`; drawing happens on a 100 ms timer and
only when the series changed (or time moved a display bin), so the redraw rate
is at most 10 per second whatever the traffic. All six plots share one
`GraphicsLayoutWidget` (one scene, one paint) and a time axis in wall-clock time,
the clock the engine stamps its spans with.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from agentcore import BreakerChanged, Engine, Outcome
from console.bridge import EngineBridge
from console.live_series import BREAKER_LEVELS, MIX_GROUPS, LiveSeries, Snapshot, bin_size

WINDOWS = ((60, "1 min"), (300, "5 min"), (900, "15 min"), (3600, "60 min"))
REDRAW_INTERVAL_MS = 100  # at most 10 redraws a second
_ROWS = 3  # of plots, two to a row
_AXIS_WIDTH = 64  # pixels for the y labels: "half-open", "0.0125"

# Readable on the dark and the light theme alike.
_COLORS = {
    "p50": "#4c9be8", "p95": "#e8a33c", "p99": "#e0554c",
    "per_minute": "#4c9be8", "cumulative": "#8f6ad8",
    "l1": "#3cb371", "l2": "#4c9be8",
    "rule": "#3cb371", "cache": "#4c9be8", "llm": "#8f6ad8", "degraded": "#e8a33c",
    "human": "#e0554c", "rejected": "#9a9a9a",
    "breaker": "#e0554c",
}
_MIX_LABELS = {"rule": "rule", "cache": "cache", "llm": "LLM", "degraded": "degraded",
               "human": "human", "rejected": "rejected"}


class ChartsPanel(QWidget):
    def __init__(self, bridge: EngineBridge, engine: Engine,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._clock = engine.clock
        now = self._clock.now()
        self.series = LiveSeries(max_window_s=WINDOWS[-1][0],
                                 breaker_state=str(engine.breaker.state), now=now)
        self.redraw_count = 0  # read by the bench: redraws per second stay <= 10
        self.last_snapshot: Snapshot | None = None  # what the curves now show
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.plots: dict[str, pg.PlotItem] = {}
        self._texts: dict[str, str] = {}  # titles and legend labels shown
        self._window_s = WINDOWS[0][0]
        self._drawn: tuple[int, int, int] | None = None
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_INTERVAL_MS)
        self._wire(bridge)
        self._timer.start()

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
        latency = self._plot("latency", 0, 0, "Latency (ms)")
        latency.setLogMode(y=True)
        for p in ("p50", "p95", "p99"):
            self._curve(latency, f"latency.{p}", p, _COLORS[p])
        mix = self._plot("mix", 0, 1, "Route mix (% of requests)")
        mix.setYRange(0, 100)
        for group in MIX_GROUPS:
            self._curve(mix, f"mix.{group}", _MIX_LABELS[group], _COLORS[group])
        per_minute = self._plot("cost", 1, 0, "Cost per minute ($)")
        self._curve(per_minute, "cost.per_minute", None, _COLORS["per_minute"])
        cumulative = self._plot("cumulative", 1, 1, "Cumulative cost ($)")
        self._curve(cumulative, "cost.cumulative", None, _COLORS["cumulative"])
        cache = self._plot("cache", 2, 0, "Cache hit rate per tier (%)")
        cache.setYRange(0, 100)
        self._curve(cache, "cache.l1", "L1 memory", _COLORS["l1"])
        self._curve(cache, "cache.l2", "L2 SQLite", _COLORS["l2"])
        breaker = self._plot("breaker", 2, 1, "LLM circuit breaker")
        breaker.setYRange(-0.2, 2.2)
        breaker.getAxis("left").setTicks([[(level, state.replace("_", "-"))
                                           for state, level in BREAKER_LEVELS.items()]])
        self._curve(breaker, "breaker", None, _COLORS["breaker"], width=2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.canvas, 1)

    def _plot(self, name: str, row: int, col: int, title: str) -> pg.PlotItem:
        plot = self.canvas.addPlot(row=row, col=col, title=title,
                                   axisItems={"bottom": pg.DateAxisItem(orientation="bottom")})
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

    def _curve(self, plot: pg.PlotItem, key: str, name: str | None, color: str,
               width: float = 1.5) -> None:
        if name is not None and plot.legend is None:
            plot.addLegend(offset=(4, 4), labelTextSize="8pt")
        self.curves[key] = plot.plot([], [], name=name, pen=pg.mkPen(color, width=width))

    def _wire(self, bridge: EngineBridge) -> None:
        bridge.outcome.connect(self._on_outcome)
        bridge.breaker_changed.connect(self._on_breaker)
        self.window_combo.currentIndexChanged.connect(
            lambda i: self.set_window(int(self.window_combo.itemData(i))))
        self._timer.timeout.connect(self._tick)

    # -- events and drawing ---------------------------------------------------

    def _on_outcome(self, outcome: Outcome) -> None:
        self.series.add_outcome(outcome)

    def _on_breaker(self, event: BreakerChanged) -> None:
        self.series.add_breaker(event.new, self._clock.now())

    def _tick(self) -> None:
        if not self.isVisible():
            return  # a closed dock costs nothing; the first tick once shown catches up
        now = self._clock.now()
        key = (self.series.version, self._window_s, int(now // bin_size(self._window_s)))
        if key == self._drawn:
            return  # nothing new, and time has not moved a display bin
        self._drawn = key
        self._draw(self.series.snapshot(now, self._window_s))

    def _draw(self, snap: Snapshot) -> None:
        x = snap.times
        c = self.curves
        c["latency.p50"].setData(x, _positive(snap.p50))
        c["latency.p95"].setData(x, _positive(snap.p95))
        c["latency.p99"].setData(x, _positive(snap.p99))
        for group in MIX_GROUPS:
            c[f"mix.{group}"].setData(x, [100 * s for s in snap.mix_shares[group]])
        c["cost.per_minute"].setData(x, snap.cost_per_minute)
        c["cost.cumulative"].setData(x, snap.cumulative_dollars)
        c["cache.l1"].setData(x, [100 * r for r in snap.l1_hit_rate])
        c["cache.l2"].setData(x, [100 * r for r in snap.l2_hit_rate])
        bx, by = _steps(snap.breaker, snap.now)
        c["breaker"].setData(bx, by)
        # Both axes' ranges set here, from data at hand: pyqtgraph's auto-range would
        # work them out again from the curves while painting, and paint twice.
        for plot in self.plots.values():
            plot.setXRange(snap.now - snap.window_s, snap.now, padding=0)
        latency = [v for v in snap.p99 + snap.p50 if v > 0]  # NaN compares False
        if latency:  # the plot is logarithmic: its range is in decades
            low, high = math.log10(min(latency)), math.log10(max(latency))
            self.plots["latency"].setYRange(low, max(high, low + 1), padding=0.05)
        self.plots["cost"].setYRange(0, max(snap.cost_per_minute, default=0) or 1e-4,
                                     padding=0.05)
        spent = snap.cumulative_dollars
        self.plots["cumulative"].setYRange(spent[0], max(spent[-1], spent[0] + 1e-4),
                                           padding=0.05)
        self._titles(snap)
        # The views' new transforms, now rather than when painting: changed then,
        # they dirty the curves again and the canvas is painted twice per redraw.
        self.canvas.scene().prepareForPaint()
        self.last_snapshot = snap
        self.redraw_count += 1

    def _titles(self, snap: Snapshot) -> None:
        # The window's figures beside the curves' names, where an operator looks
        # first. In the legends, not the titles: a long title would widen its
        # column past the panel.
        w = snap.window
        for q in (50, 95, 99):
            value = snap.percentile(q)
            self._set_label("latency", f"latency.p{q}",
                            f"p{q}" + ("" if math.isnan(value) else f" {value:.1f} ms"))
        for g in MIX_GROUPS:
            share = f" {w.mix[g] / w.count:.0%}" if w.count else ""
            self._set_label("mix", f"mix.{g}", _MIX_LABELS[g] + share)
        self._set_label("cache", "cache.l1", "L1 memory" + _percent(w.l1_hits, w.lookups))
        self._set_label("cache", "cache.l2",
                        "L2 SQLite" + _percent(w.l2_hits, w.lookups - w.l1_hits))
        self._set_title("cumulative", f"Cumulative cost: ${snap.cumulative_dollars[-1]:.4f}")
        self._set_title("breaker", "LLM circuit breaker: "
                        + snap.breaker[-1][1].replace("_", "-"))
        self.summary.setText(f"{w.count:,} requests, ${w.dollars:.4f} in the window")

    def _set_title(self, plot: str, text: str) -> None:
        if self._texts.get(plot) != text:  # a new title re-lays out the plot
            self._texts[plot] = text
            self.plots[plot].setTitle(text)

    def _set_label(self, plot: str, curve: str, text: str) -> None:
        if self._texts.get(curve) != text:
            self._texts[curve] = text
            legend = self.plots[plot].legend
            assert legend is not None  # every named curve has one
            legend.getLabel(self.curves[curve]).setText(text)


def _percent(part: int, whole: int) -> str:
    return f" {part / whole:.0%}" if whole else ""


def _positive(values: list[float]) -> list[float]:
    # The latency plot is logarithmic: a 0 ms bin (a fake clock) has no place on it.
    return [v if v > 0 else math.nan for v in values]


def _steps(changes: list[tuple[float, str]], now: float) -> tuple[list[float], list[float]]:
    """(time, state) changes as a step line that holds each state until the next."""
    xs: list[float] = []
    ys: list[float] = []
    for (at, state), (until, _) in zip(changes, [*changes[1:], (now, "")], strict=True):
        level = float(BREAKER_LEVELS.get(state, 0))
        xs += [at, until]
        ys += [level, level]
    return xs, ys
