"""The main window's menu bar, its toolbar and its list of keyboard shortcuts, built
from the actions the window made (`MainWindow._build_actions`)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMessageBox, QToolBar

if TYPE_CHECKING:
    from console.main_window import MainWindow


def build_menus_and_toolbar(window: MainWindow) -> None:
    w = window
    bar = w.menuBar()
    file = bar.addMenu("&File")
    file.addAction(w.act_settings)
    file.addSeparator()
    file.addActions([w.act_export_feed, w.act_export_queue, w.act_export_audit])
    file.addSeparator()
    file.addAction(w.act_quit)
    request = bar.addMenu("&Request")
    request.addActions([w.act_new, w.act_send])
    traffic = bar.addMenu("&Traffic")
    traffic.addAction(w.act_traffic)
    feed = bar.addMenu("F&eed")
    feed.addActions([w.act_find, w.act_show_new, w.act_clear_filters, w.act_clear_feed])
    escalations = bar.addMenu("E&scalations")
    escalations.addActions(w.escalation_actions[:3])  # next, claim, release
    escalations.addSeparator()
    escalations.addActions(w.escalation_actions[3:])
    if w.escalation.saved_replies is not None:
        escalations.addSeparator()
        escalations.addAction(w.escalation.saved_replies.act_insert)
    llm = bar.addMenu("&LLM")
    llm.addActions([w.act_force_open, w.act_force_closed, w.act_release])
    view = bar.addMenu("&View")
    view.addActions(list(w.workspace_actions.values()))
    view.addAction(w.act_learned)
    view.addSeparator()
    view.addActions([w.act_theme, w.act_reset_layout])
    help_menu = bar.addMenu("&Help")
    help_menu.addAction(w.act_shortcuts)

    toolbar = QToolBar("Main toolbar", w)
    toolbar.setObjectName("main toolbar")
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    toolbar.setMovable(False)
    toolbar.addActions(list(w.workspace_actions.values()))
    toolbar.addSeparator()
    toolbar.addActions([w.act_traffic, w.act_new, w.act_settings])
    w.addToolBar(toolbar)


def shortcut_sections(window: MainWindow) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every action with a key, the panels' own included (the rules view's Ctrl+S,
    Ctrl+Z and redo work only in its workspace), grouped by where they work."""
    native = QKeySequence.SequenceFormat.NativeText
    sections: dict[str, list[tuple[str, str]]] = {
        "Everywhere": [], "Rules workspace": [], "Escalations workspace": [],
        "Audit workspace": []}
    seen: set[int] = set()
    for action in [*window.actions(), *window.findChildren(QAction)]:
        if id(action) in seen or action.shortcut().isEmpty() or not action.text():
            continue
        seen.add(id(action))
        keys = " or ".join(k.toString(native) for k in action.shortcuts())
        sections[_workspace_of(window, action)].append((action.text().replace("&", ""), keys))
    return [(title, rows) for title, rows in sections.items() if rows]


def _workspace_of(window: MainWindow, action: QAction) -> str:
    owner = action.parent()
    while isinstance(owner, QObject):  # a panel's own action, or one of its parts'
        if owner is window.rules:
            return "Rules workspace"
        if owner is window.escalations or owner is window.escalation:
            return "Escalations workspace"
        if owner is window.audit:
            return "Audit workspace"
        owner = owner.parent()
    return "Everywhere"


def show_shortcuts(window: MainWindow) -> None:
    text = "".join(
        f"<tr><td colspan=2><b>{html.escape(title)}</b></td></tr>"
        + "".join(f"<tr><td>{html.escape(name)}</td><td>&nbsp;&nbsp;"
                  f"<b>{html.escape(keys)}</b></td></tr>" for name, keys in rows)
        for title, rows in shortcut_sections(window))
    box = QMessageBox(QMessageBox.Icon.Information, "Keyboard shortcuts",
                      f"<table>{text}</table>", QMessageBox.StandardButton.Close, window)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.open()
