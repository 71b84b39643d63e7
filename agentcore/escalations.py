"""The operators' escalation queue, over the engine's SQLite database.

    open -> claimed (by a named operator, for a lease) -> resolved
                  `-> handed back to the agent with a note -> resolved by the agent,
                                                             or open again

A claim is one conditional UPDATE, so of two operators claiming at once (two
tasks, threads or processes) exactly one wins. A claim whose lease has ended
reads as open and may be taken by anyone. Only the claimant may act on an
item, and only while its lease runs. Every state lives in the database: a
new queue over the same file (after a restart) sees the same items and claims.

Approving a pending write runs it through `act`, keyed by the ORIGINAL request
id: the shop's write tools are idempotent per request, so approving twice (or
again after a crash) acts once. A hand-back re-runs the request through `rerun`
(the engine's `submit`) under the same id, with the operator's note; the
storage settles the item in the same transaction as the new outcome.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from agentcore.clock import Clock
from agentcore.errors import StorageError, ToolError, UserFacingError
from agentcore.models import EscalationReason, Outcome, PendingAction, Request, Span
from agentcore.sqlite_tx import transaction
from agentcore.storage import Store, storable

if TYPE_CHECKING:
    from agentcore.shop.repository import Shop
    from agentcore.tools import ToolRegistry

log = logging.getLogger("agentcore.escalations")

Rerun = Callable[[Request], Awaitable[Outcome]]
Act = Callable[[str, dict[str, Any], str, int | None], Awaitable[dict[str, Any]]]


class QueueError(UserFacingError):
    """An operator's action on the queue cannot be done; the message says why."""


class EscalationState(StrEnum):
    OPEN = "open"
    CLAIMED = "claimed"
    RESOLVED = "resolved"
    HANDED_BACK = "handed_back"  # the agent is re-running it with the operator's note


class PendingStatus(StrEnum):
    WAITING = "waiting"
    APPROVED = "approved"
    DENIED = "denied"


@dataclass(slots=True)
class Escalation:
    """One item of the queue. `state` is as of the queue's clock: an expired claim
    reads as open, with no claimant. `customer`, `recent_orders`, `spans` and
    `outcome` are filled by `get` only."""

    id: int
    request: Request
    reason: str
    state: EscalationState
    created_at: float
    claimed_by: str | None = None
    lease_expires_at: float | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    resolution: str | None = None
    note: str | None = None
    intent: str | None = None
    draft_answer: str | None = None
    tool_results: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    pending_action: PendingAction | None = None
    pending_status: PendingStatus | None = None
    pending_result: dict[str, Any] | None = None
    reply_draft: str | None = None  # what an operator was writing, as last saved
    note_draft: str | None = None
    draft_by: str | None = None  # that operator
    customer: dict[str, Any] | None = None
    recent_orders: list[dict[str, Any]] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    outcome: dict[str, Any] | None = None

    @property
    def request_id(self) -> str:
        return self.request.id

    @property
    def time_to_resolve_s(self) -> float | None:
        return None if self.resolved_at is None else self.resolved_at - self.created_at


_EFFECTIVE_STATE = ("CASE WHEN e.state = 'claimed' AND e.lease_expires_at <= :now"
                    " THEN 'open' ELSE e.state END")
# An expired claim reads as open: "open" is stored as open or claimed.
_STORED_AS = {EscalationState.OPEN: (EscalationState.OPEN, EscalationState.CLAIMED),
              EscalationState.CLAIMED: (EscalationState.CLAIMED,),
              EscalationState.RESOLVED: (EscalationState.RESOLVED,),
              EscalationState.HANDED_BACK: (EscalationState.HANDED_BACK,)}
_SELECT = f"""
SELECT e.id, e.request_id, e.reason, {_EFFECTIVE_STATE} AS state, e.created_at,
       e.claimed_by, e.lease_expires_at, e.resolved_at, e.resolved_by, e.resolution,
       e.note, e.context, e.pending_status, e.pending_result, e.reply_draft, e.note_draft,
       e.draft_by,
       r.text, r.customer_id, r.channel, r.received_at, r.note AS request_note
FROM escalations e JOIN requests r ON r.id = e.request_id
"""


def _escalation(row: dict[str, Any]) -> Escalation:
    context = json.loads(row["context"])
    pending = context.get("pending_action")
    live_claim = row["state"] == EscalationState.CLAIMED
    return Escalation(
        id=row["id"],
        request=Request(text=row["text"], customer_id=row["customer_id"],
                        channel=row["channel"], id=row["request_id"],
                        received_at=row["received_at"], note=row["request_note"]),
        reason=row["reason"], state=EscalationState(row["state"]),
        created_at=row["created_at"],
        claimed_by=row["claimed_by"] if live_claim else None,
        lease_expires_at=row["lease_expires_at"] if live_claim else None,
        resolved_at=row["resolved_at"], resolved_by=row["resolved_by"],
        resolution=row["resolution"], note=row["note"], intent=context.get("intent"),
        draft_answer=context.get("draft_answer"),
        tool_results=context.get("tool_results") or {}, errors=context.get("errors") or [],
        pending_action=PendingAction(**pending) if pending else None,
        pending_status=PendingStatus(row["pending_status"]) if row["pending_status"]
        else PendingStatus.WAITING if pending else None,  # a row from before the queue
        pending_result=json.loads(row["pending_result"]) if row["pending_result"] else None,
        reply_draft=row["reply_draft"], note_draft=row["note_draft"], draft_by=row["draft_by"])


# Half-written texts are done with once the item is resolved (the reply is the
# outcome now) or handed back (the agent's next draft supersedes them).
_NO_DRAFTS = ", reply_draft = NULL, note_draft = NULL, draft_by = NULL"


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QueueError(f"{what} must not be empty")
    return storable(value.strip())


class EscalationQueue:
    def __init__(self, store: Store, clock: Clock, *, rerun: Rerun, act: Act,
                 shop: Shop | None = None) -> None:
        self.store = store
        self.clock = clock
        self._rerun = rerun
        self._act = act
        self._shop = shop
        self._listeners: list[Callable[[int], None]] = []
        # Items whose first approval is running: a second press meanwhile (edited to
        # another order, say) would be another write, not a replay of this one.
        self._approving: set[int] = set()

    def on_change(self, listener: Callable[[int], None]) -> None:
        """Called with an item's id after this queue changed it."""
        self._listeners.append(listener)

    def _changed(self, escalation_id: int) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(escalation_id)
            except Exception:
                log.exception("escalation listener %r failed", listener)

    # -- database plumbing ---------------------------------------------------

    def _rows(self, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            cur = self.store.conn.execute(sql, params)
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except sqlite3.Error as exc:
            raise StorageError(f"reading the escalation queue failed: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            with transaction(self.store.conn, "IMMEDIATE") as conn:
                yield conn
        except sqlite3.Error as exc:
            raise StorageError(f"writing the escalation queue failed: {exc}") from exc

    def _load(self, escalation_id: int) -> Escalation:
        rows = self._rows(_SELECT + "WHERE e.id = :id",
                          {"id": escalation_id, "now": self.clock.now()})
        if not rows:
            raise QueueError(f"there is no escalation {escalation_id}")
        return _escalation(rows[0])

    def _why_not(self, item: Escalation, operator: str) -> str:
        """Why `operator` may not act on `item` now."""
        if item.state is EscalationState.RESOLVED:
            return f"escalation {item.id} is already resolved (by {item.resolved_by})"
        if item.state is EscalationState.HANDED_BACK:
            return f"escalation {item.id} was handed back to the agent, which is re-running it"
        if item.state is EscalationState.CLAIMED and item.claimed_by != operator:
            left = (item.lease_expires_at or 0.0) - self.clock.now()
            return f"escalation {item.id} is claimed by {item.claimed_by} for another {left:.0f} s"
        return (f"escalation {item.id} is not claimed by {operator}: claim it first "
                "(a claim ends with its lease)")

    def _claimed(self, escalation_id: int, operator: str) -> Escalation:
        """The item, if `operator` holds a live claim on it; QueueError otherwise."""
        item = self._load(escalation_id)
        if item.state is not EscalationState.CLAIMED or item.claimed_by != operator:
            raise QueueError(self._why_not(item, operator))
        return item

    def _hold(self, conn: sqlite3.Connection, item: Escalation, operator: str,
              sets: str, params: tuple[Any, ...]) -> None:
        """Updates the item only while `operator`'s claim is live (inside a transaction)."""
        cur = conn.execute(
            f"UPDATE escalations SET {sets} WHERE id = ? AND state = 'claimed'"
            " AND claimed_by = ? AND lease_expires_at > ?",
            (*params, item.id, operator, self.clock.now()))
        if cur.rowcount != 1:
            raise QueueError(self._why_not(self._load(item.id), operator))

    # -- reading -------------------------------------------------------------

    async def list(self, state: EscalationState | str | None = None,
                   reason: EscalationReason | str | None = None, *,
                   after_id: int | None = None, limit: int | None = None,
                   latest_resolved_first: bool = False) -> list[Escalation]:
        """Items oldest first (or, for a look back, the latest resolved first),
        optionally only those in a state, with a reason, newer than an id (what arrived
        since a look), and at most `limit` of them."""
        where, params = self._filter(state, reason, after_id)
        order = ("e.resolved_at DESC, e.id DESC" if latest_resolved_first
                 else "e.created_at, e.id")
        sql = _SELECT + where + f"ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT :limit"
            params["limit"] = limit
        return [_escalation(r) for r in self._rows(sql, params)]

    async def count(self, state: EscalationState | str | None = None,
                    reason: EscalationReason | str | None = None) -> int:
        """How many items `list` would return, without loading them: the status bar
        and the queue view ask every few seconds, and a busy day leaves thousands."""
        where, params = self._filter(state, reason, None)
        rows = self._rows(f"SELECT COUNT(*) AS n FROM escalations e {where}", params)
        return int(rows[0]["n"])

    async def resolved_among(self, ids: Iterable[int]) -> tuple[int, ...]:
        """Which of `ids` are resolved now: how a view learns that items it showed were
        settled, by this process or another one on the same database."""
        wanted = json.dumps(list(ids))
        if wanted == "[]":
            return ()
        # Driven by the ids (a primary-key lookup each), not by the resolved items,
        # which a busy day counts in tens of thousands.
        rows = self._rows("SELECT e.id FROM json_each(:ids) AS j CROSS JOIN escalations AS e"
                          " ON e.id = j.value WHERE e.state = 'resolved' ORDER BY e.id",
                          {"ids": wanted})
        return tuple(int(r["id"]) for r in rows)

    async def newest_id(self) -> int:
        """The id of the latest item (0 when there is none): `list(after_id=...)`
        from it returns exactly what arrives next."""
        return int(self._rows("SELECT COALESCE(MAX(id), 0) AS n FROM escalations", {})[0]["n"])

    def _filter(self, state: EscalationState | str | None, reason: EscalationReason | str | None,
                after_id: int | None) -> tuple[str, dict[str, Any]]:
        if state is not None:
            try:
                state = EscalationState(state)
            except ValueError:
                raise QueueError(f"unknown state {state!r}; one of: "
                                 f"{', '.join(EscalationState)}") from None
        where = []
        if state is not None:
            # The stored states an effective state can come from, first: the index on
            # state then skips the resolved items, which pile up for ever.
            stored = ", ".join(f"'{s}'" for s in _STORED_AS[state])
            where.append(f"e.state IN ({stored}) AND {_EFFECTIVE_STATE} = :state")
        if reason is not None:
            where.append("e.reason = :reason")
        if after_id is not None:
            where.append("e.id > :after_id")
        params = {"now": self.clock.now(), "state": state, "after_id": after_id,
                  "reason": str(reason) if reason is not None else None}
        return (f"WHERE {' AND '.join(where)} " if where else ""), params

    async def get(self, escalation_id: int) -> Escalation:
        """One item with its full context: request, customer, trace, outcome."""
        item = self._load(escalation_id)
        rid = item.request_id
        item.spans = [
            Span(name=r["name"], start=r["start"], end=r["end"],
                 attributes=json.loads(r["attributes"]), error=r["error"], parent=r["parent"])
            for r in self._rows("SELECT * FROM spans WHERE request_id = :rid ORDER BY seq",
                                {"rid": rid})]
        outcome = self._rows("SELECT * FROM outcomes WHERE request_id = :rid", {"rid": rid})
        if outcome:
            item.outcome = outcome[0] | {"errors": json.loads(outcome[0]["errors"])}
        if self._shop is not None and item.request.customer_id is not None:
            item.customer = self._shop.get_customer(item.request.customer_id)
            item.recent_orders = self._shop.recent_orders(item.request.customer_id)
        return item

    # -- claims --------------------------------------------------------------

    async def claim(self, escalation_id: int, operator: str, lease_s: float) -> Escalation:
        """Claims an open item (or renews one's own claim) for `lease_s` seconds.

        One conditional UPDATE: of two operators claiming at once, one wins."""
        operator = _text(operator, "the operator's name")
        if not lease_s > 0:
            raise QueueError(f"a lease must be a positive number of seconds, not {lease_s!r}")
        now = self.clock.now()
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE escalations SET state = 'claimed', claimed_by = ?, lease_expires_at = ?"
                " WHERE id = ? AND (state = 'open' OR (state = 'claimed'"
                " AND (lease_expires_at <= ? OR claimed_by = ?)))",
                (operator, now + lease_s, escalation_id, now, operator))
            won = cur.rowcount == 1
        item = self._load(escalation_id)
        if not won:
            raise QueueError(self._why_not(item, operator))
        log.info("escalation %d claimed by %s for %g s", escalation_id, operator, lease_s)
        self._changed(escalation_id)
        return item

    async def release(self, escalation_id: int, operator: str) -> Escalation:
        """Gives a claimed item back to the queue, untouched."""
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE escalations SET state = 'open', claimed_by = NULL,"
                " lease_expires_at = NULL WHERE id = ? AND state = 'claimed' AND claimed_by = ?",
                (escalation_id, operator))
            released = cur.rowcount == 1
        item = self._load(escalation_id)
        if not released:
            raise QueueError(f"escalation {escalation_id} is not claimed by {operator}"
                             if item.state is not EscalationState.RESOLVED
                             else self._why_not(item, operator))
        self._changed(escalation_id)
        return item

    def save_draft(self, escalation_id: int, operator: str, reply: str, note: str) -> bool:
        """Keeps what `operator` is writing on an item they hold, so a restart or a
        crash doesn't lose it; the drafts are theirs (`draft_by`), shown to nobody else.
        Synchronous (one small UPDATE) so a closing window can save its last
        keystrokes; listeners aren't told: nothing they show changed. False when the
        claim is gone (released, lapsed, resolved, handed back): nothing is written."""
        with self._transaction() as conn:
            cur = conn.execute(
                "UPDATE escalations SET reply_draft = ?, note_draft = ?, draft_by = ?"
                " WHERE id = ? AND state = 'claimed' AND claimed_by = ?"
                " AND lease_expires_at > ?",
                (storable(reply) or None, storable(note) or None, operator, escalation_id,
                 operator, self.clock.now()))
        return cur.rowcount == 1

    # -- the pending write action --------------------------------------------

    async def approve(self, escalation_id: int, operator: str,
                      arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """Runs the pending write (with the operator's edited `arguments`, if given).

        Keyed by the original request: approving again returns the first result."""
        item = self._claimed(escalation_id, operator)
        pending = item.pending_action
        if pending is None:
            raise QueueError(f"escalation {escalation_id} has no action waiting for approval")
        if item.pending_status is PendingStatus.DENIED:
            raise QueueError(f"the {pending.tool} of escalation {escalation_id} was denied")
        done = item.pending_result if item.pending_status is PendingStatus.APPROVED else None
        if done is not None:  # approved before: the same write again, which acts no more
            if arguments is not None and arguments != done["arguments"]:
                raise QueueError(f"the {pending.tool} of escalation {escalation_id} was "
                                 f"already approved and done with {done['arguments']}")
            arguments = done["arguments"]
        args = dict(pending.arguments if arguments is None else arguments)
        if done is None:
            self._hold_approval(escalation_id, pending.tool)
        try:
            result = await self._act(pending.tool, args, item.request_id,
                                     item.request.customer_id)
        except ToolError as exc:
            raise QueueError(f"{pending.tool} was not done: {exc}") from exc
        finally:
            self._approving.discard(escalation_id)
        if done is None:
            record = {"arguments": args, "result": result, "by": operator,
                      "at": self.clock.now()}
            # Recorded whatever the lease says now: the write happened.
            with self._transaction() as conn:
                conn.execute("UPDATE escalations SET pending_status = 'approved',"
                             " pending_result = ? WHERE id = ?",
                             (json.dumps(record, default=str), escalation_id))
        log.info("escalation %d: %s approved by %s", escalation_id, pending.tool, operator)
        self._changed(escalation_id)
        return result

    def _hold_approval(self, escalation_id: int, tool: str) -> None:
        if escalation_id in self._approving:
            raise QueueError(f"the {tool} of escalation {escalation_id} is being approved "
                             "now: its result shows in a moment")
        self._approving.add(escalation_id)

    async def deny(self, escalation_id: int, operator: str, reason: str) -> Escalation:
        """Refuses the pending write; the item stays claimed for a reply."""
        reason = _text(reason, "the reason for denying")
        item = self._claimed(escalation_id, operator)
        if escalation_id in self._approving:
            raise QueueError(f"escalation {escalation_id}'s action is being approved now")
        if item.pending_action is None:
            raise QueueError(f"escalation {escalation_id} has no action waiting for approval")
        if item.pending_status is PendingStatus.APPROVED:
            raise QueueError(f"the {item.pending_action.tool} of escalation {escalation_id} "
                             "was already approved and done")
        record = {"reason": reason, "by": operator, "at": self.clock.now()}
        with self._transaction() as conn:
            self._hold(conn, item, operator, "pending_status = 'denied', pending_result = ?",
                       (json.dumps(record),))
        self._changed(escalation_id)
        return self._load(escalation_id)

    @staticmethod
    def _undecided(item: Escalation) -> None:
        if item.pending_status is PendingStatus.WAITING and item.pending_action is not None:
            raise QueueError(f"approve or deny the pending {item.pending_action.tool} "
                             f"of escalation {item.id} first")

    # -- ending an item ------------------------------------------------------

    async def reply(self, escalation_id: int, operator: str, text: str, *,
                    intent: str | None = None) -> Escalation:
        """Answers the customer: the outcome becomes the operator's (route 'human'),
        the item is resolved, and the pair is kept as a labelled example."""
        text = _text(text, "a reply")
        item = self._claimed(escalation_id, operator)
        self._undecided(item)
        now = self.clock.now()
        label = intent or item.intent
        with self._transaction() as conn:
            self._hold(conn, item, operator, "state = 'resolved', resolved_at = ?,"
                       " resolved_by = ?, resolution = 'replied'" + _NO_DRAFTS,
                       (now, operator))
            conn.execute(
                "UPDATE outcomes SET route = 'human', status = 'answered', answer = ?,"
                " intent = COALESCE(?, intent), latency_ms = ?, finished_at = ?, operator = ?"
                " WHERE request_id = ?",
                (text, label, (now - item.request.received_at) * 1000, now, operator,
                 item.request_id))
            conn.execute("UPDATE requests SET status = 'answered' WHERE id = ?",
                         (item.request_id,))
            conn.execute(
                "INSERT OR REPLACE INTO labelled_examples (request_id, text, customer_id,"
                " intent, answer, source, operator, created_at) VALUES (?,?,?,?,?,'human',?,?)",
                (item.request_id, item.request.text, item.request.customer_id, label, text,
                 operator, now))
        log.info("escalation %d answered by %s", escalation_id, operator)
        self._changed(escalation_id)
        return self._load(escalation_id)

    async def resolve(self, escalation_id: int, operator: str) -> Escalation:
        """Closes an item handled elsewhere (a call, an email), without a reply here."""
        item = self._claimed(escalation_id, operator)
        self._undecided(item)
        now = self.clock.now()
        with self._transaction() as conn:
            self._hold(conn, item, operator, "state = 'resolved', resolved_at = ?,"
                       " resolved_by = ?, resolution = 'resolved'" + _NO_DRAFTS,
                       (now, operator))
            # The operator settled it: the outcome is theirs (route 'human'), so route
            # mix and latency count it as handled, though no answer was written here.
            conn.execute(
                "UPDATE outcomes SET route = 'human', status = 'answered', answer = ?,"
                " latency_ms = ?, finished_at = ?, operator = ? WHERE request_id = ?",
                (f"(resolved by {operator} outside the console)",
                 (now - item.request.received_at) * 1000, now, operator, item.request_id))
            conn.execute("UPDATE requests SET status = 'answered' WHERE id = ?",
                         (item.request_id,))
        self._changed(escalation_id)
        return self._load(escalation_id)

    async def hand_back(self, escalation_id: int, operator: str, note: str) -> Outcome:
        """Re-runs the request through the agent with the operator's note.

        The new outcome replaces the old; an answer resolves the item, a new
        escalation reopens it with the new reason and context. A write still
        waiting is denied: the agent decides again, within policy."""
        note = _text(note, "a note for the agent")
        item = self._claimed(escalation_id, operator)
        with self._transaction() as conn:
            sets = "state = 'handed_back', note = ?, lease_expires_at = NULL" + _NO_DRAFTS
            params: tuple[Any, ...] = (note,)
            if item.pending_status is PendingStatus.WAITING:
                sets += ", pending_status = 'denied', pending_result = ?"
                params += (json.dumps({"reason": "handed back to the agent", "by": operator,
                                       "at": self.clock.now()}),)
            self._hold(conn, item, operator, sets, params)
            # The note is on disk with the request: a crash mid-run re-runs it with it.
            conn.execute("UPDATE requests SET note = ? WHERE id = ?", (note, item.request_id))
        self._changed(escalation_id)
        request = item.request
        log.info("escalation %d handed back by %s", escalation_id, operator)
        outcome = await self._rerun(Request(text=request.text, customer_id=request.customer_id,
                                            channel=request.channel, id=request.id,
                                            received_at=request.received_at, note=note))
        self._changed(escalation_id)
        return outcome


def tool_act(tools: ToolRegistry, shop: Shop, *, timeout_s: float) -> Act:
    """An `act` for the queue: a write tool of `tools`, its arguments checked against
    the tool's schema, run under the original request's id (its idempotency key)."""
    from agentcore.tools import ToolContext

    async def act(tool: str, arguments: dict[str, Any], request_id: str,
                  customer_id: int | None) -> dict[str, Any]:
        spec = tools.get(tool)  # UnknownToolError is a ToolError
        if not spec.writes:
            raise ToolError(f"{tool} is not a write action")
        args = spec.parse(json.dumps(arguments))
        return await tools.call(tool, args, ToolContext(shop, request_id, customer_id),
                                timeout_s)

    return act
