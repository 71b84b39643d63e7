"""The learned tier in the Rules workspace as an operator uses it: train a candidate
from the panel (the window keeps turning meanwhile), read its hold-out backtest,
switch it on, change the threshold, undo, and find the same version running after
reopening the console; a training that cannot run says why."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from PySide6.QtCore import Qt, QTimer

from console import message

GATE_S = 20.0  # the gate opens by itself then, so a broken test fails rather than hangs


class GatedTraffic:
    """The engine's recorded traffic, read only once the test opens the gate: while it
    is shut a training is provably still running, and the window must keep turning."""

    def __init__(self, traffic) -> None:
        self.traffic = traffic
        self.gate = threading.Event()
        self.reading = threading.Event()

    def intent_rows(self, limit: int):
        self.reading.set()
        self.gate.wait(GATE_S)
        return self.traffic.intent_rows(limit)


def open_panel(console, qtbot):
    window = console.window
    window.show()
    window.show_learned()
    qtbot.waitExposed(window)
    return window.learned


def click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def train(qtbot, panel) -> None:
    with qtbot.waitSignal(panel.trained, timeout=60_000):
        click(qtbot, panel.train_button)


@pytest.fixture
def said(qapp):
    texts: list[tuple[str, str]] = []
    message.global_bridge.shown.connect(lambda level, text: texts.append((level, text)))
    return texts


def test_training_runs_off_the_gui_thread_and_the_candidate_waits_beside_the_running_model(
        make_console, recorded, qtbot):
    console = make_console(recorded)
    panel = open_panel(console, qtbot)
    gated = GatedTraffic(panel.session.traffic)
    panel.session.traffic = gated
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    assert panel.session.running() is None
    assert "no model trained yet" in panel.state.text()
    assert not panel.use_button.isEnabled()

    click(qtbot, panel.train_button)
    qtbot.waitUntil(gated.reading.is_set, timeout=10_000)
    before = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) >= before + 5, timeout=10_000)  # still turning
    assert panel.busy.isVisible() and not panel.train_button.isEnabled()
    assert "Training" in panel.told.text()
    panel.threshold.setValue(0.80)  # the operator moves on while it trains at 0.90
    with qtbot.waitSignal(panel.trained, timeout=60_000):
        gated.gate.set()
    timer.stop()

    assert panel.train_button.isEnabled()
    assert panel.session.candidate is not None
    assert panel.summary.text().startswith("Candidate, not running.")
    assert "(hold-out, 5 folds): at 0.90" in panel.summary.text()
    assert panel.intents.rowCount() > 0
    assert not panel.use_button.isEnabled()  # no backtest at 0.80 yet: it is run next
    qtbot.waitUntil(panel.use_button.isEnabled, timeout=60_000)
    assert "(hold-out, 5 folds): at 0.80" in panel.summary.text()
    assert panel.busy.isHidden()
    assert console.engine.learned.current() is None  # nothing runs until it is used


def test_train_switch_on_change_the_threshold_undo_and_reopen(make_console, recorded,
                                                              qtbot, said):
    recorded.escalations.operator = "dana"
    console = make_console(recorded)
    panel = open_panel(console, qtbot)
    train(qtbot, panel)
    assert panel.threshold.value() == pytest.approx(0.90)  # the setting's, with no version
    backtest = panel.session.candidate.backtest_at(0.90)
    assert backtest.total > 0 and backtest.method.startswith("hold-out")
    assert f"{backtest.coverage:.1%}" in panel.summary.text()
    assert f"{backtest.precision:.1%}" in panel.summary.text()
    assert panel.intents.rowCount() == len(backtest.per_intent)
    assert panel.use_button.isEnabled()

    # Another threshold: the curve says at once what it would do; it is used only once
    # a backtest at that very threshold is in.
    panel.threshold.setValue(0.95)
    point = next(p for p in backtest.curve if p.threshold == pytest.approx(0.95))
    assert panel.preview.text().startswith(
        f"At 0.95 the candidate would answer {point.coverage:.1%}")
    assert panel.preview.text().endswith("(its curve).")
    assert not panel.use_button.isEnabled()
    qtbot.waitUntil(panel.use_button.isEnabled, timeout=60_000)
    assert panel.preview.text().endswith("(its backtest).")
    assert "at 0.95 it answers" in panel.summary.text()
    click(qtbot, panel.use_button)

    current = console.engine.learned.current()
    assert current is not None and current.enabled and current.threshold == pytest.approx(0.95)
    assert panel.state.text().startswith(f"On: version {current.id}")
    assert panel.session.candidate is None  # used: the figures are now the running one's
    assert panel.summary.text().startswith(f"Version {current.id}, running.")
    first = panel.versions.rows[0]
    assert first[:5] == (current.id, first[1], "dana", "on", "0.95")
    assert first[7] == "train"
    assert any("is on at threshold 0.95" in text for _level, text in said)

    panel.threshold.setValue(0.80)
    assert panel.preview.text().startswith("At 0.80 the running model would answer")
    click(qtbot, panel.apply_threshold_button)
    assert console.engine.learned.current().threshold == pytest.approx(0.80)
    assert panel.versions.rowCount() == 2 and panel.versions.rows[0][4] == "0.80"
    assert panel.versions.rows[0][7] == "threshold"

    click(qtbot, panel.undo_button)
    back = console.engine.learned.current()
    assert back.threshold == pytest.approx(0.95) and back.enabled
    assert panel.threshold.value() == pytest.approx(0.95)
    assert panel.told.text().startswith("Undone: version 3 restores version 1")
    kept = back.id
    make_console.close(console)

    reopened = make_console(recorded)
    panel = open_panel(reopened, qtbot)
    current = reopened.engine.learned.current()
    assert current is not None and current.id == kept and current.enabled
    assert panel.state.text().startswith(f"On: version {kept}")
    assert panel.versions.rowCount() >= 3


def test_a_training_without_enough_examples_says_so_in_the_panel(make_console, settings,
                                                                  qtbot, said):
    console = make_console(settings)  # an engine that has answered nothing yet
    panel = open_panel(console, qtbot)
    train(qtbot, panel)

    assert panel.told.text().startswith("Not trained:")
    assert any(level == "warning" and text.startswith("Not trained:")
               for level, text in said)
    assert panel.session.candidate is None and not panel.use_button.isEnabled()
    assert panel.train_button.isEnabled()  # try again once traffic has come in
    assert console.engine.learned.current() is None


def test_the_learned_tier_is_readable_at_1024x700(make_console, recorded, qtbot):
    console = make_console(recorded)
    window = console.window
    window.resize(1024, 700)
    panel = open_panel(console, qtbot)
    train(qtbot, panel)
    qtbot.wait(50)  # the new texts' layout requests

    assert window.width() == 1024 and window.height() == 700
    assert window.minimumSizeHint().width() <= 1024
    assert window.minimumSizeHint().height() <= 700
    figures = panel.figures.currentWidget()
    rows = figures.height() // max(1, figures.verticalHeader().defaultSectionSize())
    assert rows >= 8  # the per-intent table lists its intents, not two
    assert panel.versions_view.height() >= 110
    for part in (panel.train_button, panel.threshold, panel.use_button, panel.undo_button):
        assert part.isVisible() and part.width() >= part.sizeHint().width(), part
    # Side by side: the controls and versions left, the backtest's figures right.
    controls_right = panel.threshold.mapTo(panel, panel.threshold.rect().topRight()).x()
    assert controls_right < panel.figures.mapTo(panel, panel.figures.rect().topLeft()).x()


def test_a_version_whose_model_cannot_be_read_says_so_and_retraining_mends_it(
        make_console, recorded, qtbot):
    console = make_console(recorded)
    panel = open_panel(console, qtbot)
    train(qtbot, panel)
    click(qtbot, panel.use_button)
    make_console.close(console)
    with sqlite3.connect(recorded.engine_db) as conn:  # a damaged file, as a disk leaves it
        conn.execute("UPDATE learned_models SET model = x'00' WHERE model IS NOT NULL")

    reopened = make_console(recorded)
    panel = open_panel(reopened, qtbot)
    assert panel.state.text().startswith("On: version 1,")
    assert "It does not answer: the stored intent model" in panel.state.text()
    train(qtbot, panel)
    click(qtbot, panel.use_button)
    assert "does not answer" not in panel.state.text()
    assert reopened.engine.learned.predict("hello") is not None


def test_closing_the_window_mid_training_saves_nothing_and_leaves_no_error(
        make_console, recorded, qtbot):
    console = make_console(recorded)
    panel = open_panel(console, qtbot)
    gated = GatedTraffic(panel.session.traffic)
    panel.session.traffic = gated
    task = panel.train()
    qtbot.waitUntil(gated.reading.is_set, timeout=10_000)
    threading.Timer(0.2, gated.gate.set).start()  # the read ends as the window closes
    make_console.close(console)  # the fixture's loop fails the test on a stray error

    assert task.cancelled() or not task.result().done
    reopened = make_console(recorded)
    assert reopened.engine.learned.current() is None


def test_a_version_saved_by_another_station_is_taken_up_when_the_tab_is_shown(
        make_console, recorded, qtbot, run_async):
    from agentcore import Engine

    console = make_console(recorded)
    panel = open_panel(console, qtbot)
    train(qtbot, panel)
    click(qtbot, panel.use_button)
    console.window.show_rules()  # the operator looks at the rule set meanwhile

    other = Engine(recorded)  # a second station on the same database
    try:
        other.learned.set_enabled(False, "lee")
    finally:
        run_async(other.close())

    console.window.show_learned()
    assert panel.state.text().startswith("Off: version 2,")
    assert console.engine.learned.predict("hello") is None  # off here too
    assert panel.versions.rows[0][2:4] == ("lee", "off")
    assert panel.versions.rows[0][7] == "disable"
