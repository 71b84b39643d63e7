"""The learned tier as the operator reads it, like a rule: whether it is on, which
version runs and what it was trained on; the last backtest over recorded traffic
(coverage, precision, per intent, and the wrong answers it would give); a
threshold whose coverage and precision are read off the backtest's curve at once,
and which the candidate is backtested at (once the control rests) before it can
be used there; Train, which learns a candidate off the GUI thread and backtests it
on requests it never saw; and the versions, with Undo.

What each button does is the Qt-free `LearnedSession`'s (tested headless); the
panel shows it. Nothing here touches the running model until the operator
presses "Use this version", "Apply threshold" or "Switch on/off": a retrained
candidate waits beside the running one. Sentences for the operator go to the
panel's own status line and, for what happened, to `console.message`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from agentcore import Told
from console import message
from console.backtest_panel import RowsModel, _table
from console.learned_session import LearnedSession, Shown, version_figures, when
from console.rules_wording import plural
from console.status_label import StatusLabel

log = logging.getLogger("console.learned")

MIN_CONTROLS_WIDTH = 320  # the threshold row and the buttons stay readable
MIN_FIGURES_WIDTH = 340
BACKTEST_AFTER_MS = 400  # a threshold held this long is backtested (each run trains again)
_TABS = ("Per intent", "Wrong answers", "Threshold curve")


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _button(text: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.setMinimumWidth(32)  # squeezed (clipped) rather than set the window's width
    return button


class LearnedPanel(QWidget):
    """`session`: the learned tier's state and the operator's actions on it (Qt-free)."""

    trained = Signal()  # a training finished (or failed): tests and the screenshot wait on it

    def __init__(self, session: LearnedSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._training: asyncio.Task[Told] | None = None
        self._backtesting: asyncio.Task[Told] | None = None
        self.setObjectName("learned tier")

        self.state = StatusLabel()  # what runs now
        self.state.setObjectName("learned state")
        self.told = StatusLabel()  # the last action's sentence, refusals and errors too
        self.told.setObjectName("learned told")

        self.train_button = _button("Train", "Learn a candidate from the recorded traffic "
                                    "and backtest it on requests it did not learn from "
                                    "(the running model is unchanged)")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)  # no steps to count: a moving bar while it trains
        self.busy.setTextVisible(False)
        self.busy.setMaximumHeight(12)
        self.busy.setMaximumWidth(160)
        self.busy.setVisible(False)
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.50, 0.99)
        self.threshold.setSingleStep(0.01)
        self.threshold.setDecimals(2)
        self.threshold.setToolTip("The confidence a prediction needs before the tier "
                                  "answers; below it the LLM does")
        self.preview = StatusLabel()  # what the curve predicts at the chosen threshold
        self.preview.setObjectName("learned preview")
        self.use_button = _button("Use this version", "Make the candidate, at this "
                                  "threshold, the running model (a new version)")
        self.apply_threshold_button = _button("Apply threshold", "Give the running model "
                                              "this threshold (a new version; while a "
                                              "candidate waits, the threshold is its)")
        self.switch_button = _button("Switch on", "Let the running model answer requests")
        self.discard_button = _button("Discard", "Forget the candidate; the running model "
                                      "is unchanged")
        self.undo_button = _button("Undo", "Go back to the version before the last change "
                                   "(itself a new version)")

        self.intents = RowsModel(("Intent", "Requests", "Answered", "Right", "Coverage",
                                  "Precision"), self)
        self.wrong = RowsModel(("Request", "Predicted", "Expected", "Confidence"), self)
        self.curve = RowsModel(("Threshold", "Coverage", "Precision", "Answered"), self)
        # What decides first (a narrow window scrolls the rest into view).
        self.versions = RowsModel(("Version", "When", "Who", "On", "Threshold", "Coverage",
                                   "Precision", "Action", "Examples"), self)
        self.summary = StatusLabel()  # which backtest the figures are, and its totals
        self.summary.setObjectName("learned summary")
        self.figures = QTabWidget()
        for model, name, wide in zip((self.intents, self.wrong, self.curve), _TABS,
                                     (0, 0, None), strict=True):
            table = _table(model, wide=wide)
            table.setMinimumHeight(120)  # a few rows, however tight the split
            self.figures.addTab(table, name)
        wrong = self.figures.widget(1)
        assert isinstance(wrong, QTableView)
        for column, width in ((1, 124), (2, 124), (3, 80)):  # intents are read whole
            wrong.setColumnWidth(column, width)
        self.versions_view = _table(self.versions)
        self.versions_view.setMinimumHeight(110)
        # Each column as wide as its header (the figures are shorter): at 1024x700 the
        # list fits its half of the window, or scrolls sideways rather than widen it.
        metrics = self.versions_view.horizontalHeader().fontMetrics()
        for column, header in enumerate(self.versions.headers[:-1]):
            self.versions_view.setColumnWidth(column, metrics.horizontalAdvance(header) + 14)
        self.versions_view.setColumnWidth(1, metrics.horizontalAdvance("12-31 23:59") + 14)
        self._backtest_timer = QTimer(self)  # a threshold held still is backtested
        self._backtest_timer.setSingleShot(True)
        self._backtest_timer.setInterval(BACKTEST_AFTER_MS)
        self._backtest_timer.timeout.connect(self.backtest_threshold)
        # Training 100,000 requests takes a minute or more: the seconds show it moves.
        self._busy_since = 0.0
        self._busy_text = ""
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._show_elapsed)

        self._build_layout()
        self._wire()
        self.threshold.setValue(session.default_threshold())
        self.refresh()

    # -- construction ------------------------------------------------------------

    def _build_layout(self) -> None:
        controls = QWidget()
        controls.setMinimumWidth(MIN_CONTROLS_WIDTH)
        column = QVBoxLayout(controls)
        column.setContentsMargins(4, 4, 4, 4)
        column.addWidget(self.state)
        train_row = QHBoxLayout()
        train_row.addWidget(self.train_button)
        train_row.addWidget(self.busy, 1)
        train_row.addStretch(1)
        column.addLayout(train_row)
        threshold_row = QHBoxLayout()
        label = QLabel("&Threshold")
        label.setBuddy(self.threshold)
        threshold_row.addWidget(label)
        threshold_row.addWidget(self.threshold)
        threshold_row.addStretch(1)
        column.addLayout(threshold_row)
        column.addWidget(self.preview)
        buttons = QHBoxLayout()
        for button in (self.use_button, self.discard_button, self.apply_threshold_button,
                       self.switch_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        column.addLayout(buttons)
        column.addWidget(self.told)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        column.addWidget(line)
        versions_row = QHBoxLayout()
        versions_row.addWidget(QLabel("<b>Versions</b>"))
        versions_row.addStretch(1)
        versions_row.addWidget(self.undo_button)
        column.addLayout(versions_row)
        column.addWidget(self.versions_view, 1)
        # The controls scroll rather than push the window taller at 1024x700.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(controls)
        scroll.setMinimumWidth(MIN_CONTROLS_WIDTH)

        figures = QWidget()
        figures.setMinimumWidth(MIN_FIGURES_WIDTH)
        right = QVBoxLayout(figures)
        right.setContentsMargins(4, 4, 4, 4)
        right.addWidget(self.summary)
        right.addWidget(self.figures, 1)

        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(scroll)
        self.split.addWidget(figures)
        self.split.setChildrenCollapsible(False)  # a dragged handle never hides a part
        self.split.setStretchFactor(0, 2)
        self.split.setStretchFactor(1, 3)
        self._arranged_by_hand = False
        self.split.splitterMoved.connect(self._arranged)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.split, 1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    def _wire(self) -> None:
        self.train_button.clicked.connect(self.train)
        self.threshold.valueChanged.connect(lambda _value: self._threshold_changed())
        self.use_button.clicked.connect(self.use_candidate)
        self.discard_button.clicked.connect(self.discard_candidate)
        self.apply_threshold_button.clicked.connect(self.apply_threshold)
        self.switch_button.clicked.connect(self.switch)
        self.undo_button.clicked.connect(self.undo)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if not self._arranged_by_hand:  # until the operator drags the handle
            width = self.split.width()
            controls = max(MIN_CONTROLS_WIDTH, width * 9 // 20)
            self.split.setSizes([controls, width - controls])

    def _arranged(self, *_args: object) -> None:
        self._arranged_by_hand = True

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        told = self.session.take_up()  # another station or the CLI may have saved one
        if told.text:
            self.told.setText(told.text)
        self.refresh()

    def stop(self) -> None:
        """Stops waiting for a training and the session's worker (it reads the
        engine's database); the window calls it as it closes."""
        self._backtest_timer.stop()
        self._clock.stop()
        for task in (self._training, self._backtesting):
            if task is not None and not task.done():
                task.cancel()
        self.session.close()

    # -- actions -------------------------------------------------------------------

    @property
    def busy_now(self) -> bool:
        """A training or a backtest runs (tests and the screenshot wait on it)."""
        return any(t is not None and not t.done() for t in (self._training, self._backtesting))

    def train(self) -> asyncio.Task[Told]:
        """Starts training off the GUI thread; the panel shows it busy until done."""
        if self._training is not None and not self._training.done():
            return self._training
        self._working("Training on the recorded traffic…")
        self._training = asyncio.ensure_future(self.session.train(self.threshold.value()))
        self._training.add_done_callback(self._trained)
        self._update_busy()
        return self._training

    def _trained(self, task: asyncio.Task[Told]) -> None:
        if task.cancelled():  # the window closed
            return
        self._tell(_result(task, "Training failed"), warn=True)
        self.refresh()
        self._threshold_changed()  # moved while it trained: backtested there too
        self.trained.emit()

    def _threshold_changed(self) -> None:
        self._show_figures(self.session.shown(self.threshold.value()))
        self._show_preview()
        candidate = self.session.candidate
        if candidate is not None and candidate.backtest_at(self.threshold.value()) is None:
            self._backtest_timer.start()  # restarted by each step: only where it rests

    def backtest_threshold(self) -> asyncio.Task[Told] | None:
        """Backtests the candidate at the chosen threshold now (the timer does once the
        control rests); None while another backtest runs (asked again after it)."""
        self._backtest_timer.stop()
        if self._backtesting is not None and not self._backtesting.done():
            self._backtest_timer.start()  # one at a time: ask again once it is done
            return None
        threshold = self.threshold.value()
        self._working(f"Backtesting the candidate at {threshold:.2f}…")
        self._backtesting = asyncio.ensure_future(self.session.backtest_at(threshold))
        self._backtesting.add_done_callback(self._backtested)
        self._update_busy()
        return self._backtesting

    def _backtested(self, task: asyncio.Task[Told]) -> None:
        if task.cancelled():
            return
        told = _result(task, "The backtest failed")
        self.told.setText(told.text)
        if not told.done:
            message.warning(told.text)
        self.refresh()

    def use_candidate(self) -> None:
        self._tell(self.session.use_candidate(self.threshold.value()))
        self.refresh()

    def discard_candidate(self) -> None:
        self._tell(self.session.discard_candidate())
        self.threshold.setValue(self.session.default_threshold())
        self.refresh()

    def apply_threshold(self) -> None:
        self._tell(self.session.apply_threshold(self.threshold.value()))
        self.refresh()

    def switch(self) -> None:
        current = self.session.running()
        self._tell(self.session.switch(current is None or not current.enabled))
        self.refresh()

    def undo(self) -> None:
        told = self.session.undo()
        self._tell(told)
        if told.done:
            self.threshold.setValue(self.session.default_threshold())
        self.refresh()

    def _tell(self, told: Told, *, warn: bool = False) -> None:
        """Done: said in the panel and the status bar. Refused: in the panel; with
        `warn` (a training that could not run) in the status bar too."""
        self.told.setText(told.text)
        if told.done:
            message.info(told.text)
        elif warn:
            message.warning(told.text)

    # -- what is shown ---------------------------------------------------------------

    def refresh(self) -> None:
        """Reads the tier's versions and the session's candidate again."""
        session = self.session
        current = session.running()
        self.state.setText(session.running_text())
        self.switch_button.setText("Switch off" if current is not None and current.enabled
                                   else "Switch on")
        self._show_figures(session.shown(self.threshold.value()))
        self._show_versions()
        self._show_preview()
        self._update_busy()

    def _working(self, text: str) -> None:
        self._busy_text = text
        self._busy_since = time.monotonic()
        self.told.setText(text)
        self._clock.start()

    def _show_elapsed(self) -> None:
        if not self.busy_now:
            self._clock.stop()
            return
        seconds = int(time.monotonic() - self._busy_since)
        self.told.setText(f"{self._busy_text} {seconds} s")

    def _update_busy(self) -> None:
        busy = self.busy_now
        if not busy:
            self._clock.stop()
        self.busy.setVisible(busy)
        training = self._training is not None and not self._training.done()
        self.train_button.setEnabled(not training)

    def _show_figures(self, shown: Shown | None) -> None:
        if shown is None:
            self.summary.setText("No backtest yet: Train learns a candidate from the "
                                 "recorded traffic and backtests it on requests it did "
                                 "not learn from.")
            for model in (self.intents, self.wrong, self.curve):
                model.set_rows([])
            for i, name in enumerate(_TABS):
                self.figures.setTabText(i, name)
            return
        b = shown.backtest
        self.summary.setText(
            f"{shown.title}. Backtest on {plural(b.total, 'recorded request')} "
            f"({b.method}): at {b.threshold:.2f} it answers {percent(b.coverage)} "
            f"({b.answered:,}), {percent(b.precision)} of those right ({b.correct:,}).")
        self.intents.set_rows([
            (i.intent, i.total, i.answered, i.correct, percent(_share(i.answered, i.total)),
             percent(_share(i.correct, i.answered))) for i in b.per_intent])
        self.wrong.set_rows([(w.text, w.predicted, w.expected, f"{w.confidence:.2f}")
                             for w in b.wrong])
        self.curve.set_rows([(f"{p.threshold:.2f}", percent(p.coverage), percent(p.precision),
                              p.answered) for p in b.curve])
        counts = (len(b.per_intent), b.answered - b.correct, len(b.curve))
        for i, (name, count) in enumerate(zip(_TABS, counts, strict=True)):
            self.figures.setTabText(i, f"{name} ({count:,})")

    def _show_versions(self) -> None:
        rows: list[tuple[Any, ...]] = []
        for v in self.session.versions():
            figures = version_figures(v, v.threshold)
            rows.append((v.id, when(v.created_at, short=True), v.operator,
                         "on" if v.enabled else "off", f"{v.threshold:.2f}",
                         percent(figures.coverage if figures else None),
                         percent(figures.precision if figures else None), v.action,
                         v.examples))
        self.versions.set_rows(rows)
        self.undo_button.setEnabled(self.session.can_undo())

    def _show_preview(self) -> None:
        session, threshold = self.session, self.threshold.value()
        self.preview.setText(session.preview_text(threshold))
        self.use_button.setEnabled(session.can_use_candidate(threshold))
        self.discard_button.setEnabled(session.candidate is not None)
        self.apply_threshold_button.setEnabled(session.can_apply_threshold(threshold))
        self.switch_button.setEnabled(session.can_switch())  # off: always, candidate or not


def _result(task: asyncio.Task[Told], failed: str) -> Told:
    """What a finished action told; a bug in it becomes a sentence (the log has it)."""
    exc = task.exception()
    if exc is None:
        return task.result()
    log.error("%s", failed, exc_info=exc)
    return Told(False, f"{failed}: {exc} (details in the console log).")
