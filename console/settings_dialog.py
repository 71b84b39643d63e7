"""The settings dialog: endpoint and key, models and prices, bounds, cache, breaker, limits.

Every value is checked by the same pydantic models the engine loads (`Settings`),
on every keystroke; a refusal is shown in red under its field and keeps Apply
and OK disabled. The API key goes to the OS keyring through `KeyringCredentials`
and nowhere else: it is not part of `Settings`, so neither the settings file
nor the engine's database can hold it, and it is never logged. Where the only
keyring would keep it unencrypted (or not at all), the dialog says so beside
the field and stores a key only once the operator ticks "Store it anyway".

A local base URL (llama.cpp's server, vLLM, Ollama on this machine or the LAN)
picks the local-server profile (`agentcore.endpoints.for_endpoint`) for the
fields the operator has not edited since the dialog opened: calls in flight,
timeouts, token prices. A note under the URL says what that means, and "Test
connection" asks such a server how many slots it has. A local server needs no
API key, so none is asked for; a hosted endpoint without one is warned about.

The "Tool servers" group (`console.tool_servers_group`) lists the MCP servers and
edits each in its own editor, with "Test" (an injected tester, the composition
root's `agentcore.test_server`); the secrets typed there are stored in the
keyring on Apply, beside the API key, and the settings hold only `keyring:`
references to them.

The "Intake API" group (`console.intake_group`) hosts the HTTP intake in the
console: on or off, address, port, its bearer token and the outcome callbacks with
their signing secret (both secrets stored in the keyring on Apply); a bind beyond
loopback without a token is refused before anything is applied.
Apply then puts it in force through the console's `IntakeHost` (started, stopped or
restarted) and the group says where it listens, or why it did not start.

The dialog knows nothing of the engine: it is given the settings to start from
and an `apply` coroutine that puts new ones in force (the composition root
passes `Engine.apply_settings`: switching between the mock and a real endpoint
needs no restart). Apply stores the key, awaits `apply`, saves the settings,
says so through `console.message` and emits `applied`. Apply and "Test
connection" run as coroutines on the qasync loop, so the window stays live
while an endpoint is slow to answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from PySide6.QtCore import QEvent, QRect, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    BackendSafety,
    ConnectionReport,
    KeyringCredentials,
    LLMSettings,
    Settings,
    UserFacingError,
    check_connection,
    for_endpoint,
    is_local,
    profile_summary,
    server_slots,
)
from agentcore import test_server as agentcore_test_server
from console import message
from console.field_errors import ERROR_STYLE, with_error
from console.intake_group import IntakeGroup
from console.intake_host import IntakeHost
from console.settings_fields import (
    BY_KEY,
    CLASSIFY_PRICES,
    COLUMNS,
    FIELDS,
    PROFILE_FIELDS,
    format_value,
    get_path,
    parse,
    put_path,
    validated,
)
from console.tool_servers_group import ToolServersGroup
from console.tool_servers_model import Tester, orphaned

log = logging.getLogger("console.settings")

WARNING_STYLE = "color: #c98a12;"
OK_STYLE = "color: #2e9e5b;"
_FIELD_WIDTH = 200  # wide enough for a URL and for the messages under each field
_TITLE_BAR = 40  # what a window manager adds above a dialog, roughly


# Puts new settings in force (Engine.apply_settings); a UserFacingError refuses them.
ApplySettings = Callable[[Settings], Awaitable[None]]


class SettingsDialog(QDialog):
    applied = Signal(object)  # the new agentcore.Settings, already running and saved

    def __init__(self, settings: Settings, apply: ApplySettings, settings_path: Path,
                 credentials: KeyringCredentials, parent: QWidget | None = None, *,
                 test_server: Tester | None = None, intake: IntakeHost | None = None) -> None:
        super().__init__(parent)
        self._intake_host = intake  # None: the intake's settings are saved, not applied
        self._test_server = test_server or agentcore_test_server
        self.setWindowTitle("Settings")
        self._apply = apply
        self._settings_path = settings_path
        self._credentials = credentials
        self._base = settings  # what the fields started from; unseen settings kept
        self.edits: dict[str, QLineEdit] = {}
        self.errors: dict[str, QLabel] = {}  # the label under each field
        self.refused: dict[str, str] = {}  # field -> why its value is refused, now
        self.running: asyncio.Future[Any] | None = None  # the apply or check under way
        self.connection_report: ConnectionReport | None = None
        self._checking: asyncio.Future[Any] | None = None
        self._busy = False
        self._key_stored = False  # read from the keyring on open and after changes, not per key
        self._keyring = BackendSafety(True, "", "")  # would it protect a key? read likewise
        self._endpoint: Settings | None = None  # only the endpoint fields, when valid
        self._action_error = ""  # why the last apply failed; kept until the next one
        self.edited: set[str] = set()  # fields the operator typed into since it opened
        self._slots: dict[str, int] = {}  # base URL -> the slots its server reported
        self._profiled = self._base  # the settings the profile picks for the URL typed
        self._profiled_url: object = _NOT_YET  # the URL `_profiled` is for
        self._sized = False  # the first show sizes the dialog to its fields
        self._build()
        self._fill(self._base)
        self._wire()
        self.validate()

    # -- construction -----------------------------------------------------------

    def _build(self) -> None:
        groups: dict[str, QFormLayout] = {}
        boxes: dict[str, QGroupBox] = {}
        for title in (t for column in COLUMNS for t in column):
            boxes[title] = QGroupBox(title)
            groups[title] = QFormLayout()
            if title == "LLM endpoint":
                # Its messages span the box below the form, in a box layout: a
                # QFormLayout's height-for-width misjudges wrapped labels in spanning
                # rows, and cut a three-line test result to two.
                self._endpoint_rows = QVBoxLayout(boxes[title])
                self._endpoint_rows.addLayout(groups[title])
            else:
                boxes[title].setLayout(groups[title])
        for field in FIELDS:
            edit = QLineEdit()
            edit.setPlaceholderText(field.placeholder)
            edit.setMinimumWidth(_FIELD_WIDTH)
            self.edits[field.key] = edit
            holder = self._with_error(field.key, edit)
            groups[field.group].addRow(field.label, holder)
            if field.key == "llm.base_url":
                # What the URL's profile means, under it: "local server: 1 call in flight..."
                self.profile_note = QLabel()
                self.profile_note.setWordWrap(True)
                self.profile_note.hide()
                holder_layout = holder.layout()
                assert holder_layout is not None
                holder_layout.addWidget(self.profile_note)
                self._add_key_rows(groups[field.group])

        self.test_button = QPushButton("Test connection")
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self._endpoint_rows.addWidget(self.test_button)
        self._endpoint_rows.addWidget(self.test_result)

        columns = QGridLayout()
        for col, titles in enumerate(COLUMNS):
            column = QVBoxLayout()
            for title in titles:
                column.addWidget(boxes[title])
            column.addStretch(1)
            columns.addLayout(column, 0, col)
        self.intake = IntakeGroup(self._base.intake, self._credentials, self._intake_host)
        self.errors.update(self.intake.errors)
        columns.addWidget(self.intake, 1, 0, 1, len(COLUMNS))
        self.tool_servers = ToolServersGroup(self._base.tool_servers, self._test_server,
                                             self._stored_secret)
        columns.addWidget(self.tool_servers, 2, 0, 1, len(COLUMNS))

        self.general_error = QLabel()
        self.general_error.setStyleSheet(ERROR_STYLE)
        self.general_error.setWordWrap(True)
        self.general_error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Apply
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)

        # The fields scroll, the buttons stay: on a 700-px-high screen the dialog is
        # taller than the room, and OK and Apply must not end up below its edge.
        self.content = QWidget()
        columns.setContentsMargins(0, 0, 0, 0)  # the dialog's own margins are enough
        self.content.setLayout(columns)
        self.fields_area = QScrollArea()
        self.fields_area.setWidgetResizable(True)
        self.fields_area.setFrameShape(QFrame.Shape.NoFrame)
        self.fields_area.setWidget(self.content)
        layout = QVBoxLayout(self)
        layout.addWidget(self.fields_area, 1)
        layout.addWidget(self.general_error)
        layout.addWidget(self.buttons)

    def _add_key_rows(self, form: QFormLayout) -> None:
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setMinimumWidth(_FIELD_WIDTH)
        self.forget_key_button = QPushButton("Forget stored key")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.key_edit, 1)
        row.addWidget(self.forget_key_button)
        # Shown only when the keyring would not protect a key: what it would do with
        # one, and the operator's explicit way to store it there regardless.
        self.keyring_warning = QLabel()
        self.keyring_warning.setStyleSheet(WARNING_STYLE)
        self.keyring_warning.setWordWrap(True)
        self.keyring_warning.hide()
        self.store_anyway = QCheckBox()
        self.store_anyway.hide()
        holder = QWidget()
        holder.setLayout(row)
        form.addRow("API key", self._with_error("api_key", holder))
        self._endpoint_rows.addWidget(self.keyring_warning)
        self._endpoint_rows.addWidget(self.store_anyway)

    def _with_error(self, key: str, widget: QWidget) -> QWidget:
        return with_error(self.errors, key, widget)

    def _fill(self, settings: Settings) -> None:
        data = settings.model_dump()
        for field in FIELDS:
            value = get_path(data, field.path)
            self.edits[field.key].setText("" if value is None else format_value(value))
        self._show_key_status()

    def _wire(self) -> None:
        for key, edit in self.edits.items():
            # textEdited: the operator's typing only, not the profile's setText.
            edit.textEdited.connect(lambda _text, key=key: self.edited.add(key))
            edit.textChanged.connect(self.validate)
        self.key_edit.textChanged.connect(self.validate)
        self.tool_servers.changed.connect(self.validate)
        self.intake.changed.connect(self.validate)
        self.store_anyway.toggled.connect(self.validate)
        self.forget_key_button.clicked.connect(self._forget_key)
        self.test_button.clicked.connect(self._start_check)
        self.apply_button.clicked.connect(lambda: self._start(self.apply()))
        self.ok_button.clicked.connect(lambda: self._start(self._apply_and_close()))
        self.buttons.rejected.connect(self.reject)

    # -- validation -------------------------------------------------------------

    def validate(self) -> Settings | None:
        """The settings the fields describe, or None; marks every refused field."""
        self._follow_url()
        data, errors = self._collect()
        general: list[str] = []
        settings = validated(data, errors, general, {*self.edits, *self.intake.errors})
        # The endpoint alone, so "Test connection" works while, say, a TTL is wrong.
        self._endpoint = validated({"llm": data["llm"]}, {}, [], self.edits)
        if any(k.startswith("llm.") for k in errors):
            self._endpoint = None
        key_text = self.key_edit.text().strip()
        if any(ch.isspace() for ch in key_text):
            errors["api_key"] = "an API key has no spaces or line breaks"
        key_usable = "api_key" not in errors  # testing it stores nothing: still allowed
        if key_usable and key_text and not self._keyring.can_store:
            errors["api_key"] = (f"not stored: {self._keyring.name} keeps nothing; start a "
                                 "keyring service (GNOME Keyring, KWallet) and open "
                                 "Settings again")
        elif key_usable and key_text and not self._keyring.safe and (
                not self.store_anyway.isChecked()):
            errors["api_key"] = (f"not stored: {self._keyring.name} would not protect it; "
                                 f"tick \"Store it anyway\" to store it there regardless")
        self.refused = errors
        for key, label in self.errors.items():
            label.setText(errors.get(key, ""))
            label.setStyleSheet(ERROR_STYLE)
            label.setVisible(key in errors)
        url = data["llm"]["base_url"]
        if ("api_key" not in errors and url and not is_local(url) and not key_text
                and not self._key_stored):
            # Not a refusal: a key can be stored later, and some endpoints want none. A
            # local server needs none at all, so it is not warned about.
            label = self.errors["api_key"]
            label.setText(f"no key is stored under {data['llm']['api_key_name']!r}: the "
                          "endpoint will probably refuse requests without a key")
            label.setStyleSheet(WARNING_STYLE)
            label.show()
        if not self._key_stored:
            self.key_edit.setPlaceholderText("none needed: local server" if is_local(url)
                                             else "none stored")
        self._show_profile_note(url, settings)
        self._show_general("\n".join([*general, self._action_error]).strip())
        valid = settings is not None and not errors
        self.ok_button.setEnabled(valid and not self._busy)
        self.apply_button.setEnabled(valid and not self._busy)
        self.test_button.setEnabled(self._endpoint is not None and key_usable
                                    and not self._busy)
        self._fit_height()
        return settings if valid else None

    def _collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The current settings with the fields' values put in, and the fields that
        could not even be read as their type."""
        classify_on = bool(self.edits["llm.classify.model"].text().strip())
        for key in CLASSIFY_PRICES:
            self.edits[key].setEnabled(classify_on)
        # The profiled settings: what no field shows (retries) follows the URL as well.
        data = self._profiled.model_dump()
        data["llm"]["classify"] = {} if classify_on else None
        data["tool_servers"] = [c.model_dump() for c in self.tool_servers.configs]
        errors = self.intake.collect(data)
        for field in FIELDS:
            if field.path[:2] == ("llm", "classify") and not classify_on:
                continue  # no classify stage: its prices are not asked for
            try:
                put_path(data, field.path, parse(field, self.edits[field.key].text()))
            except ValueError as exc:
                errors[field.key] = str(exc)
        return data, errors

    def _follow_url(self) -> None:
        """Puts the profile of the URL typed in the fields the operator has not edited."""
        text = self.edits["llm.base_url"].text()
        try:
            url = LLMSettings(base_url=text).base_url
        except ValidationError:
            return  # half typed: the fields stay as they are until it is a URL
        if url == self._profiled_url:
            return
        self._profiled_url = url
        self._profiled = for_endpoint(self._base, url, slots=self._slots.get(url or ""))
        data = self._profiled.model_dump()
        for key in PROFILE_FIELDS:
            field = BY_KEY[key]
            value = get_path(data, field.path)
            if key in self.edited or (value is None and not field.optional):
                continue  # the operator's own value; or a stage the settings do not have
            edit = self.edits[key]
            edit.blockSignals(True)  # one validation afterwards, not one per field
            edit.setText("" if value is None else format_value(value))
            edit.blockSignals(False)

    def _show_profile_note(self, url: str | None, settings: Settings | None) -> None:
        note = ""
        if is_local(url):
            slots = self._slots.get(url or "")
            said = f" with {slots} slot{'s' * (slots != 1)}" if slots else ""
            note = f"local server{said}: {profile_summary(settings or self._profiled)}"
        self.profile_note.setText(note)
        self.profile_note.setVisible(bool(note))

    def _show_key_status(self) -> None:
        try:
            self._key_stored = bool(self._credentials.get(self._base.llm.api_key_name))
        except UserFacingError:
            self._key_stored = False  # an unreadable keyring: storing one will say why
        self.key_edit.setPlaceholderText(
            "stored in the keyring; type to replace it" if self._key_stored
            else "none stored")
        self.forget_key_button.setEnabled(self._key_stored)
        self._keyring = self._credentials.backend_safety()
        unsafe = not self._keyring.safe
        self.keyring_warning.setText(f"Not protected: {self._keyring.description}."
                                     if unsafe else "")
        self.store_anyway.setText(f"Store it anyway in {self._keyring.name} (not encrypted)")
        self.keyring_warning.setVisible(unsafe)
        self.store_anyway.setVisible(unsafe and self._keyring.can_store)
        self.store_anyway.setChecked(False)  # insisting goes for one key, not for the next

    def _fit_height(self) -> None:
        # Wrapped messages need a height for their width, which a window's minimum size
        # does not account for: the dialog grows to show every field and message, up to
        # the screen's height; past that its fields scroll.
        layout, fields = self.layout(), self.content.layout()
        if not self.isVisible() or layout is None or fields is None:
            return
        # A label's new text reaches the dialog's layout through a chain of posted
        # layout requests, one per nesting level (holder, group box, dialog): until
        # they are handled its height-for-width is that of the previous text.
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        viewport = self.fields_area.viewport()
        needed = fields.heightForWidth(viewport.width())
        if needed < 0:
            needed = fields.sizeHint().height()
        around = self.height() - viewport.height()  # margins, error line, buttons
        target = min(needed + around, self._room().height())
        if target > self.height():
            self.resize(self.width(), target)

    def _room(self) -> QRect:
        """The screen's free area, less a window manager's title bar."""
        screen = self.screen() or QApplication.primaryScreen()
        room = screen.availableGeometry()
        return room.adjusted(0, 0, 0, -_TITLE_BAR)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._sized:  # once: afterwards the operator's resizing is kept
            self._sized = True
            fields = self.content.sizeHint()
            bar = self.fields_area.verticalScrollBar().sizeHint().width()
            layout = self.layout()
            margins = layout.contentsMargins() if layout is not None else None
            sides = margins.left() + margins.right() if margins is not None else 0
            width = min(fields.width() + bar + sides, self._room().width())
            self.resize(max(self.width(), width), self.height())
        self._fit_height()

    def _show_general(self, message: str) -> None:
        self.general_error.setText(message)
        self.general_error.setVisible(bool(message))

    # -- actions ---------------------------------------------------------------

    def _start(self, coro: Coroutine[Any, Any, Any]) -> None:
        # Called from a button's slot while the qasync loop runs.
        self.running = asyncio.ensure_future(coro)
        self.running.add_done_callback(_log_failure)

    def _start_check(self) -> None:
        self._start(self.test_connection())
        self._checking = self.running

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.validate()

    async def apply(self) -> Settings | None:
        """Stores the key, puts the settings in force, saves them; None if refused."""
        self._action_error = ""
        new = self.validate()
        if new is None:
            return None
        self._set_busy(True)
        try:
            key = self.key_edit.text().strip()
            if key:
                self._credentials.set(new.llm.api_key_name, key)
                self.key_edit.clear()  # the widget holds no copy once it is in the keyring
            for entry, secret in self.tool_servers.secrets.items():
                self._credentials.set(entry, secret)
            self.tool_servers.stored()
            secrets_changed = self.intake.store_secrets(new.intake.token_entry,
                                                        new.intake.callback_secret_entry)
            self.intake.stored()
            await self._apply(new)
            if self._intake_host is not None:
                await self._intake_host.apply(new.intake, restart=secrets_changed)
        except UserFacingError as exc:
            self._action_error = str(exc)
            return None
        finally:
            self._set_busy(False)
            self.intake.show_state()
        # Forgotten only once saved: the file on disk must never name a deleted entry.
        orphans = orphaned(self._base.tool_servers, new.tool_servers)
        self._base = new
        self._show_key_status()
        self.validate()  # the key's placeholder again: "none needed" for a local server
        log.info("settings applied: LLM %s", new.llm.base_url or "built-in mock")
        try:
            new.save(self._settings_path)
        except OSError as exc:
            self._action_error = f"applied, but not saved to {self._settings_path}: {exc}"
            self.validate()
            message.warning(f"Settings applied, but not saved: {exc}")
        else:
            self._forget_secrets(orphans)
            if self.intake.failed:
                message.warning(f"Settings applied; the intake did not start: "
                                f"{self.intake.failed}")
            else:
                message.info(f"Settings applied: LLM {new.llm.base_url or 'mock (demo)'}")
        self.applied.emit(new)
        return new

    async def _apply_and_close(self) -> None:
        # An intake that did not start keeps the dialog open on why (a port in use).
        if (await self.apply() is not None and not self._action_error
                and not self.intake.failed):
            self.accept()

    async def test_connection(self) -> ConnectionReport | None:
        self.validate()
        candidate = self._endpoint
        if candidate is None:
            return None
        self.test_result.setStyleSheet("")
        self.test_result.setText("Testing…")
        self._set_busy(True)
        url = candidate.llm.base_url
        try:
            key = self.key_edit.text().strip() or self._credentials.get(
                candidate.llm.api_key_name)
            # A local server is asked for its slots at the same time: llama.cpp's says.
            report, slots = await asyncio.gather(
                check_connection(candidate.llm, key),
                server_slots(url) if url and is_local(url) else _nothing())
        except UserFacingError as exc:  # the keyring could not be read
            report = ConnectionReport(False, "error", str(exc))
        except asyncio.CancelledError:
            self.test_result.setText("")  # no stale "Testing…" when the dialog reopens
            raise
        finally:
            self._set_busy(False)
        self.connection_report = report
        self.test_result.setStyleSheet(OK_STYLE if report.ok else ERROR_STYLE)
        self.test_result.setText(report.message)
        if url and slots:
            self._slots[url] = slots
            self._profiled_url = _NOT_YET  # the profile again, with the server's slots
            self.validate()
        self._fit_height()
        return report

    def done(self, result: int) -> None:
        # Closing while a check waits on a slow endpoint: nobody is left to read its
        # answer. (An apply never waits on the network: it is left to finish.)
        if self._checking is not None and not self._checking.done():
            self._checking.cancel()
        super().done(result)

    def show_tool_servers(self) -> None:
        """Scrolls the Tool servers group into view (the main window's Tools segment):
        now, and once more after the first show has sized the dialog."""
        self.fields_area.ensureWidgetVisible(self.tool_servers)
        QTimer.singleShot(0, lambda: self.fields_area.ensureWidgetVisible(self.tool_servers))

    def show_intake(self) -> None:
        """Scrolls the Intake API group into view (the status bar's Intake segment)."""
        self.fields_area.ensureWidgetVisible(self.intake)
        QTimer.singleShot(0, lambda: self.fields_area.ensureWidgetVisible(self.intake))

    def _forget_secrets(self, entries: list[str]) -> None:
        for entry in entries:  # applied: no running server refers to them any more
            try:
                self._credentials.delete(entry)
            except UserFacingError as exc:
                log.warning("could not delete the keyring entry %s: %s", entry, exc)

    def _stored_secret(self, entry: str) -> str | None:
        try:
            return self._credentials.get(entry)
        except UserFacingError:
            return None  # an unreadable keyring: the Test says the server refused

    def _forget_key(self) -> None:
        try:
            self._credentials.delete(self._base.llm.api_key_name)
        except UserFacingError as exc:
            self._action_error = str(exc)
        self._show_key_status()
        self.validate()


_NOT_YET = object()  # no URL's profile applied yet


async def _nothing() -> None:
    return None


def _log_failure(future: asyncio.Future[Any]) -> None:
    # A bug in a button's coroutine must show up in the log, not vanish with the task.
    if not future.cancelled() and future.exception() is not None:
        log.error("settings action failed", exc_info=future.exception())
