"""The operators' escalation queue, over the engine's SQLite database.

    open -> claimed (by a named operator, for a lease) -> resolved
                  `-> handed back to the agent with a note -> resolved by the agent,
                                                             or open again

A claim is one conditional UPDATE, so of two operators claiming at once (two
tasks, threads or processes) exactly one wins. A claim whose lease has ended
reads as open and may be taken by anyone. Only the claimant may act on an
item, and only while its lease runs. Every state lives in the database: a
new queue over the same file (after a restart) sees the same items and claims.

A pending write is approved or denied by the methods of `PendingWrites`
(agentcore.pending_writes): held to the write's own policy, one approval at a
time across consoles, settled from the domain's record after a crash. A hand-back
re-runs the request through `rerun` (the engine's `rerun`) under the same id,
with the operator's note; the storage settles the item in the same transaction
as the new outcome.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agentcore.clock import Clock
from agentcore.errors import StorageError
from agentcore.escalation_model import (
    _EFFECTIVE_STATE,
    _SELECT,
    _STORED_AS,
    Escalation,
    EscalationState,
    PendingStatus,
    QueueError,
    _escalation,
    required_text,
)
from agentcore.models import EscalationReason, Outcome, Request, Span
from agentcore.pending_writes import (
    APPROVAL_WINDOW_S,
    Act,
    Limits,
    Parse,
    PendingWrites,
    Recorded,
    tool_act,
    tool_parse,
    why_decided,
)
from agentcore.sqlite_tx import transaction
from agentcore.storage import Store, storable

if TYPE_CHECKING:
    from agentcore.domain import CustomerContext

log = logging.getLogger("agentcore.escalations")

__all__ = ["Escalation", "EscalationQueue", "EscalationState", "PendingStatus", "QueueError",
           "tool_act", "tool_parse"]

Rerun = Callable[[Request], Awaitable[Outcome]]


# Half-written texts are done with once the item is resolved (the reply is the
# outcome now) or handed back (the agent's next draft supersedes them).
_NO_DRAFTS = ", reply_draft = NULL, note_draft = NULL, draft_by = NULL"


class EscalationQueue(PendingWrites):
    def __init__(self, store: Store, clock: Clock, *, rerun: Rerun, act: Act,
                 customer: Callable[[int], CustomerContext | None] | None = None,
                 recorded: Recorded | None = None,
                 limits: Limits | None = None, parse: Parse | None = None,
                 approval_window_s: float = APPROVAL_WINDOW_S) -> None:
        """`approval_window_s` must outlast any write `act` runs (its tool timeout):
        only after it is an approval left "approving" taken for one a crash cut short."""
        self.store = store
        self.clock = clock
        self._rerun = rerun
        self._act = act
        self._customer = customer
        self._recorded = recorded
        self._limits = limits
        self._parse = parse
        self.approval_window_s = approval_window_s
        self._listeners: list[Callable[[int], None]] = []

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
              sets: str, params: tuple[Any, ...], *, undecided: bool = False) -> None:
        """Updates the item only while `operator`'s claim is live (inside a transaction)
        and, with `undecided`, only while its pending write is still to be decided."""
        also = " AND pending_status IN ('waiting', 'failed')" if undecided else ""
        cur = conn.execute(
            f"UPDATE escalations SET {sets} WHERE id = ? AND state = 'claimed'"
            f" AND claimed_by = ? AND lease_expires_at > ?{also}",
            (*params, item.id, operator, self.clock.now()))
        if cur.rowcount != 1:
            now = self._load(item.id)
            if undecided and now.pending_status is not None and not now.pending_status.undecided:
                raise QueueError(why_decided(now))
            raise QueueError(self._why_not(now, operator))

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
        """One item with its full context: request, customer, trace, outcome, and what
        bounds its pending write now."""
        item = self._settle(self._load(escalation_id))
        rid = item.request_id
        pending = item.pending_action
        if (pending is not None and self._limits is not None
                and item.pending_status is not None and item.pending_status.undecided):
            item.limits = self.limits_for(pending.tool, pending.arguments)
        item.spans = [
            Span(name=r["name"], start=r["start"], end=r["end"],
                 attributes=json.loads(r["attributes"]), error=r["error"], parent=r["parent"])
            for r in self._rows("SELECT * FROM spans WHERE request_id = :rid ORDER BY seq",
                                {"rid": rid})]
        outcome = self._rows("SELECT * FROM outcomes WHERE request_id = :rid", {"rid": rid})
        if outcome:
            item.outcome = outcome[0] | {"errors": json.loads(outcome[0]["errors"])}
        if self._customer is not None and item.request.customer_id is not None:
            item.customer = self._customer(item.request.customer_id)
        return item

    # -- claims --------------------------------------------------------------

    async def claim(self, escalation_id: int, operator: str, lease_s: float) -> Escalation:
        """Claims an open item (or renews one's own claim) for `lease_s` seconds.

        One conditional UPDATE: of two operators claiming at once, one wins."""
        operator = required_text(operator, "the operator's name")
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

    # -- ending an item ------------------------------------------------------

    async def reply(self, escalation_id: int, operator: str, text: str, *,
                    intent: str | None = None) -> Escalation:
        """Answers the customer: the outcome becomes the operator's (route 'human'),
        the item is resolved, and the pair is kept as a labelled example."""
        text = required_text(text, "a reply")
        item = self._settle(self._claimed(escalation_id, operator))
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
        item = self._settle(self._claimed(escalation_id, operator))
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
        note = required_text(note, "a note for the agent")
        item = self._settle(self._claimed(escalation_id, operator))
        if item.pending_status is PendingStatus.APPROVING:
            raise QueueError(why_decided(item))
        with self._transaction() as conn:
            sets = "state = 'handed_back', note = ?, lease_expires_at = NULL" + _NO_DRAFTS
            params: tuple[Any, ...] = (note,)
            if item.pending_status is not None and item.pending_status.undecided:
                sets += ", pending_status = 'denied', pending_result = ?"
                params += (json.dumps({"reason": "handed back to the agent", "by": operator,
                                       "at": self.clock.now()}),)
            self._hold(conn, item, operator, sets, params)
            # The note is on disk with the request, marked accepted again: a crash before
            # or during the re-run leaves it for `resume`, with the note, not stranded.
            conn.execute("UPDATE requests SET note = ?, status = 'accepted' WHERE id = ?",
                         (note, item.request_id))
        self._changed(escalation_id)
        request = item.request
        log.info("escalation %d handed back by %s", escalation_id, operator)
        outcome = await self._rerun(Request(text=request.text, customer_id=request.customer_id,
                                            channel=request.channel, id=request.id,
                                            received_at=request.received_at, note=note))
        self._changed(escalation_id)
        return outcome
