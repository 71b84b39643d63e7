"""The demo traffic: the sample corpus replayed at a rate the operator sets.

`TrafficGenerator` is a Qt adapter over `agentcore.Pacer` (the schedule, the
bound on what is in flight, laps, pause and resume; shared with `agentcore
replay`): it turns the pacer's callbacks into signals for the panel and the
window's actions. It submits through the callable it is given, not through an
engine, so nothing here knows more of the engine than "submit a request".

Where the demo stopped survives a restart, a crash included: given the window's
QSettings store, the generator starts from the position kept there
(`traffic/position`, beside the rate) and writes it back when it pauses and
every `SAVE_EVERY_S` while it runs. The next launch carries on from that row
instead of replaying, and re-escalating, the same first requests every time.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from agentcore import Outcome, Pacer, Position, Request, to_request

log = logging.getLogger("console.traffic")

MAX_RATE = 1000.0
MIN_RATE = 0.01  # the pacer's 0 means "unpaced": the demo always has a rate
KEY_POSITION = "traffic/position"
# How often a running generator writes its position down: a crash replays at most
# this much of the corpus again, and the window's file is not rewritten per request.
SAVE_EVERY_S = 2.0

Submit = Callable[[Request], Awaitable[Outcome]]


class TrafficGenerator(QObject):
    running_changed = Signal(bool)
    progress = Signal(int, int, int)  # position in the corpus, corpus size, completed laps

    def __init__(self, submit: Submit, rows: Sequence[dict[str, Any]], *, rate: float = 5.0,
                 concurrency: int = 16, store: QSettings | None = None,
                 parent: QObject | None = None) -> None:
        """`store` keeps the position between launches (None: start at row 0, keep none)."""
        super().__init__(parent)
        self.rows = list(rows)
        self._store = store
        self._saved_at = -SAVE_EVERY_S
        position = stored_position(store, self.rows) if store is not None else Position()
        self.pacer: Pacer[dict[str, Any], Outcome] = Pacer(
            self.rows, lambda row: submit(to_request(row)), rate=_bounded(rate),
            concurrency=concurrency, position=position, on_progress=self._on_progress,
            on_running=self._on_running)

    # The pacer's state, as the panel and the tests read it.
    @property
    def running(self) -> bool:
        return self.pacer.running

    @property
    def in_flight(self) -> int:
        return self.pacer.in_flight

    @property
    def submitted(self) -> int:
        return self.pacer.submitted

    @property
    def position(self) -> int:
        return self.pacer.position.index

    @property
    def laps(self) -> int:
        return self.pacer.position.lap

    @property
    def rate(self) -> float:
        return self.pacer.rate

    @property
    def concurrency(self) -> int:
        return self.pacer.concurrency

    def set_rate(self, rate: float) -> None:
        self.pacer.set_rate(_bounded(rate))

    def set_concurrency(self, concurrency: int) -> None:
        self.pacer.set_concurrency(concurrency)

    def start(self) -> None:
        self.pacer.start()

    def pause(self) -> None:
        self.pacer.pause()

    def toggle(self) -> None:
        if self.running:
            self.pause()
        else:
            self.start()

    async def stop(self) -> None:
        """Pauses and waits for what is in flight (shutdown)."""
        await self.pacer.stop()

    def _on_running(self, running: bool) -> None:
        if running:
            log.info("traffic started at row %d: %.1f requests/s, at most %d in flight",
                     self.position, self.rate, self.concurrency)
        else:
            log.info("traffic paused after %d submissions, at row %d", self.submitted,
                     self.position)
            self.save_position()
        self.running_changed.emit(running)

    def _on_progress(self, position: Position) -> None:
        self.progress.emit(position.index, len(self.rows), position.lap)
        if time.monotonic() - self._saved_at >= SAVE_EVERY_S:
            self.save_position()

    def save_position(self) -> None:
        """Writes the position to the store now (to disk: a crash may follow)."""
        if self._store is None:
            return
        self._saved_at = time.monotonic()
        store_position(self._store, self.rows, self.pacer.position)
        self._store.sync()


def _bounded(rate: float) -> float:
    return min(MAX_RATE, max(MIN_RATE, rate))


def _fingerprint(rows: Sequence[dict[str, Any]]) -> str:
    """Which corpus a saved position is a position in: another corpus starts at 0."""
    digest = hashlib.blake2b(digest_size=6)
    for row in rows:
        digest.update(str(row.get("text", "")).encode("utf-8", "replace") + b"\0")
    return f"{len(rows)}-{digest.hexdigest()}"


def stored_position(store: QSettings, rows: Sequence[dict[str, Any]]) -> Position:
    """Where the demo stopped last time, for these rows; the start if unknown."""
    value = store.value(KEY_POSITION)
    try:
        index, lap, corpus = str(value).split()
        if corpus == _fingerprint(rows):
            return Position(int(index), int(lap))
    except ValueError:
        if value is not None:
            log.warning("ignoring the stored %s: %r", KEY_POSITION, value)
    return Position()


def store_position(store: QSettings, rows: Sequence[dict[str, Any]], where: Position) -> None:
    store.setValue(KEY_POSITION, f"{where.index} {where.lap} {_fingerprint(rows)}")


class TrafficPanel(QWidget):
    """Start/pause, rate and concurrency controls, and the corpus progress."""

    def __init__(self, generator: TrafficGenerator, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.generator = generator
        self.toggle_button = QPushButton("Start")
        self.toggle_button.setCheckable(True)
        self.rate = QDoubleSpinBox()
        self.rate.setRange(0.1, MAX_RATE)
        self.rate.setDecimals(1)
        self.rate.setSuffix(" req/s")
        self.rate.setValue(generator.rate)
        self.rate.setToolTip("Requests per second replayed from the corpus")
        self.concurrency = QSpinBox()
        self.concurrency.setRange(1, 256)
        self.concurrency.setValue(generator.concurrency)
        self.concurrency.setToolTip("Requests in flight at most")
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, max(1, len(generator.rows)))
        self.progress_bar.setValue(generator.position)
        self.progress_bar.setFormat("%v / %m")
        self.laps = QLabel()

        self.toggle_button.setMinimumWidth(80)
        self.laps.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Rate"))
        top.addWidget(self.rate)
        top.addStretch(1)
        top.addWidget(self.toggle_button)
        bottom = QHBoxLayout()
        bottom.addWidget(self.laps, 1)
        bottom.addWidget(QLabel("In flight ≤"))
        bottom.addWidget(self.concurrency)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.progress_bar)
        layout.addLayout(bottom)
        layout.addStretch(1)

        self.toggle_button.clicked.connect(self._on_toggle_clicked)
        self.rate.valueChanged.connect(generator.set_rate)
        self.concurrency.valueChanged.connect(generator.set_concurrency)
        generator.running_changed.connect(self._on_running)
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.setInterval(100)
        self._progress_timer.timeout.connect(self._show_progress)
        generator.progress.connect(self._on_progress)
        self._on_running(generator.running)
        self._latest = (generator.position, len(generator.rows), generator.laps)
        self._show_progress()

    def _on_toggle_clicked(self, checked: bool) -> None:
        if checked:
            self.generator.start()
        else:
            self.generator.pause()

    def _on_running(self, running: bool) -> None:
        self.toggle_button.setChecked(running)
        self.toggle_button.setText("Pause" if running else "Start")

    def _on_progress(self, position: int, total: int, laps: int) -> None:
        # Measured: a progress-bar repaint per submission cost ~0.35 ms each, 5 % of
        # the loop at 200 req/s. Show the latest position at most 10 times a second.
        self._latest = (position, total, laps)
        if not self._progress_timer.isActive():
            self._progress_timer.start()

    def _show_progress(self) -> None:
        position, total, laps = self._latest
        self.progress_bar.setValue(position)
        source = f"{total:,} requests in the corpus"
        self.laps.setText(f"{source}, lap {laps + 1}" if laps else source)
