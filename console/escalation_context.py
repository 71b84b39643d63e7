"""One escalation, whole, as a support agent's workspace (Zendesk's, Chatwoot's):
the conversation in the middle (the customer's message, the agent's draft or
answer, hand-back notes), what the agent did as readable steps (raw JSON on
demand) and why it stopped; on the side, the write waiting for approval with its
figures side by side, then the customer's card and the orders the request is
about first; at the bottom the reply box, prefilled with a useful draft, and the
team's saved replies.

The middle column is `EscalationStory` (console.escalation_story); the panel is a
view over a `ClaimSession` (agentcore.claim_session): which
actions are allowed, the one-at-a-time guard, the lease and the drafts live there;
this keeps the widgets, the timers and the questions asked before approving.
What the queue refuses is said beside the buttons and through `console.message`.
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
    QFrame,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from agentcore import (
    Act,
    ClaimSession,
    Escalation,
    EscalationState,
    Renewal,
    SavedReplies,
    StorageError,
    Texts,
    UserFacingError,
)
from console import message
from console.approval_check import Verdict
from console.confirm import ask_reason, confirm
from console.escalation_format import customer_card_html, waiting_text
from console.escalation_story import EscalationStory, heading, label
from console.pending_action import LimitsFor, PendingActionBox, action_button
from console.reply_draft import placeholders
from console.saved_replies import SavedRepliesBar

log = logging.getLogger("console.escalation")

ERROR_STYLE = "color: #e5534b;"
RENEW_CHECK_MS = 5000
TICK_MS = 1000  # the waiting time and the lease count by the second
DRAFT_SAVE_MS = 1000  # a crash loses at most the last second of a reply being written
_ACTIVITY = (QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress)


def _report_bug(task: asyncio.Future[Any]) -> None:
    # Refusals are said by the session (`ClaimSession.act`); anything else is a bug:
    # to the loop's exception handler (the app's error reporter) now, not when the
    # task is collected.
    if not task.cancelled() and task.exception() is not None:
        task.get_loop().call_exception_handler({
            "message": "an escalation action failed", "exception": task.exception(),
            "future": task})


def _scrolling(widget: QWidget) -> QScrollArea:
    # Scrolls down, never sideways: every label in it wraps.
    scroll = QScrollArea()
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return scroll


class EscalationContextPanel(QWidget):
    changed = Signal(object)  # the Escalation now shown (after a load or an action)

    def __init__(self, session: ClaimSession, limits_for: LimitsFor,
                 replies: SavedReplies | None = None, parent: QWidget | None = None) -> None:
        """`session` holds the item and its rules; `limits_for` is the queue's (what
        bounds a pending write, as edited); `replies` the team's saved replies."""
        super().__init__(parent)
        self.session = session
        self._replies = replies
        self.clock = session.clock
        self._limits_for = limits_for
        self._rendered: Escalation | None = None  # the item the widgets show
        self.running: asyncio.Future[Any] | None = None  # the last action, for tests to await
        self._loading: asyncio.Task[None] | None = None
        self._stale = False
        self._prefilled: str | None = None  # the draft as filled in, while untouched
        self._build_actions()
        self._build()
        session.on_changed.append(self._session_changed)
        session.on_said.append(self._said)
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
    def item(self) -> Escalation | None:
        return self.session.item

    @property
    def operator(self) -> str:
        return self.session.operator

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
        self._acts = dict(zip(Act, self.actions_in_order, strict=True))

    def _build(self) -> None:
        self.title = label()
        self.title.setStyleSheet("font-weight: 600; font-size: 13px;")
        self.claim_state = label()
        self.customer = label()
        self.story = EscalationStory()
        # The story's parts by name: what tests and the window read.
        self.conversation, self.steps = self.story.conversation, self.story.steps
        self.tool_calls, self.waterfall = self.story.tool_calls, self.story.waterfall
        self.reasoning, self.outcome = self.story.reasoning, self.story.outcome
        self.show_raw = self.story.show_raw

        self.pending = PendingActionBox(self.act_approve, self.act_deny, activity=self,
                                        limits_for=self._limits_for)
        side = QWidget()  # who wrote, the orders at issue, the write waiting
        card = QVBoxLayout(side)
        card.setContentsMargins(4, 0, 0, 0)
        card.addWidget(self.pending)  # the decision at hand first: in view without scrolling
        card.addWidget(heading("Customer"))
        card.addWidget(self.customer)
        card.addStretch(1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(_scrolling(self.story))
        splitter.addWidget(_scrolling(side))
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([600, 400])  # the card wide enough to read figures on one line

        self.composer = QPlainTextEdit()
        self.composer.setMinimumHeight(44)
        self.composer.setPlaceholderText("Reply to the customer")
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note: for the agent on hand back, or why you deny")
        self.message = label(rich=False)
        self.message.setStyleSheet(ERROR_STYLE)
        buttons = QHBoxLayout()
        for action in (self.act_reply, self.act_resolve, self.act_hand_back):
            buttons.addWidget(action_button(action))
        buttons.addStretch(1)
        self.reply_tools = QHBoxLayout()
        self.reply_tools.addWidget(heading("Reply"))
        self.reply_tools.addStretch(1)
        self.saved_replies: SavedRepliesBar | None = None
        if self._replies is not None:
            self.saved_replies = SavedRepliesBar(
                self._replies, self._placeholders, self.insert_reply,
                lambda: self.session.operator)
            self.reply_tools.addWidget(self.saved_replies, 3)
        claim_row = QHBoxLayout()
        claim_row.addWidget(self.claim_state, 1)
        claim_row.addWidget(action_button(self.act_claim))
        claim_row.addWidget(action_button(self.act_release))

        bottom = QWidget()
        actions = QVBoxLayout(bottom)
        actions.setContentsMargins(0, 0, 0, 0)
        actions.addLayout(self.reply_tools)
        actions.addWidget(self.composer, 1)
        actions.addWidget(self.note)
        actions.addLayout(buttons)
        actions.addWidget(self.message)
        vertical = QSplitter(Qt.Orientation.Vertical)  # the operator may give the reply room
        vertical.setChildrenCollapsible(False)
        vertical.addWidget(splitter)
        vertical.addWidget(_scrolling(bottom))  # in a short dock it scrolls, not grows
        vertical.setStretchFactor(0, 3)
        vertical.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addLayout(claim_row)
        layout.addWidget(vertical, 1)
        for widget in (self.composer, self.note):
            widget.installEventFilter(self)
        self.composer.textChanged.connect(self._typed)
        self.note.textEdited.connect(self._typed)

    def _placeholders(self) -> dict[str, str] | None:
        item = self.item
        return None if item is None else placeholders(item, self.session.operator)

    def insert_reply(self, text: str) -> None:
        """A saved reply: instead of the untouched draft, else where the cursor is."""
        if self.composer.toPlainText() in ("", self._prefilled):
            self.composer.setPlainText(text)
        else:
            self.composer.textCursor().insertText(text)
        self._prefilled = None  # the operator's choice now, not the draft's
        self.composer.setFocus()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() in _ACTIVITY:
            self.session.touch()
        return super().eventFilter(watched, event)

    # -- showing ---------------------------------------------------------------

    def _texts(self) -> Texts:
        return Texts(self.composer.toPlainText(), self.note.text())

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
        if fresh and self._draft_timer.isActive():
            self.save_draft()  # the item being left keeps its last keystrokes
        try:
            item = await self.session.queue.get(escalation_id)
        except (UserFacingError, StorageError) as exc:  # gone, or the database is locked
            self._say(str(exc))
            return
        if not fresh and (self.item is None or self.item.id != escalation_id):
            return
        self._show(item)
        if self._stale:
            self._stale = False
            await self._load(escalation_id, fresh=False)

    def _show(self, item: Escalation | None) -> None:
        texts = self.session.show(item, self._texts())  # renders, through the session
        if texts is not None and item is not None:  # another item: its own texts
            self.message.clear()
            self.note.setText(texts.note)
            self._fill_reply(texts.reply, drafted=texts.reply == self.session.draft(item))
            self._draft_timer.stop()  # filled in, not typed: nothing new to save
        elif item is None:
            self.note.clear()
            self._fill_reply("", drafted=True)

    def _session_changed(self, item: Escalation | None) -> None:
        """The session shows another read of an item (or an action started or ended)."""
        before, self._rendered = self._rendered, item
        if item is before:
            self._enable()
            return
        if (item is not None and before is not None and item.id == before.id
                and before.pending_status is not item.pending_status
                and self.composer.toPlainText() == self._prefilled):
            # The write was approved or denied and the operator kept the draft: the
            # draft follows ("I've refunded $24.00"), as they would have rewritten it.
            self._fill_reply(self.session.draft(item), drafted=True)
        self._render()
        self.changed.emit(item)

    def _fill_reply(self, text: str, *, drafted: bool) -> None:
        self._prefilled = text if drafted else None
        self.composer.blockSignals(True)  # filled in, not typed
        self.composer.setPlainText(text)
        self.composer.blockSignals(False)

    def _render(self) -> None:
        item = self.item
        mine = self.session.mine
        for widget in (self.composer, self.note):
            widget.setEnabled(mine)
        if self.saved_replies is not None:
            self.saved_replies.set_enabled_for_item(mine)
        if item is None:
            self.title.setText("No escalation selected")
            self.claim_state.clear()
            self.customer.clear()
            self.story.show_item(None, self.clock.now())
            self.pending.show_item(None, False)
            self._enable()
            return
        self._tick()
        self.customer.setText(customer_card_html(item.customer))
        self.story.show_item(item, self.clock.now())
        self.pending.show_item(item, mine)
        self._enable()

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
        self.story.tick(item, self.clock.now())

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

    def _enable(self) -> None:
        allowed = self.session.allowed()
        for act, action in self._acts.items():
            action.setEnabled(act in allowed)

    def _said(self, text: str, refusal: bool) -> None:
        """A refusal or a failure in red; what an action did, plainly; both in the
        status bar."""
        self.message.setStyleSheet(ERROR_STYLE if refusal else "")
        self.message.setText(text)
        (message.warning if refusal else message.info)(text)

    def _say(self, text: str) -> None:
        self._said(text, True)

    # -- acting ----------------------------------------------------------------

    def _start(self, coro: Awaitable[Any]) -> None:
        # Buttons and shortcuts wait until this one is done: a second Approve pressed
        # while the first runs (with arguments edited meanwhile) must not fire.
        if self._draft_timer.isActive():
            self.save_draft()  # now, while the claim the action may end still holds
        self.message.clear()
        self.running = asyncio.ensure_future(self.session.run(coro))
        self.running.add_done_callback(_report_bug)

    def stop(self) -> None:
        """No more renewals, and the last keystrokes saved: called before the engine
        (and its database) closes."""
        self._renew_timer.stop()
        self._tick_timer.stop()
        if self._draft_timer.isActive():
            self.save_draft()

    def _typed(self) -> None:
        if self.session.mine:
            self._draft_timer.start()  # saved once the operator pauses

    def save_draft(self) -> None:
        """Saves the reply and note being written on the shown item."""
        self._draft_timer.stop()
        self.session.save_draft(self._texts())

    async def claim(self) -> Any:
        return await self.session.claim()

    async def release(self) -> Any:
        return await self.session.release()

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
            return await self.session.approve(None)
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
        # The box was modal to the window, not to the queue: the selection may have
        # moved meanwhile. What was asked about is what is approved, or nothing.
        return await self.session.approve(arguments, override, escalation_id=item.id)

    async def deny(self) -> Any:
        return await self.session.deny(self.note.text())

    async def reply(self) -> Any:
        return await self.session.reply(self.composer.toPlainText())

    async def resolve(self) -> Any:
        return await self.session.resolve()

    async def hand_back(self) -> Any:
        return await self.session.hand_back(self.note.text())

    def renew_if_active(self) -> None:
        """Renews this operator's claim when its lease is half gone and they have
        worked on the item since it was claimed or last renewed."""
        self._tick()  # the lease counts down
        renewal = self.session.renewal()
        if renewal is Renewal.RELOAD:  # lapsed: show it open, as it now is
            self._start(self.reload())
        elif renewal is Renewal.RENEW:
            self._start(self.claim())
