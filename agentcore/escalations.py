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
again after a crash) acts once, and each write holds itself to its policy, so
an approval can do no more than the agent could, unless the operator overrides
the policy, explicitly and with a reason. The approval itself is a state in the
database (waiting -> approving -> approved or failed), taken by a conditional
UPDATE, so two consoles can never both run it. A crash between the write and
its record leaves the item approving; `recover` (at start) and `get` settle it
from the shop's own record of the write (`recorded`). A hand-back re-runs the
request through `rerun` (the engine's `submit`) under the same id, with the
operator's note; the storage settles the item in the same transaction as the
new outcome.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from agentcore.clock import Clock
from agentcore.errors import StorageError, ToolError
from agentcore.escalation_model import (
    _EFFECTIVE_STATE,
    _SELECT,
    _STORED_AS,
    Escalation,
    EscalationState,
    PendingStatus,
    QueueError,
    _escalation,
)
from agentcore.models import EscalationReason, Outcome, PendingAction, PolicyOverride, Request, Span
from agentcore.sqlite_tx import transaction
from agentcore.storage import Store, storable

if TYPE_CHECKING:
    from agentcore.shop.repository import Shop
    from agentcore.tools import ToolRegistry

log = logging.getLogger("agentcore.escalations")

__all__ = ["Escalation", "EscalationQueue", "EscalationState", "PendingStatus", "QueueError",
           "tool_act", "tool_parse"]

Rerun = Callable[[Request], Awaitable[Outcome]]
# (tool, arguments, original request id, its customer, an operator's override) -> result
Act = Callable[[str, dict[str, Any], str, int | None, PolicyOverride | None],
               Awaitable[dict[str, Any]]]
# (tool, arguments, request id) -> what that write did, from the shop's record; None: never
Recorded = Callable[[str, dict[str, Any], str], dict[str, Any] | None]
# (tool, arguments) -> the figures that bound that write now (paid, refunded, policy)
Limits = Callable[[str, dict[str, Any]], dict[str, Any] | None]
# (tool, arguments) -> the arguments as the write reads them; ToolError if it can't
Parse = Callable[[str, dict[str, Any]], dict[str, Any]]
APPROVAL_WINDOW_S = 60.0  # an approval still "approving" after this was cut short by a crash
MAX_OVERRIDE_REASON = 300  # kept with the refund itself, whole


# Half-written texts are done with once the item is resolved (the reply is the
# outcome now) or handed back (the agent's next draft supersedes them).
_NO_DRAFTS = ", reply_draft = NULL, note_draft = NULL, draft_by = NULL"


def _text(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise QueueError(f"{what} must not be empty")
    return storable(value.strip())


class EscalationQueue:
    def __init__(self, store: Store, clock: Clock, *, rerun: Rerun, act: Act,
                 shop: Shop | None = None, recorded: Recorded | None = None,
                 limits: Limits | None = None, parse: Parse | None = None,
                 approval_window_s: float = APPROVAL_WINDOW_S) -> None:
        """`approval_window_s` must outlast any write `act` runs (its tool timeout):
        only after it is an approval left "approving" taken for one a crash cut short."""
        self.store = store
        self.clock = clock
        self._rerun = rerun
        self._act = act
        self._shop = shop
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
                raise QueueError(_decided(now))
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
        if self._shop is not None and item.request.customer_id is not None:
            item.customer = self._shop.get_customer(item.request.customer_id)
            item.recent_orders = self._shop.recent_orders(item.request.customer_id)
        return item

    def limits_for(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any] | None:
        """What bounds a write with these (perhaps edited) arguments, now; None when
        the domain has no figures for it."""
        if self._limits is None:
            return None
        with contextlib.suppress(ToolError):  # else figures from what was typed, if readable
            arguments = self._parse(tool, arguments) if self._parse is not None else arguments
        return self._limits(tool, arguments)

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
                      arguments: dict[str, Any] | None = None, *,
                      override_reason: str | None = None) -> dict[str, Any]:
        """Runs the pending write (with the operator's edited `arguments`, if given),
        held to the write's own policy; with `override_reason`, above the policy but
        never past the write's hard limits (a refund: what is left of what was paid).

        Keyed by the original request: approving again returns the first result. The
        record keeps what the write did, as the write reports it."""
        item = self._settle(self._claimed(escalation_id, operator))
        pending = self._approvable(item)
        args = self._parsed(pending.tool, pending.arguments if arguments is None else arguments)
        if item.pending_status is PendingStatus.APPROVED:  # the same write again: no more
            done = item.pending_result or {}
            if arguments is not None and args != done.get("arguments"):
                raise QueueError(f"the {pending.tool} of escalation {escalation_id} was "
                                 f"already approved and done with {done.get('arguments')}")
            return dict(done.get("result") or {}) | {"replayed": True}
        override = None if override_reason is None else PolicyOverride(
            operator, _text(override_reason, "the reason for overriding the policy"))
        if override is not None and len(override.reason) > MAX_OVERRIDE_REASON:
            raise QueueError(f"keep the reason for overriding the policy under "
                             f"{MAX_OVERRIDE_REASON} characters; it goes with the refund")
        record: dict[str, Any] = {"arguments": args, "by": operator, "at": self.clock.now(),
                                  "override": override.reason if override else None}
        with self._transaction() as conn:  # one approval at a time, whichever console
            self._hold(conn, item, operator,
                       "pending_status = 'approving', pending_result = ?, approving_until = ?",
                       (json.dumps(record, default=str),
                        self.clock.now() + self.approval_window_s), undecided=True)
        self._changed(escalation_id)
        try:
            result = await self._act(pending.tool, args, item.request_id,
                                     item.request.customer_id, override)
        except ToolError as exc:  # refused: nothing was done
            self._end_approval(escalation_id, "failed", record | {"error": str(exc)})
            raise QueueError(f"{pending.tool} was not done: {exc}") from exc
        except BaseException:  # a bug or a cancellation: the shop's record says what happened
            self._settle(self._load(escalation_id), interrupted=True)
            raise
        if result.get("replayed") and result.get("as_asked") is False:
            # This request did that write before, otherwise (the agent refunded $1 where
            # $49.99 is approved now): nothing more was done, and the record says so.
            error = (f"this request already did {pending.tool} there, otherwise: "
                     f"{_done_text(result)}; nothing more was done")
            self._end_approval(escalation_id, "failed", record | {"error": error,
                                                                   "result": result})
            raise QueueError(f"{pending.tool} was not done: {error}")
        self._end_approval(escalation_id, "approved", record | {"result": result})
        log.info("escalation %d: %s approved by %s%s", escalation_id, pending.tool, operator,
                 " over the policy" if override else "")
        return result

    def _parsed(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the write will read them: what is recorded and compared is
        what runs (12345.0 and "12345" are one order)."""
        if self._parse is None:
            return dict(arguments)
        try:
            return self._parse(tool, arguments)
        except ToolError as exc:
            raise QueueError(f"{tool} was not done: {exc}") from None

    def _approvable(self, item: Escalation) -> PendingAction:
        pending = item.pending_action
        if pending is None:
            raise QueueError(f"escalation {item.id} has no action waiting for approval")
        if item.request.customer_id is None:
            raise QueueError(f"escalation {item.id}'s request has no customer: approving would "
                             f"act on records nobody was shown to own; ask who is writing")
        if item.pending_status in (PendingStatus.DENIED, PendingStatus.APPROVING):
            raise QueueError(_decided(item))
        return pending

    def _end_approval(self, escalation_id: int, status: str, record: dict[str, Any]) -> None:
        # Recorded whatever the lease says now. A write that happened is recorded as done
        # even over a "failed" or "denied" another console wrote while it ran (a suspended
        # or stalled process outliving its window): the shop's record is the truth.
        was = "'approving', 'failed', 'denied'" if status == "approved" else "'approving'"
        with self._transaction() as conn:
            conn.execute("UPDATE escalations SET pending_status = ?, pending_result = ?,"
                         " approving_until = NULL WHERE id = ?"
                         f" AND pending_status IN ({was})",
                         (status, json.dumps(record, default=str), escalation_id))
        self._changed(escalation_id)

    def _settle(self, item: Escalation, *, interrupted: bool = False) -> Escalation:
        """An approval cut short (a crash between the write and its record) reads as
        what the shop says happened: done, with what it did, or failed, with nothing
        done. One still inside its window may be running in another process: left
        alone, unless this process knows its own run was `interrupted`. One taken for
        interrupted (failed, or denied after) is checked again: a write landing late
        still makes it done."""
        pending, status = item.pending_action, item.pending_status
        if pending is None or status is None:
            return item
        attempt = item.pending_result or {}
        if status is PendingStatus.DENIED:
            attempt = attempt.get("attempt") or {}
        if status is not PendingStatus.APPROVING and not attempt.get("interrupted"):
            return item
        args = attempt.get("arguments") or pending.arguments
        done = (self._recorded(pending.tool, args, item.request_id)
                if self._recorded is not None else None)
        if done is not None:
            self._end_approval(item.id, "approved", attempt | {
                "result": done, "recovered": True, "interrupted": False})
            log.warning("escalation %d: an interrupted approval (%s) had written; recorded "
                        "as done", item.id, status)
        elif status is PendingStatus.APPROVING and (
                interrupted or (item.approving_until or 0.0) <= self.clock.now()):
            self._end_approval(item.id, "failed", attempt | {
                "error": "the approval was interrupted before the write: nothing was done",
                "interrupted": True})
        else:
            return item
        return self._load(item.id)

    def recover(self) -> int:
        """Settles every approval a crash cut short (at start); returns how many."""
        rows = self._rows(_SELECT + "WHERE e.pending_status = 'approving'",
                          {"now": self.clock.now()})
        settled = [self._settle(_escalation(row)) for row in rows]
        return sum(1 for item in settled if item.pending_status is not PendingStatus.APPROVING)

    async def deny(self, escalation_id: int, operator: str, reason: str) -> Escalation:
        """Refuses the pending write; the item stays claimed for a reply."""
        reason = _text(reason, "the reason for denying")
        item = self._settle(self._claimed(escalation_id, operator))
        if item.pending_action is None:
            raise QueueError(f"escalation {escalation_id} has no action waiting for approval")
        record: dict[str, Any] = {"reason": reason, "by": operator, "at": self.clock.now()}
        if (item.pending_result or {}).get("interrupted"):
            record["attempt"] = item.pending_result  # its write may still show up
        with self._transaction() as conn:
            self._hold(conn, item, operator, "pending_status = 'denied', pending_result = ?",
                       (json.dumps(record, default=str),), undecided=True)
        self._changed(escalation_id)
        return self._load(escalation_id)

    @staticmethod
    def _undecided(item: Escalation) -> None:
        if item.pending_action is None or item.pending_status is None:
            return
        if item.pending_status.undecided:
            raise QueueError(f"approve or deny the pending {item.pending_action.tool} "
                             f"of escalation {item.id} first")
        if item.pending_status is PendingStatus.APPROVING:
            raise QueueError(_decided(item))

    # -- ending an item ------------------------------------------------------

    async def reply(self, escalation_id: int, operator: str, text: str, *,
                    intent: str | None = None) -> Escalation:
        """Answers the customer: the outcome becomes the operator's (route 'human'),
        the item is resolved, and the pair is kept as a labelled example."""
        text = _text(text, "a reply")
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
        note = _text(note, "a note for the agent")
        item = self._settle(self._claimed(escalation_id, operator))
        if item.pending_status is PendingStatus.APPROVING:
            raise QueueError(_decided(item))
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


def _decided(item: Escalation) -> str:
    """Why the pending write of `item` can't be decided (again) now."""
    tool = item.pending_action.tool if item.pending_action else "action"
    result = item.pending_result or {}
    if item.pending_status is PendingStatus.APPROVING:
        return (f"the {tool} of escalation {item.id} is being approved now by "
                f"{result.get('by', 'another operator')}: its result shows in a moment")
    if item.pending_status is PendingStatus.DENIED:
        return f"the {tool} of escalation {item.id} was denied"
    return f"the {tool} of escalation {item.id} was already approved and done"


def _done_text(result: dict[str, Any]) -> str:
    shown = {k: v for k, v in result.items() if k not in ("replayed", "as_asked")}
    return json.dumps(shown, default=str)


def tool_parse(tools: ToolRegistry) -> Parse:
    """A `parse` for the queue: a write tool's arguments read by its schema."""
    def parse(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        spec = tools.get(tool)  # UnknownToolError is a ToolError
        if not spec.writes:
            raise ToolError(f"{tool} is not a write action")
        return spec.parse(json.dumps(arguments, default=str))

    return parse


def tool_act(tools: ToolRegistry, shop: Shop, *, timeout_s: float) -> Act:
    """An `act` for the queue: a write tool of `tools`, its arguments checked against
    the tool's schema, run under the original request's id (its idempotency key) and
    held to the tool's policy, or above it with the operator's override."""
    from agentcore.tools import ToolContext

    async def act(tool: str, arguments: dict[str, Any], request_id: str,
                  customer_id: int | None, override: PolicyOverride | None) -> dict[str, Any]:
        spec = tools.get(tool)  # UnknownToolError is a ToolError
        if not spec.writes:
            raise ToolError(f"{tool} is not a write action")
        args = spec.parse(json.dumps(arguments, default=str))
        context = ToolContext(shop, request_id, customer_id, override=override)
        return await tools.call(tool, args, context, timeout_s)

    return act
