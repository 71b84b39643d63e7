"""A trace waterfall: one bar per span on one shared time axis.

Bars are placed by their start and end on the same axis, so spans that ran at
the same time (the tool calls of one LLM turn) sit side by side, and a stage
that waited on another starts where that one ended. Painted by hand: a trace
has a dozen spans, and a widget per bar would cost more than it shows.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QHelpEvent, QPainter, QPalette, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from agentcore import Span

ROW_H = 20
AXIS_H = 22
LABEL_W = 150
DURATION_W = 70
PAD = 8


@dataclass(frozen=True, slots=True)
class Bar:
    span: Span
    depth: int  # nesting under its parent span, for the label's indent
    rect: QRectF  # in widget coordinates, filled by layout


def bar_colour(span: Span) -> QColor:
    if span.error:
        return QColor("#e5534b")
    if span.name.startswith("tool:") or span.name == "refund_quote":
        return QColor("#e3a33b")  # tools: where parallelism shows
    if span.name in ("classify", "llm_loop") or span.name.startswith("llm"):
        return QColor("#5b8def")
    if span.name == "ladder":
        return QColor("#c586c0")
    return QColor("#3fb950")  # the deterministic stages


def format_ms(ms: float) -> str:
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    if ms >= 10:
        return f"{ms:.0f} ms"
    if ms >= 0.1:
        return f"{ms:.1f} ms"
    return f"{ms * 1000:.0f} µs"


def _nice_step(total_ms: float, max_ticks: int) -> float:
    """A 1/2/5 x 10^n tick step giving at most `max_ticks` ticks over `total_ms`."""
    raw = total_ms / max(1, max_ticks)
    exponent = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 5, 10):
        if factor * exponent >= raw:
            return factor * exponent
    return 10 * exponent


class WaterfallWidget(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._spans: list[Span] = []
        self._depths: list[int] = []
        self._t0 = 0.0
        self._total_ms = 0.0
        self._label_w = LABEL_W
        self.placeholder = "Select a request to see its trace"
        self.setMouseTracking(True)
        # As tall as its spans: the pane around it scrolls, no empty room below the bars.
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    # -- data ------------------------------------------------------------------

    def set_spans(self, spans: Sequence[Span]) -> None:
        # Parents first where they start together (llm_loop before its classify call).
        ordered = sorted(spans, key=lambda s: (s.start, -(s.end - s.start)))
        names = {s.name for s in ordered}
        depth_of: dict[str, int] = {}
        self._depths = []
        for span in ordered:
            depth = depth_of.get(span.parent, 0) + 1 if span.parent in names else 0
            depth_of.setdefault(span.name, depth)
            self._depths.append(depth)
        self._spans = ordered
        self._t0 = min((s.start for s in ordered), default=0.0)
        end = max((s.end for s in ordered), default=0.0)
        self._total_ms = max(0.0, (end - self._t0) * 1000)
        # Labels as wide as the longest name needs, so a narrow pane keeps room for bars.
        metrics = QFontMetrics(self.font())
        needed = max((metrics.horizontalAdvance(s.name) + d * 12
                      for s, d in zip(ordered, self._depths, strict=True)), default=0)
        self._label_w = max(60, min(LABEL_W, needed + 6))
        self.updateGeometry()
        self.update()

    def clear(self) -> None:
        self.set_spans([])

    def bars(self) -> list[Bar]:
        """The bars as painted now, one per span (also what tooltips and tests read)."""
        area = self._bar_area()
        scale = area.width() / self._total_ms if self._total_ms > 0 else 0.0
        bars = []
        for row, (span, depth) in enumerate(zip(self._spans, self._depths, strict=True)):
            x = area.left() + (span.start - self._t0) * 1000 * scale
            width = max(2.0, span.duration_ms * scale)  # a 5 µs stage still shows
            y = AXIS_H + row * ROW_H + 3
            bars.append(Bar(span, depth, QRectF(x, y, width, ROW_H - 6)))
        return bars

    # -- geometry --------------------------------------------------------------

    def _bar_area(self) -> QRectF:
        left = self._label_w + PAD
        return QRectF(left, AXIS_H, max(10.0, self.width() - left - DURATION_W - PAD),
                      len(self._spans) * ROW_H)

    def sizeHint(self) -> QSize:
        return QSize(520, AXIS_H + max(1, len(self._spans)) * ROW_H + PAD)

    def minimumSizeHint(self) -> QSize:
        return QSize(260, self.sizeHint().height())

    # -- painting --------------------------------------------------------------

    def paintEvent(self, event: object) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        text = pal.color(QPalette.ColorRole.Text)
        dim = pal.color(QPalette.ColorRole.PlaceholderText)
        painter.fillRect(self.rect(), pal.color(QPalette.ColorRole.Base))
        if not self._spans:
            painter.setPen(dim)
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.placeholder)
            return
        self._paint_axis(painter, text, dim)
        metrics = QFontMetrics(self.font())
        for row, bar in enumerate(self.bars()):
            if row % 2:
                painter.fillRect(QRectF(0, AXIS_H + row * ROW_H, self.width(), ROW_H),
                                 pal.color(QPalette.ColorRole.AlternateBase))
            label_rect = QRectF(PAD + bar.depth * 12, AXIS_H + row * ROW_H,
                                self._label_w - bar.depth * 12, ROW_H)
            painter.setPen(text if not bar.span.error else QColor("#e5534b"))
            label = metrics.elidedText(bar.span.name, Qt.TextElideMode.ElideRight,
                                       int(label_rect.width()))
            painter.drawText(label_rect, Qt.AlignmentFlag.AlignVCenter, label)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(bar_colour(bar.span))
            painter.drawRoundedRect(bar.rect, 3, 3)
            painter.setPen(dim)
            # The duration follows its bar, or sits at the right edge when the bar fills the row.
            x = min(bar.rect.right() + 6, self.width() - DURATION_W)
            painter.drawText(QRectF(x, AXIS_H + row * ROW_H, DURATION_W, ROW_H),
                             Qt.AlignmentFlag.AlignVCenter, format_ms(bar.span.duration_ms))

    def _paint_axis(self, painter: QPainter, text: QColor, dim: QColor) -> None:
        area = self._bar_area()
        if self._total_ms <= 0:
            return
        step = _nice_step(self._total_ms, max(2, int(area.width() // 90)))
        scale = area.width() / self._total_ms
        grid = QColor(dim)
        grid.setAlpha(60)
        tick = 0.0
        while tick <= self._total_ms + 1e-9:
            x = area.left() + tick * scale
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(x, AXIS_H - 4), QPointF(x, area.bottom()))
            painter.setPen(dim)
            painter.drawText(QRectF(x - 40, 2, 80, AXIS_H - 6), Qt.AlignmentFlag.AlignCenter,
                             format_ms(tick) if tick else "0")
            tick += step

    # -- tooltips --------------------------------------------------------------

    def span_at(self, pos: QPointF) -> Span | None:
        row = int((pos.y() - AXIS_H) // ROW_H)
        if pos.y() < AXIS_H or not 0 <= row < len(self._spans):
            return None
        return self._spans[row]

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            span = self.span_at(QPointF(event.pos()))
            if span is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.describe(span), self)
            return True
        return super().event(event)

    def describe(self, span: Span) -> str:
        esc = html.escape  # span attributes hold customer text and tool payloads
        lines = [f"<b>{esc(span.name)}</b>",
                 esc(f"starts at +{format_ms((span.start - self._t0) * 1000)}, "
                     f"takes {format_ms(span.duration_ms)}")]
        lines += [esc(f"{key}: {value}") for key, value in span.attributes.items()]
        if span.error:
            lines.append(f"<span style='color:#e5534b'>error: {esc(span.error)}</span>")
        return "<br>".join(lines)
