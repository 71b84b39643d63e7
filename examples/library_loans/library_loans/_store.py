"""The library's own data: members, books and loans in a SQLite file of its own.

This is the domain's adapter, and the only code that speaks SQL to that file.
Reads are primary-key lookups, quick enough for the event loop. Each write runs
in one IMMEDIATE transaction that reads the loan, checks the policy
(`_policy`), acts, records an idempotency row keyed by (request, tool, loan)
and a change row for other processes' caches: a retry, a second approval or a
concurrent request from another process acts at most once and never past the
policy, since SQLite's write lock serialises them all.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from agentcore.errors import StorageError, ToolError, WriteRefused
from agentcore.models import PolicyOverride
from library_loans import _policy

log = logging.getLogger("library_loans.store")

AS_OF = date(2026, 3, 2)  # the seed data's today: answers don't change with the calendar

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, card TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS books (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, author TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS loans (
    id INTEGER PRIMARY KEY, member_id INTEGER NOT NULL REFERENCES members(id),
    book_id INTEGER NOT NULL REFERENCES books(id), borrowed_on TEXT NOT NULL,
    due_on TEXT NOT NULL, returned_on TEXT, renewals_left INTEGER NOT NULL,
    fine_cents INTEGER NOT NULL CHECK (fine_cents >= 0));
CREATE TABLE IF NOT EXISTS waivers (
    id INTEGER PRIMARY KEY, loan_id INTEGER NOT NULL REFERENCES loans(id),
    amount_cents INTEGER NOT NULL, request_id TEXT NOT NULL, override_by TEXT,
    created_on TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS actions (
    key TEXT PRIMARY KEY, request_id TEXT NOT NULL, tool TEXT NOT NULL,
    arguments TEXT NOT NULL, result TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS actions_by_request ON actions(request_id);
CREATE TABLE IF NOT EXISTS changes (id INTEGER PRIMARY KEY, tags TEXT NOT NULL);
"""

_LOAN_SQL = """
SELECT l.id, l.member_id, b.title, b.author, l.borrowed_on, l.due_on, l.returned_on,
       l.renewals_left, l.fine_cents,
       COALESCE((SELECT SUM(amount_cents) FROM waivers w WHERE w.loan_id = l.id), 0)
           AS waived_cents
FROM loans l JOIN books b ON b.id = l.book_id
"""

_BOOKS = [("The Left Hand of Darkness", "Ursula K. Le Guin"), ("Middlemarch", "George Eliot"),
          ("A Brief History of Time", "Stephen Hawking"), ("Beloved", "Toni Morrison"),
          ("The Name of the Rose", "Umberto Eco"), ("Dune", "Frank Herbert"),
          ("The Structure of Scientific Revolutions", "Thomas Kuhn"),
          ("Things Fall Apart", "Chinua Achebe"), ("Gödel, Escher, Bach", "Douglas Hofstadter"),
          ("The Remains of the Day", "Kazuo Ishiguro"), ("Persuasion", "Jane Austen"),
          ("The Master and Margarita", "Mikhail Bulgakov")]
_NAMES = ["Ada Byron", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov",
          "Donald Knuth", "Frances Allen", "John Backus", "Margaret Hamilton", "Niklaus Wirth"]
# Due dates relative to the seed's today: on time, a little late, too late to renew.
_DUE_OFFSETS = [10, 3, 0, -2, -5, -10, -20, 7]
FINE_CENTS_PER_DAY = 30
FIRST_LOAN = 1001
LOANS = 40


def _seed(conn: sqlite3.Connection) -> None:
    """Deterministic demo data: the same file on every machine."""
    rng = random.Random(1872)
    conn.executemany("INSERT INTO members VALUES (?, ?, ?, ?)",
                     [(i, name, f"{name.split()[0].lower()}@example-library.test",
                       f"LC-{1000 + 37 * i}") for i, name in enumerate(_NAMES, 1)])
    conn.executemany("INSERT INTO books VALUES (?, ?, ?)",
                     [(i, t, a) for i, (t, a) in enumerate(_BOOKS, 1)])
    rows = []
    for n in range(LOANS):
        due = AS_OF + timedelta(days=_DUE_OFFSETS[n % len(_DUE_OFFSETS)])
        late = max(0, (AS_OF - due).days)
        returned = (AS_OF - timedelta(days=1)).isoformat() if n % 9 == 8 else None
        rows.append((FIRST_LOAN + n, 1 + n % len(_NAMES), rng.randint(1, len(_BOOKS)),
                     (due - timedelta(days=21)).isoformat(), due.isoformat(), returned,
                     (2, 1, 0)[n % 3], late * FINE_CENTS_PER_DAY))
    conn.executemany("INSERT INTO loans VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("INSERT INTO meta VALUES ('as_of', ?)", (AS_OF.isoformat(),))


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LoanStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            # A second process may hold the write lock for the microseconds of a waiver.
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            self.conn = conn
            with self._transaction():  # two processes starting at once seed it once
                for statement in _SCHEMA.split(";"):  # executescript would commit first
                    if statement.strip():
                        conn.execute(statement)
                if conn.execute("SELECT 1 FROM meta WHERE key = 'as_of'").fetchone() is None:
                    _seed(conn)
                    log.info("seeded the library at %s", path)
            self.today = date.fromisoformat(
                conn.execute("SELECT value FROM meta WHERE key = 'as_of'").fetchone()[0])
            self._data_version: int | None = None  # `changed` is True at first
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the library database {path}: {exc}") from exc
        self._listeners: list[Callable[[list[str]], None]] = []
        # One connection, one transaction at a time: threads of one process take turns
        # here, other processes at SQLite's write lock.
        self._write_lock = threading.Lock()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- reads ---------------------------------------------------------------

    def loan(self, loan_id: int) -> dict[str, Any] | None:
        rows = _rows(self.conn.execute(_LOAN_SQL + " WHERE l.id = ?", (loan_id,)))
        return rows[0] if rows else None

    def loans_of(self, member_id: int) -> list[dict[str, Any]]:
        return _rows(self.conn.execute(
            _LOAN_SQL + " WHERE l.member_id = ? ORDER BY l.returned_on IS NOT NULL, l.due_on",
            (member_id,)))

    def member(self, member_id: int) -> dict[str, Any] | None:
        rows = _rows(self.conn.execute("SELECT * FROM members WHERE id = ?", (member_id,)))
        return rows[0] if rows else None

    def waiver_limits(self, loan_id: int) -> _policy.WaiverLimits | None:
        loan = self.loan(loan_id)
        if loan is None:
            return None
        return _policy.WaiverLimits(loan_id, int(loan["fine_cents"]), int(loan["waived_cents"]))

    def action(self, request_id: str, tool: str, loan_id: int) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT result FROM actions WHERE key = ?",
                                (_key(request_id, tool, loan_id),)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def actions_for(self, request_id: str) -> list[dict[str, Any]]:
        return [{"tool": tool, "result": json.loads(result)} for tool, result in
                self.conn.execute("SELECT tool, result FROM actions WHERE request_id = ?"
                                  " ORDER BY created_at, rowid", (request_id,))]

    # -- changes -------------------------------------------------------------

    def watch(self, listener: Callable[[list[str]], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    # The durable change log the answer cache follows (agentcore.domain.ChangeSource):
    # one row per committed write, whichever connection or process made it.
    name = "library"

    def changed(self) -> bool:
        """Whether anything may have been committed since the last call: `data_version`
        moves only when another connection commits, one pragma when nothing did."""
        version = int(self.conn.execute("PRAGMA data_version").fetchone()[0])
        changed, self._data_version = version != self._data_version, version
        return changed

    def head(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM changes").fetchone()[0])

    def since(self, seq: int, limit: int) -> list[tuple[int, str]]:
        """(change id, tag) of the changes after `seq`, oldest first (about `limit`)."""
        rows = self.conn.execute("SELECT id, tags FROM changes WHERE id > ? ORDER BY id"
                                 " LIMIT ?", (seq, limit)).fetchall()
        return [(int(i), str(tag)) for i, tags in rows for tag in json.loads(tags)]

    # -- idempotent writes ---------------------------------------------------

    def _write(self, request_id: str, tool: str, loan_id: int, arguments: dict[str, Any],
               act: Callable[[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
        key = _key(request_id, tool, loan_id)
        asked = json.dumps(arguments, sort_keys=True)
        try:
            with self._write_lock, self._transaction() as conn:
                row = conn.execute("SELECT result, arguments FROM actions WHERE key = ?",
                                   (key,)).fetchone()
                if row is not None:
                    # Done once, whatever is asked again; `as_asked` tells a retry from
                    # another write under the same request (the queue must not take a
                    # waiver of $1 for the $5 approved now).
                    done: dict[str, Any] = json.loads(row[0])
                    return done | {"replayed": True, "as_asked": row[1] == asked}
                loan = self.loan(loan_id)  # read inside the write lock: no waiver slips in
                if loan is None:
                    raise ToolError(f"loan {loan_id} does not exist")
                result = act(loan)
                conn.execute("INSERT INTO actions VALUES (?, ?, ?, ?, ?, ?)",
                             (key, request_id, tool, asked, json.dumps(result), _now()))
                tags = [f"loan:{loan_id}", f"member:{loan['member_id']}"]
                conn.execute("INSERT INTO changes (tags) VALUES (?)", (json.dumps(tags),))
        except sqlite3.Error as exc:
            raise StorageError(f"{tool} failed in the library database: {exc}") from exc
        # Not marked seen: another process's change may sit below ours; the next poll
        # returns ours again with it, and dropping a tag twice costs nothing.
        for listener in list(self._listeners):
            try:  # committed: a listener's failure must not read as the write's
                listener(tags)
            except Exception:
                log.exception("change listener %r failed", listener)
        return result

    def renew(self, request_id: str, loan_id: int, *,
              override: PolicyOverride | None = None) -> dict[str, Any]:
        def act(loan: dict[str, Any]) -> dict[str, Any]:
            refused = _policy.renewal_refusal(loan, self.today, override=override is not None)
            if refused:
                raise WriteRefused(refused, _renewal_limits(loan, self.today))
            due = _policy.renewed_due(loan["due_on"], self.today)
            left = max(0, int(loan["renewals_left"]) - 1)
            self.conn.execute("UPDATE loans SET due_on = ?, renewals_left = ? WHERE id = ?",
                              (due, left, loan_id))
            result = {"loan_id": loan_id, "status": "renewed", "due_on": due,
                      "renewals_left": left}
            if override is not None:
                result["override"] = {"by": override.operator, "reason": override.reason}
            return result

        return self._write(request_id, "renew_loan", loan_id, {"loan_id": loan_id}, act)

    def waive(self, request_id: str, loan_id: int, amount_cents: int, *,
              override: PolicyOverride | None = None) -> dict[str, Any]:
        def act(loan: dict[str, Any]) -> dict[str, Any]:
            limits = _policy.WaiverLimits(loan_id, int(loan["fine_cents"]),
                                          int(loan["waived_cents"]))
            refused = _policy.waiver_refusal(limits, amount_cents,
                                             override=override is not None)
            if refused:
                raise WriteRefused(refused, limits.as_dict())
            self.conn.execute("UPDATE loans SET fine_cents = fine_cents - ? WHERE id = ?",
                              (amount_cents, loan_id))
            self.conn.execute(
                "INSERT INTO waivers (loan_id, amount_cents, request_id, override_by,"
                " created_on) VALUES (?, ?, ?, ?, ?)",
                (loan_id, amount_cents, request_id,
                 override.operator if override else None, self.today.isoformat()))
            result: dict[str, Any] = {
                "loan_id": loan_id, "status": "waived", "waived_cents": amount_cents,
                "fine_left_cents": limits.fine_cents - amount_cents}
            if override is not None:
                result["override"] = {"by": override.operator, "reason": override.reason}
            return result

        return self._write(request_id, "waive_fine", loan_id,
                           {"loan_id": loan_id, "amount_cents": amount_cents}, act)


def _key(request_id: str, tool: str, loan_id: int) -> str:
    return f"{request_id}:{tool}:loan:{loan_id}"


def _renewal_limits(loan: dict[str, Any], today: date) -> dict[str, Any]:
    return {"loan_id": loan["id"], "renewals_left": loan["renewals_left"],
            "overdue_days": _policy.overdue_days(loan["due_on"], today),
            "max_overdue_days": _policy.MAX_OVERDUE_DAYS}
