"""The Settings dialog's "Tool servers" group and editor, and the status bar's Tools
segment, as an operator uses them: real widgets, the real engine's apply_settings,
the tests' file keyring; the Test's tester injected (a scripted one here; the
composition root passes `agentcore.test_server`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, Qt

from agentcore import (
    Engine,
    KeyringCredentials,
    ServerReport,
    ServerState,
    ToolInfo,
    ToolServerChanged,
    ToolServerConfig,
)
from console.settings_dialog import SettingsDialog
from console.tool_server_editor import ToolServerEditor
from console.tool_servers_model import TestState
from tests.agentcore.tool_servers.conftest import ECHO, HANG

TOKEN = "Bearer 5e1f0c9d7a3b"


def tools_of(name: str) -> tuple[ToolInfo, ...]:
    return (
        ToolInfo(f"{name}__lookup_customer", name, "lookup_customer",
                 "Finds a customer by email", writes=False, kind_from="annotations",
                 policy=None),
        ToolInfo(f"{name}__issue_refund", name, "issue_refund",
                 "Refunds an order, up to its total", writes=True, kind_from="annotations",
                 policy=None),
        ToolInfo(f"{name}__merge", name, "merge", "", writes=True,
                 kind_from="unknown: a write", policy=None, usable=False,
                 problems=("its schema's '$ref' points outside it",), offered=False),
    )


class ScriptedTester:
    """Answers a Test as the real one would, or hangs like a server that never answers."""

    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.configs: list[ToolServerConfig] = []
        self.secrets: list[str | None] = []
        self.cancelled = asyncio.Event()

    async def __call__(self, config: ToolServerConfig, secret) -> ServerReport:
        self.configs.append(config)
        self.secrets.extend(secret(entry) for entry in config.secrets())
        if self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return ServerReport(config.name, config.transport, ServerState.READY,
                            tools=tools_of(config.name))


def open_dialog(qtbot, engine: Engine, settings_path: Path,
                tester: ScriptedTester) -> SettingsDialog:
    dialog = SettingsDialog(engine.settings, engine.apply_settings, settings_path,
                            KeyringCredentials(), test_server=tester)
    qtbot.addWidget(dialog)
    dialog.resize(1024, 660)
    dialog.show()
    return dialog


def add_server(qtbot, dialog: SettingsDialog) -> ToolServerEditor:
    dialog.show_tool_servers()
    qtbot.mouseClick(dialog.tool_servers.add_button, Qt.MouseButton.LeftButton)
    editor = dialog.tool_servers.editor
    assert editor is not None and editor.isVisible()
    return editor


def fill_http(editor: ToolServerEditor, name: str = "crm") -> None:
    editor.name.setText(name)
    editor.http.setChecked(True)
    editor.url.setText("http://127.0.0.1:8765/mcp")
    editor.headers.add_button.click()


def click_ok(run_async, dialog: SettingsDialog) -> None:
    dialog.ok_button.click()
    if dialog.running is not None:
        run_async(dialog.running)


def test_a_secret_header_goes_to_the_keyring_and_the_settings_hold_only_its_name(
        qtbot, run_async, engine, settings_path, test_keyring):
    dialog = open_dialog(qtbot, engine, settings_path, ScriptedTester())
    editor = add_server(qtbot, dialog)
    fill_http(editor)
    key, value, secret, _error, _holder = editor.headers.rows[0]
    key.setText("Authorization")
    value.setText(TOKEN)
    secret.setChecked(True)
    assert editor.ok_button.isEnabled()
    editor.ok_button.click()
    assert [c.name for c in dialog.tool_servers.configs] == ["crm"]
    assert dialog.tool_servers.table.item(0, 1).text() == "Streamable HTTP"
    assert test_keyring.get_password("agent-console", "tool-server:crm:Authorization") is None
    click_ok(run_async, dialog)  # Apply: now, and only now, the keyring

    assert test_keyring.get_password("agent-console",
                                     "tool-server:crm:Authorization") == TOKEN
    (server,) = engine.settings.tool_servers
    assert server.headers == {"Authorization": "keyring:tool-server:crm:Authorization"}
    saved = settings_path.read_text()
    assert TOKEN not in saved and "keyring:tool-server:crm:Authorization" in saved


def test_a_plaintext_secret_is_refused_in_words_beside_it_without_widening_the_editor(
        qtbot, engine, settings_path):
    dialog = open_dialog(qtbot, engine, settings_path, ScriptedTester())
    editor = add_server(qtbot, dialog)
    fill_http(editor)
    width = editor.width()
    key, value, secret, error, _holder = editor.headers.rows[0]
    key.setText("Authorization")
    value.setText(TOKEN)
    assert error.isVisible() and "holds a secret" in error.text()
    assert "keyring" in error.text() and not editor.ok_button.isEnabled()
    assert error.wordWrap() and editor.width() == width
    secret.setChecked(True)  # the operator's fix, as the message says
    assert not error.isVisible() and editor.ok_button.isEnabled()


def test_test_lists_the_tools_and_the_operators_marks_reach_the_settings(
        qtbot, run_async, engine, settings_path):
    tester = ScriptedTester()
    dialog = open_dialog(qtbot, engine, settings_path, tester)
    editor = add_server(qtbot, dialog)
    fill_http(editor)
    key, value, secret, _error, _holder = editor.headers.rows[0]
    key.setText("X-Api-Key")
    value.setText("typed-not-stored")
    secret.setChecked(True)
    editor.test_button.click()
    qtbot.waitUntil(lambda: editor.test.state is TestState.DONE)
    assert tester.secrets == ["typed-not-stored"]  # tested as it will run
    assert "connected: 3 tools, 1 with an unusable schema" in editor.test_status.text()
    cells = [[editor.tools.data(editor.tools.index(r, c)) for c in range(5)]
             for r in range(editor.tools.rowCount())]
    assert cells[0][0] == "crm__lookup_customer"
    assert cells[0][2] == "reads (annotations)"
    assert cells[1][2] == "writes (annotations)" and cells[1][3].startswith("asks")
    assert cells[2][0].endswith("(not offered)") and cells[2][4].startswith("unusable")

    editor.table.selectRow(0)  # lookup_customer: the operator says it writes
    editor.mark_kind.setCurrentIndex(2)
    assert editor.tools.data(editor.tools.index(0, 2)) == "writes (operator)"
    editor.table.selectRow(1)  # issue_refund: runs alone within limits
    editor.mark_policy.setCurrentIndex(2)
    editor.policy_text.setText('{"amount": {"max": 50')
    assert editor.policy_error.isVisible() and "not JSON" in editor.policy_error.text()
    editor.policy_text.setText('{"amount": {"max": 50}}')
    assert not editor.policy_error.isVisible()
    assert "amount <= 50" in editor.tools.data(editor.tools.index(1, 3))
    editor.ok_button.click()
    click_ok(run_async, dialog)

    (server,) = engine.settings.tool_servers
    assert server.kinds == {"lookup_customer": "write"}
    assert server.policy_of("issue_refund").limits["amount"].max == 50
    assert json.loads(settings_path.read_text())["tool_servers"][0]["writes"]


def test_a_servers_folder_prefix_and_public_reads_are_set_in_the_editor(
        qtbot, run_async, engine, settings_path, tmp_path):
    dialog = open_dialog(qtbot, engine, settings_path, ScriptedTester())
    editor = add_server(qtbot, dialog)
    editor.name.setText("desk")
    editor.stdio.setChecked(True)
    editor.command.setText(sys.executable)
    assert editor.cwd.isVisible() and "desk__" in editor.prefix.placeholderText()
    editor.cwd.setText("crm")
    assert editor.errors["cwd"].isVisible() and not editor.ok_button.isEnabled()
    editor.cwd.setText(str(tmp_path))
    editor.prefix.setText("help desk")
    assert "letters, digits" in editor.errors["prefix"].text()
    editor.prefix.setText("helpdesk_")
    assert editor.ok_button.isEnabled()
    editor.test_button.click()
    qtbot.waitUntil(lambda: editor.test.state is TestState.DONE)

    editor.table.selectRow(1)  # issue_refund writes: never public
    assert not editor.mark_public.isEnabled()
    editor.table.selectRow(0)  # lookup_customer reads
    assert editor.mark_public.isEnabled() and not editor.mark_public.isChecked()
    editor.mark_public.setChecked(True)
    assert "without a customer" in editor.tools.data(editor.tools.index(0, 3))
    editor.ok_button.click()
    click_ok(run_async, dialog)

    (server,) = engine.settings.tool_servers
    assert server.cwd == str(tmp_path) and server.tool_prefix == "helpdesk_"
    assert server.public == ["lookup_customer"]
    saved = json.loads(settings_path.read_text())["tool_servers"][0]
    assert saved["public"] == ["lookup_customer"] and saved["prefix"] == "helpdesk_"
    # Opened again, it shows what it keeps; "none" is not the default.
    dialog.tool_servers.table.selectRow(0)
    dialog.tool_servers.edit_button.click()
    again = dialog.tool_servers.editor
    assert again is not None and again.prefix.text() == "helpdesk_"
    assert again.cwd.text() == str(tmp_path) and not again.no_prefix.isChecked()
    again.no_prefix.setChecked(True)
    assert not again.prefix.isEnabled()
    assert again.validate() is not None and again.validate().tool_prefix == ""


def test_a_hanging_server_leaves_the_dialog_live_and_cancel_stops_the_test(
        qtbot, engine, settings_path):
    tester = ScriptedTester(hang=True)
    dialog = open_dialog(qtbot, engine, settings_path, tester)
    editor = add_server(qtbot, dialog)
    fill_http(editor)
    editor.test_button.click()
    qtbot.waitUntil(lambda: editor.test.state is TestState.TESTING)
    assert not editor.test_button.isEnabled() and editor.cancel_test_button.isEnabled()
    editor.allow.setText("lookup_customer")  # still typing while the server says nothing
    assert editor.draft.allow == "lookup_customer"
    editor.cancel_test_button.click()
    qtbot.waitUntil(tester.cancelled.is_set)
    qtbot.waitUntil(lambda: editor.test.state is TestState.CANCELLED)
    assert editor.test_status.text() == "cancelled" and editor.test_button.isEnabled()


def test_a_server_silent_past_its_start_timeout_is_said_to_give_no_answer(
        qtbot, engine, settings_path, monkeypatch):
    import console.tool_servers_model as model

    monkeypatch.setattr(model, "_MARGIN_S", 0.0)  # our margin, not the server's bound
    dialog = open_dialog(qtbot, engine, settings_path, ScriptedTester(hang=True))
    editor = add_server(qtbot, dialog)
    fill_http(editor)
    editor.start_timeout.setText("abc")
    assert editor.errors["start_timeout_s"].isVisible() and not editor.test_button.isEnabled()
    editor.start_timeout.setText("0.2")
    editor.test_button.click()
    qtbot.waitUntil(lambda: editor.test.state is TestState.NO_ANSWER, timeout=5000)
    assert editor.test_status.text() == "no answer within 0.2 s"
    assert "color" in editor.test_status.styleSheet()  # in the error colour


def test_the_tools_segment_shows_each_server_and_follows_its_changes(
        make_console, settings):
    console = make_console(settings)
    window, states = console.window, console.window.parts.tool_states
    segment = window.tools_segment
    assert not segment.isVisible()  # no server configured: nothing to show
    ready = ServerReport("shop", "stdio", ServerState.READY, tools=tools_of("shop")[:2],
                         since=1.0)
    states.update(ready)
    window.show()
    assert segment.isVisible() and "ready (2)" in segment.text()
    failed = ServerReport("crm", "http", ServerState.FAILED, since=2.0,
                          detail="no answer within 15 s to start")
    console.engine.bus.publish(ToolServerChanged(failed))  # as the engine tells it
    assert "crm" in segment.text() and "#e5534b" in segment.text()
    assert "no answer within 15 s to start" in segment.toolTip()
    console.engine.bus.publish(ToolServerChanged(
        ServerReport("shop", "stdio", ServerState.RECONNECTING, since=3.0)))
    assert "reconnecting" in segment.text() and "ready" not in segment.text()


def test_removing_a_server_forgets_its_secret_once_applied(
        qtbot, run_async, engine, settings_path, test_keyring):
    dialog = open_dialog(qtbot, engine, settings_path, ScriptedTester())
    editor = add_server(qtbot, dialog)
    fill_http(editor)
    key, value, secret, _error, _holder = editor.headers.rows[0]
    key.setText("Authorization")
    value.setText(TOKEN)
    secret.setChecked(True)
    editor.ok_button.click()
    dialog.apply_button.click()
    run_async(dialog.running)
    entry = "tool-server:crm:Authorization"
    assert test_keyring.get_password("agent-console", entry) == TOKEN
    test_keyring.set_password("agent-console", "crm-shared-token", "the operator's own")

    dialog.tool_servers.table.selectRow(0)
    dialog.tool_servers.remove_button.click()
    assert test_keyring.get_password("agent-console", entry) == TOKEN  # until applied
    click_ok(run_async, dialog)
    assert engine.settings.tool_servers == []
    assert test_keyring.get_password("agent-console", entry) is None
    assert test_keyring.get_password("agent-console", "crm-shared-token")  # not ours


def test_clicking_the_tools_segment_opens_settings_on_the_tool_servers(
        qtbot, make_console, settings):
    settings.tool_servers = [ToolServerConfig(name="shop", command="shop-mcp")]
    console = make_console(settings)
    window = console.window
    window.resize(1024, 700)
    window.show()
    window.parts.tool_states.update(ServerReport("shop", "stdio", ServerState.STARTING))
    qtbot.mouseClick(window.tools_segment, Qt.MouseButton.LeftButton)
    dialog = window.settings_dialog
    assert dialog is not None
    viewport, table = dialog.fields_area.viewport(), dialog.tool_servers.table
    assert viewport.height() < dialog.content.height()  # the group starts below the fold

    def table_in_view() -> bool:  # top to bottom (the offscreen screen is narrow)
        top = table.mapTo(viewport, QPoint(0, 0)).y()
        return top >= 0 and top + table.height() <= viewport.height()

    qtbot.waitUntil(lambda: dialog.isVisible() and table_in_view())
    assert dialog.tool_servers.table.item(0, 0).text() == "shop"
    dialog.reject()


# -- a real MCP server: the composition root's tester (agentcore.test_server) -----------

def real_dialog(qtbot, engine: Engine, settings_path: Path) -> SettingsDialog:
    """As the main window opens it: no tester given, so the engine's own Test."""
    dialog = SettingsDialog(engine.settings, engine.apply_settings, settings_path,
                            KeyringCredentials())
    qtbot.addWidget(dialog)
    dialog.resize(1024, 660)
    dialog.show()
    return dialog


def fill_stdio(editor: ToolServerEditor, script: Path, name: str = "echo") -> None:
    editor.name.setText(name)
    editor.stdio.setChecked(True)
    editor.command.setText(sys.executable)
    editor.args.setPlainText(str(script))


def test_testing_a_real_stdio_server_lists_its_tools_as_the_llm_would_see_them(
        qtbot, run_async, engine, settings_path, test_keyring):
    dialog = real_dialog(qtbot, engine, settings_path)
    editor = add_server(qtbot, dialog)
    fill_stdio(editor, ECHO)
    editor.env.add_button.click()
    key, value, secret, _error, _holder = editor.env.rows[0]
    key.setText("ECHO_TOKEN")
    value.setText("typed-for-the-test")
    secret.setChecked(True)
    editor.test_button.click()
    qtbot.waitUntil(lambda: editor.test.state is TestState.DONE, timeout=30_000)
    assert editor.test_status.text().startswith("connected: ")
    rows = {row.tool: row for row in editor.tools.rows}
    assert {"echo", "slow", "fail", "pid"} <= set(rows)
    echo = rows["echo"]
    assert echo.llm_name == "echo__echo" and echo.description == "Say the text back."
    assert echo.usable and echo.offered
    # The echo server's tools carry no annotations: unknown, so a write that asks.
    assert echo.writes and echo.why.startswith("unknown")
    assert echo.policy.startswith("asks")

    row = editor.tools.rows.index(echo)
    editor.table.selectRow(row)
    editor.mark_kind.setCurrentIndex(1)  # the operator: it only reads
    assert editor.tools.data(editor.tools.index(row, 2)) == "reads (operator)"
    editor.ok_button.click()
    click_ok(run_async, dialog)
    (server,) = engine.settings.tool_servers
    assert server.kinds == {"echo": "read"}
    assert server.env == {"ECHO_TOKEN": "keyring:tool-server:echo:ECHO_TOKEN"}
    assert "typed-for-the-test" not in settings_path.read_text()


def test_a_real_server_that_never_answers_is_given_up_on_and_said_to_have_failed(
        qtbot, engine, settings_path):
    dialog = real_dialog(qtbot, engine, settings_path)
    editor = add_server(qtbot, dialog)
    fill_stdio(editor, HANG, name="hang")
    editor.start_timeout.setText("1")
    editor.test_button.click()
    qtbot.waitUntil(lambda: editor.test.state is TestState.DONE, timeout=30_000)
    assert editor.test_status.text().startswith("failed")
    assert "color" in editor.test_status.styleSheet()  # in the error colour
    assert editor.tools.rowCount() == 0 and editor.test_button.isEnabled()


def test_the_tools_segment_follows_a_real_server_from_starting_to_ready(
        qtbot, run_async, make_console, settings):
    settings.tool_servers = [ToolServerConfig(name="echo", command=sys.executable,
                                              args=[str(ECHO)])]
    console = make_console(settings)
    window = console.window
    window.show()
    segment = window.tools_segment
    assert segment.isVisible() and "echo" in segment.text()  # configured: shown at once
    run_async(console.engine.start(), timeout_ms=30_000)
    qtbot.waitUntil(lambda: "ready (" in segment.text(), timeout=30_000)
    assert "#3fb950" in segment.text()  # ready, in green
    assert "echo (stdio): ready" in segment.toolTip() and "since" in segment.toolTip()
