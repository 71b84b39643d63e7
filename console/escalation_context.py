"""One escalation, whole: the request, the customer and their recent orders, the trace
with its tool calls and results, why the agent stopped, its draft, and any write
waiting for approval with what the policy allows; and what an operator does
with it: claim, approve (as edited) or deny the write, reply, resolve, hand back
to the agent with a note, or release.

Every action is a coroutine on the qasync loop calling the core queue; what the
queue refuses (`QueueError`, a `UserFacingError`) is said beside the buttons and
in the status bar, never as a traceback. The lease is renewed while the
operator works on the item (typing in the reply, the note or the arguments):
an operator mid-reply expects to keep it; one who walked away lets it lapse.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    Clock,
    Escalation,
    EscalationQueue,
    EscalationState,
    Outcome,
    StorageError,
    UserFacingError,
)
from agentcore.settings import EscalationSettings
from console import message
from console.approval_check import Verdict
from console.confirm import ask_reason, confirm
from console.escalation_format import (
    customer_html,
    handed_back_text,
    outcome_text,
    reasoning_html,
    tool_calls_html,
    waiting_text,
)
from console.pending_action import PendingActionBox, action_button
from console.waterfall import WaterfallWidget

log = logging.getLogger("console.escalation")

ERROR_STYLE = "color: #e5534b;"
RENEW_CHECK_MS = 5000
TICK_MS = 1000  # the waiting time and the lease count by the second
DRAFT_SAVE_MS = 1000  # a crash loses at most the last second of a reply being written
_ACTIVITY = (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress)


def _label(rich: bool = True) -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.RichText if rich else Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _report_bug(task: asyncio.Future[Any]) -> None:
    # Refusals are handled in `_act`; anything else is a bug: to the loop's exception
    # handler (the app's error reporter) now, not when the task is collected.
    if not task.cancelled() and task.exception() is not None:
        task.get_loop().call_exception_handler({
            "message": "an escalation action failed", "exception": task.exception(),
            "future": task})


def _prefill(item: Escalation | None, operator: str) -> tuple[str, str]:
    """The reply and note an item opens with: the operator's own saved drafts (from
    before a restart), else the agent's draft answer."""
    if item is None:
        return "", ""
    if item.draft_by != operator:
        return item.draft_answer or "", ""
    return item.reply_draft or item.draft_answer or "", item.note_draft or ""


def _scrolling(widget: QWidget) -> QScrollArea:
    # Scrolls in a short dock rather than forcing the whole window taller.
    scroll = QScrollArea()
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    return scroll


class EscalationContextPanel(QWidget):
    changed = Signal(object)  # the Escalation now shown (after a load or an action)

    def __init__(self, queue: EscalationQueue, clock: Clock,
                 settings: Callable[[], EscalationSettings],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.clock = clock
        self._settings = settings
        self.item: Escalation | None = None
        self.running: asyncio.Future[Any] | None = None  # the last action, for tests to await
        self._loading: asyncio.Task[None] | None = None
        self._last_activity = float("-inf")
        self._acting = False  # a queue call is running: the action buttons wait for it
        self._stale = False
        self._unsent: dict[int, tuple[str, str]] = {}  # item -> reply and note being written
        self._build_actions()
        self._build()
        self._renew_timer = QTimer(self)
        self._renew_timer.setInterval(RENEW_CHECK_MS)
        self._renew_timer.timeout.connect(self.renew_if_active)
        self._renew_timer.start()
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(TICK_MS)
        self._tick_timer.timeout.connect(self._tick)
        self._tick_timer.start()
        self._draft_timer = QTimer(self)
        self._draft_timer.setSingleShot(True)
        self._draft_timer.setInterval(DRAFT_SAVE_MS)
        self._draft_timer.timeout.connect(self.save_draft)
        self._render()

    @property
    def operator(self) -> str:
        return self._settings().operator

    # -- construction -----------------------------------------------------------

    def _action(self, text: str, shortcut: str, tip: str,
                slot: Callable[[], Awaitable[Any]]) -> QAction:
        action = QAction(text, self)
        action.setShortcut(QKeySequence(shortcut))
        native = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip} ({native})")
        action.setStatusTip(tip)
        action.triggered.connect(lambda: self._start(slot()))
        return action

    def _build_actions(self) -> None:
        self.act_claim = self._action("&Claim", "Ctrl+Shift+C",
                                      "Take this item: it is yours while the lease runs",
                                      self.claim)
        self.act_release = self._action("Re&lease", "Ctrl+Shift+L",
                                        "Give the item back to the queue untouched",
                                        self.release)
        self.act_approve = self._action("&Approve", "Ctrl+Shift+A",
                                        "Run the pending action with the arguments shown",
                                        self.approve)
        self.act_deny = self._action("&Deny", "Ctrl+Shift+D",
                                     "Refuse the pending action (the note says why)", self.deny)
        self.act_reply = self._action("Send &reply", "Ctrl+Shift+R",
                                      "Send the reply to the customer and resolve the item",
                                      self.reply)
        self.act_resolve = self._action("Re&solve", "Ctrl+Shift+S",
                                        "Close the item, handled elsewhere (no reply here)",
                                        self.resolve)
        self.act_hand_back = self._action("&Hand back", "Ctrl+Shift+H",
                                          "Re-run the request through the agent with the note",
                                          self.hand_back)
        self.actions_in_order = [self.act_claim, self.act_release, self.act_approve,
                                 self.act_deny, self.act_reply, self.act_resolve,
                                 self.act_hand_back]

    def _build(self) -> None:
        self.title = _label()
        self.title.setStyleSheet("font-weight: 600; font-size: 13px;")
        self.claim_state = _label()
        self.request_text = _label(rich=False)
        self.customer = _label()
        self.reasoning = _label()
        self.tool_calls = _label()
        self.waterfall = WaterfallWidget()
        self.outcome = _label(rich=False)

        facts = QWidget()
        form = QFormLayout(facts)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Request:", self.request_text)
        form.addRow("Customer:", self.customer)
        form.addRow("Why:", self.reasoning)
        form.addRow("Tool calls:", self.tool_calls)
        form.addRow("Outcome:", self.outcome)
        form.addRow(self.waterfall)
        scroll = _scrolling(facts)

        self.pending = PendingActionBox(self.act_approve, self.act_deny, activity=self,
                                        limits_for=self.queue.limits_for)

        self.composer = QPlainTextEdit()
        self.composer.setMinimumHeight(80)
        self.composer.setPlaceholderText("Reply to the customer (prefilled with the agent's "
                                         "draft)")
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note: for the agent on hand back, or why you deny")
        self.message = _label(rich=False)
        self.message.setStyleSheet(ERROR_STYLE)
        buttons = QHBoxLayout()
        for action in (self.act_reply, self.act_resolve, self.act_hand_back):
            buttons.addWidget(action_button(action))
        buttons.addStretch(1)
        claim_row = QHBoxLayout()
        claim_row.addWidget(self.claim_state, 1)
        claim_row.addWidget(action_button(self.act_claim))
        claim_row.addWidget(action_button(self.act_release))

        acting = QWidget()
        act_layout = QVBoxLayout(acting)
        act_layout.setContentsMargins(0, 0, 0, 0)
        act_layout.addLayout(claim_row)
        act_layout.addWidget(self.pending)
        act_layout.addWidget(QLabel("Reply:"))
        act_layout.addWidget(self.composer, 1)
        act_layout.addWidget(self.note)
        act_layout.addLayout(buttons)
        act_layout.addWidget(self.message)

        # Side by side: the dock is wide and short (it shares a column with compose and
        # traffic); each side scrolls, so neither forces the window wider or taller.
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(scroll)
        splitter.addWidget(_scrolling(acting))
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([360, 250])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(splitter, 1)
        for widget in (self.composer, self.note):
            widget.installEventFilter(self)
        self.composer.textChanged.connect(self._typed)
        self.note.textEdited.connect(self._typed)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _ACTIVITY:
            self._last_activity = self.clock.now()
        return super().eventFilter(watched, event)

    # -- showing ---------------------------------------------------------------

    def show_item(self, escalation_id: int | None) -> None:
        """Loads and shows an item (None: nothing selected)."""
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        if escalation_id is None:
            self._show(None)
            return
        self._loading = asyncio.ensure_future(self._load(escalation_id, fresh=True))

    def on_changed(self, escalation_id: int) -> None:
        """The queue changed an item (here or in this process): reload it if shown."""
        if self.item is None or self.item.id != escalation_id:
            return
        if self._loading is not None and not self._loading.done():
            self._stale = True  # read it again once the load under way is in
            return
        self._loading = asyncio.ensure_future(self._load(escalation_id, fresh=False))

    async def reload(self) -> None:
        """Reads the shown item again (a lease may have lapsed meanwhile)."""
        if self.item is not None:
            await self._load(self.item.id, fresh=False)

    async def _load(self, escalation_id: int, *, fresh: bool) -> None:
        """`fresh`: the operator selected it. Otherwise a re-read, dropped if the
        operator has moved on to another item meanwhile (a slow hand-back)."""
        try:
            item = await self.queue.get(escalation_id)
        except (UserFacingError, StorageError) as exc:  # gone, or the database is locked
            self._say(str(exc))
            return
        if not fresh and (self.item is None or self.item.id != escalation_id):
            return
        self._show(item, fresh=fresh)
        if self._stale:
            self._stale = False
            await self._load(escalation_id, fresh=False)

    def _show(self, item: Escalation | None, *, fresh: bool = True) -> None:
        same = item is not None and self.item is not None and item.id == self.item.id
        if fresh and not same:
            left = self.item
            if left is not None and left.state is not EscalationState.RESOLVED:
                # A half-written reply waits for the operator's return to the item,
                # here and (saved) on disk for after a restart.
                self._unsent[left.id] = (self.composer.toPlainText(), self.note.text())
                if self._draft_timer.isActive():
                    self.save_draft()
            saved = self._unsent.pop(item.id, None) if item is not None else None
            reply, note = saved or _prefill(item, self.operator)
            self.message.clear()
            self.note.setText(note)
            self.composer.setPlainText(reply)
            self._draft_timer.stop()  # filled in, not typed: nothing new to save
        self.item = item
        self._render()
        self.changed.emit(item)

    def _render(self) -> None:
        item = self.item
        mine = self._is_mine(item)
        for widget in (self.composer, self.note):
            widget.setEnabled(mine)
        if item is None:
            self.title.setText("No escalation selected")
            for label in (self.claim_state, self.request_text, self.customer, self.reasoning,
                          self.tool_calls, self.outcome):
                label.clear()
            self.waterfall.clear()
            self.pending.show_item(None, False)
            self._enable(False)
            return
        self._tick()
        self.request_text.setText(item.request.text)
        self.customer.setText(customer_html(item.customer))
        self.reasoning.setText(reasoning_html(item))
        self.tool_calls.setText(tool_calls_html(item))
        self.outcome.setText(outcome_text(item.outcome))
        self.waterfall.set_spans(item.spans)
        self.pending.show_item(item, mine)
        self._enable(mine)

    def _tick(self) -> None:
        """Time passes: the waiting time and the lease left change."""
        item = self.item
        if item is None:
            return
        waited = ("" if item.state is EscalationState.RESOLVED
                  else f" · waiting {waiting_text(self.clock.now() - item.created_at)}")
        self.title.setText(f"Escalation #{item.id} · {html.escape(item.reason)} · "
                           f"intent {html.escape(item.intent or '—')}{waited}")
        self.claim_state.setText(self._claim_text(item))

    def _claim_text(self, item: Escalation) -> str:
        state = item.state
        if state is EscalationState.CLAIMED:
            left = waiting_text((item.lease_expires_at or 0) - self.clock.now())
            who = "you" if item.claimed_by == self.operator else html.escape(
                item.claimed_by or "")
            return f"<b>Claimed by {who}</b> · lease ends in {left}"
        if state is EscalationState.RESOLVED:
            took = waiting_text(item.time_to_resolve_s or 0)
            return (f"<b>Resolved</b> by {html.escape(item.resolved_by or '?')} "
                    f"({html.escape(item.resolution or '')}) after {took}")
        if state is EscalationState.HANDED_BACK:
            return "<b>Handed back</b>: the agent is re-running it"
        if item.note:  # handed back, and the agent's new attempt escalated it again
            return (f"<b>Open</b> again: handed back with the note "
                    f"“{html.escape(item.note)}”; the agent tried again and escalated it "
                    f"({html.escape(item.reason)}). Claim it to act")
        return "<b>Open</b>: claim it to act"

    def _is_mine(self, item: Escalation | None) -> bool:
        return (item is not None and item.state is EscalationState.CLAIMED
                and item.claimed_by == self.operator)

    def _enable(self, mine: bool) -> None:
        item = self.item
        mine = mine and not self._acting  # one action at a time: no double approvals
        waiting = (item is not None and item.pending_action is not None
                   and item.pending_status is not None and item.pending_status.undecided)
        self.act_claim.setEnabled(item is not None and item.state is EscalationState.OPEN
                                  and not self._acting)
        for action in (self.act_release, self.act_reply, self.act_resolve, self.act_hand_back):
            action.setEnabled(mine)
        self.act_approve.setEnabled(mine and waiting)
        self.act_deny.setEnabled(mine and waiting)

    def _say(self, text: str) -> None:
        """A refusal or a failure: beside the buttons and in the status bar."""
        self.message.setStyleSheet(ERROR_STYLE)
        self.message.setText(text)
        message.warning(text)

    def _tell(self, text: str) -> None:
        """What an action did, when its result is not plain to see."""
        self.message.setStyleSheet("")
        self.message.setText(text)
        message.info(text)

    # -- acting ----------------------------------------------------------------

    def _start(self, coro: Awaitable[Any]) -> None:
        # Buttons and shortcuts wait until this one is done: a second Approve pressed
        # while the first runs (with arguments edited meanwhile) must not fire.
        if self._draft_timer.isActive():
            self.save_draft()  # now, while the claim the action may end still holds
        self._acting = True
        self._enable(self._is_mine(self.item))
        self.running = asyncio.ensure_future(self._one_at_a_time(coro))
        self.running.add_done_callback(_report_bug)

    async def _one_at_a_time(self, coro: Awaitable[Any]) -> Any:
        # The buttons come back inside the task, not in a done-callback a loop turn
        # later: once the action is done the next key press already works.
        try:
            return await coro
        finally:
            self._acting = False
            self._enable(self._is_mine(self.item))

    def stop(self) -> None:
        """No more renewals, and the last keystrokes saved: called before the engine
        (and its database) closes."""
        self._renew_timer.stop()
        self._tick_timer.stop()
        if self._draft_timer.isActive():
            self.save_draft()

    def _typed(self) -> None:
        if self._is_mine(self.item):
            self._draft_timer.start()  # saved once the operator pauses

    def save_draft(self) -> None:
        """Saves the reply and note being written on the shown item."""
        self._draft_timer.stop()
        item = self.item
        if item is None or item.state is EscalationState.RESOLVED:
            return
        try:
            self.queue.save_draft(item.id, self.operator, self.composer.toPlainText(),
                                  self.note.text())
        except StorageError as exc:  # a locked database: still in the box; say so
            log.warning("escalation %d: saving the draft failed: %s", item.id, exc)
            self._say(f"Your reply is not saved yet: {exc}")

    async def _act(self, what: Callable[[Escalation], Awaitable[Any]]) -> Any:
        """Runs one queue call on the shown item; a refusal is said, then the item is
        reloaded either way, since a refusal often means someone else changed it."""
        item = self.item
        if item is None:
            return None
        self.message.clear()
        self._last_activity = self.clock.now()  # acting on it is working on it
        try:
            result = await what(item)
        except (UserFacingError, StorageError) as exc:  # QueueError; a locked database
            log.info("escalation %d: refused: %s", item.id, exc)
            self._say(str(exc))
            result = None
        await self._load(item.id, fresh=False)
        return result

    async def claim(self) -> Any:
        return await self._act(
            lambda item: self.queue.claim(item.id, self.operator, self._settings().lease_s))

    async def release(self) -> Any:
        return await self._act(lambda item: self.queue.release(item.id, self.operator))

    async def approve(self) -> Any:
        """Asks first, always: with the figures side by side within the policy; above
        it, for a reason and then again, naming the amount over it. Approving takes at
        least the care denying does (a reason)."""
        check = self.pending.check()
        item = self.item
        if check is None or item is None:
            return None
        arguments = self.pending.edited_arguments()
        if item.pending_status is None or not item.pending_status.undecided:
            # Approved, denied or running already: the queue says so (an approved write
            # returns its result again and acts no more); nothing to confirm.
            return await self._act(lambda item: self.queue.approve(item.id, self.operator))
        if check.verdict is Verdict.IMPOSSIBLE:
            self._say(f"Can't approve {check.action}: {check.problem}")
            return None
        figures = [f"{name}: {value}" for name, value in check.figures]
        override: str | None = None
        if check.verdict is Verdict.OVERRIDE:
            override = await ask_reason(
                self, f"Override the {check.verb} policy?",
                f"{check.action} is {check.problem}. An operator may {check.verb} above the "
                f"policy, never above {check.ceiling}. Say why; it is kept with the "
                f"{check.verb}.", "Override…")
            if override is None:
                return None
            question = (f"{check.verb.capitalize()} above the policy: {check.action}, "
                        f"{check.problem}. This can't be undone.")
            figures.append(f"Reason: {override}")
        else:
            question = f"{check.action}?" + (" This can't be undone." if figures else "")
        if not await confirm(self, "Approve the pending action?", question, "&Approve",
                             figures):
            return None

        async def do(item: Escalation) -> Any:
            return await self.queue.approve(item.id, self.operator, arguments,
                                            override_reason=override)
        return await self._act(do)

    async def deny(self) -> Any:
        return await self._act(
            lambda item: self.queue.deny(item.id, self.operator, self.note.text()))

    async def reply(self) -> Any:
        return await self._act(
            lambda item: self.queue.reply(item.id, self.operator, self.composer.toPlainText()))

    async def resolve(self) -> Any:
        return await self._act(lambda item: self.queue.resolve(item.id, self.operator))

    async def hand_back(self) -> Any:
        """Says what the agent's new attempt did: an item that comes back open after
        a hand-back looks, at a glance, as if nothing had happened."""
        outcome = await self._act(
            lambda item: self.queue.hand_back(item.id, self.operator, self.note.text()))
        if isinstance(outcome, Outcome):
            self._tell(handed_back_text(outcome))
        return outcome

    def renew_if_active(self) -> None:
        """Renews this operator's claim when its lease is half gone and they have
        worked on the item since it was claimed or last renewed."""
        item = self.item
        if item is not None:
            self.claim_state.setText(self._claim_text(item))  # the lease counts down
        if not self._is_mine(item) or item is None or item.lease_expires_at is None:
            return
        lease_s = self._settings().lease_s
        left = item.lease_expires_at - self.clock.now()
        if left <= 0:  # lapsed: show it open, as it now is
            self._start(self.reload())
            return
        if left > lease_s / 2:
            return  # plenty left
        if self._last_activity <= item.lease_expires_at - lease_s:
            return  # no keystroke since the last claim: the operator walked away
        self._start(self.claim())
