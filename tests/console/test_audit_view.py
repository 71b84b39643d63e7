"""The Audit workspace: what two operators did on one engine database (this station's
and another's), newest first, filtered by operator, action and period as the operator
picks them; Ctrl+4 opens it, F1 lists its keys, and File exports what it shows."""

from __future__ import annotations

import csv

from PySide6.QtCore import Qt

from agentcore.storage import SQLiteStorage
from console.audit_model import PERIODS
from console.workspaces import Workspace
from tests.console.desk import OPERATOR, claimed_refund

CTRL = Qt.KeyboardModifier.ControlModifier


def _rows(window) -> list[tuple[str, str, str]]:
    """(operator, what, item) of each row shown but the rules' seed at first start."""
    model = window.audit.model
    rows = [tuple(model.data(model.index(r, c)) for c in (1, 2, 3))
            for r in range(model.rowCount())]
    return [r for r in rows if r[0] != "system"]


def test_the_audit_lists_both_stations_and_filters_them(desk, settings, run_async, qtbot,
                                                        clock, tmp_path):
    window = desk.window
    claimed_refund(desk, settings, run_async, qtbot)  # alice claims, from the keyboard
    item = window.escalation.item.id
    run_async(desk.engine.escalations.release(item, OPERATOR))
    clock.advance(5)
    # Ben, at another station on the same database: he takes the item, a saved reply.
    bens = SQLiteStorage(settings.engine_db)
    try:
        run_async(desk.engine.escalations.claim(item, "ben", lease_s=300))
        bens.replies.add("Courier delay", "Sorry, it is late.", "ben", clock.now())
    finally:
        bens.close()

    qtbot.keyClick(window, Qt.Key.Key_4, CTRL)
    qtbot.waitUntil(lambda: window.workspaces.current is Workspace.AUDIT)
    qtbot.waitUntil(lambda: len(_rows(window)) >= 4)
    escalation = f"escalation {item}"
    assert _rows(window)[:4] == [
        ("ben", "Saved reply", "saved reply 'Courier delay'"),
        ("ben", "Claimed", escalation),
        (OPERATOR, "Released", escalation),
        (OPERATOR, "Claimed", escalation)]
    assert "newest first" in window.audit.status.text()

    window.audit.choose(operator="ben")
    assert [r[0] for r in _rows(window)] == ["ben", "ben"]
    assert window.audit.status.text().startswith("2 actions by ben")
    window.audit.choose(operator=OPERATOR, kind="claim")
    assert _rows(window) == [(OPERATOR, "Claimed", escalation)]

    clock.advance(2 * 3600)  # the last hour holds none of it; the last 24 hours all
    hour = next(i for i, (label, _) in enumerate(PERIODS) if label == "Last hour")
    window.audit.choose(period=hour)
    assert _rows(window) == []
    assert window.audit.status.text() == (f"No actions by {OPERATOR} (claimed) in the "
                                          "last hour")
    assert not window.audit.export_button.isEnabled()
    window.audit.choose(operator="", kind="", period=hour + 1)
    assert window.audit.operator.currentData() is None
    assert len(_rows(window)) >= 4

    path = tmp_path / "audit.csv"
    assert window.exporter.export_audit(window.audit.listing, path) == (
        window.audit.model.rowCount())  # the rows shown, the seed too
    with path.open(newline="", encoding="utf-8") as f:
        exported = list(csv.DictReader(f))
    assert (exported[0]["operator"], exported[0]["kind"]) == ("ben", "saved_reply")
    assert exported[0]["at"].endswith("+00:00")


def test_ctrl_4_and_the_reload_key_are_listed_in_the_keyboard_help(desk):
    sections = dict(desk.window.shortcut_sections())
    assert dict(sections["Everywhere"])["Audit"] == "Ctrl+4"
    assert dict(sections["Audit workspace"])["Reload audit listing"] == "Ctrl+F5"


def test_an_empty_operator_name_is_refused_in_settings_with_why(desk, qtbot):
    dialog = desk.window.open_settings()
    edit = dialog.edits["escalations.operator"]
    edit.setText("   ")
    error = dialog.errors["escalations.operator"]
    assert error.isVisible() and "recorded under it" in error.text()
    assert not dialog.ok_button.isEnabled()
    edit.setText("  bob  ")
    assert not error.isVisible() and dialog.ok_button.isEnabled()
    dialog.reject()
