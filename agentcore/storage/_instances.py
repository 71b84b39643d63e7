"""Which engine processes on one database are alive (SQLite's migration 9, PostgreSQL's 4).

Several `agentcore serve` instances (and consoles) share a PostgreSQL database. A
request accepted and not finished is either being answered right now by the process
that accepted it, or left by one that died; only the second may be run again. So each
open store is an *instance*: a row of `instances` (a random id, its host, its pid)
whose `last_seen` its heartbeat thread moves every HEARTBEAT_S, and `stopped_at` set
by a graceful close. Each request (`requests.owner`) and each intake claim
(`intake_requests.owner`) names the instance that took it.

An owner is dead, and its unfinished work anyone's to take over, when:
- it stopped gracefully (`stopped_at`): at once;
- it ran on this machine (same boot, same pid namespace), under another pid, and that
  pid is gone: at once, so a service killed and started again resumes its own
  leftovers at its start without waiting out any grace (what tests/e2e kill -9 does);
- its `last_seen` has not changed for GRACE_S *as this instance watched it*, while
  this instance's own heartbeat kept succeeding. The time is this process's monotonic
  clock, never two machines' wall clocks compared (no clock skew can kill a live
  instance), and a database outage that stops every heartbeat at once restarts the
  watch: after it, nobody is dead by time until GRACE_S more have passed.
The owner NULL (a request of a release before owners were kept) or an id with no row
(pruned after a week) is dead too. Taking a dead owner's request over is one
conditional UPDATE of its owner (`takeable`): of two survivors racing for it, the
database gives it to exactly one.

What this does not fence: an instance cut off from the database (or stalled) for
longer than GRACE_S that comes back still finishing its requests. Its run and the
survivor's then both finish; the outcome row is one (a primary key), the callback one
(the outbox's key), the shop's writes one each (keyed by the request id): the cost is
a second LLM run.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("agentcore.storage")

HEARTBEAT_S = 2.0
GRACE_S = 10.0  # five missed heartbeats
FORGET_S = 7 * 86400.0  # a row not seen for a week is deleted (its work: dead owner's)

INSTANCES = (
    "CREATE TABLE IF NOT EXISTS instances ("
    " id TEXT PRIMARY KEY,"
    " host TEXT NOT NULL,"  # the host name, for an operator
    " machine TEXT,"  # where pids mean the same (boot id and pid namespace); NULL: unknown
    " pid INTEGER NOT NULL,"
    " started_at REAL NOT NULL,"
    " last_seen REAL NOT NULL,"  # the instance's own clock: only ever compared to itself
    " stopped_at REAL)"  # a graceful close
)

# `?` placeholders: PostgreSQL's runner turns them into `%s` (none of these holds a `?`).
_REGISTER = ("INSERT INTO instances (id, host, machine, pid, started_at, last_seen)"
             " VALUES (?, ?, ?, ?, ?, ?)")
_FORGET = "DELETE FROM instances WHERE last_seen < ? AND id <> ?"
_BEAT = "UPDATE instances SET last_seen = ? WHERE id = ? RETURNING id"
_STOP = "UPDATE instances SET stopped_at = ?, last_seen = ? WHERE id = ? RETURNING id"
_ROWS = "SELECT id, machine, pid, last_seen, stopped_at FROM instances"

# (sql, params) -> the rows it returns, committed when it returns: safe from any thread.
Run = Callable[[str, Sequence[object]], list[tuple[Any, ...]]]


def this_machine() -> str | None:
    """What two processes share when their pids mean the same: the kernel's boot id and
    the pid namespace (containers on one kernel have their own). None off Linux: then
    no pid is looked at, only heartbeats."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{boot}/{namespace}"


def pid_alive(pid: int) -> bool:
    """Whether a process of this pid exists (on this machine, POSIX only)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def sqlite_runner(path: Path) -> tuple[Run, Callable[[], None]]:
    """A connection of the instance's own (its heartbeat thread must never write inside
    the event loop's open transaction), serialised by a lock; and its close."""
    from agentcore.storage._connection import connect

    conn = connect(path)
    lock = threading.Lock()

    def run(sql: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        with lock:
            return conn.execute(sql, tuple(params)).fetchall()

    def close() -> None:
        with lock:
            conn.close()

    return run, close


class Instance:
    """This store's instance: registered on open, its heartbeat thread, the watch of the
    others (`dead`), and `stop` on a graceful close."""

    def __init__(self, run: Run, *, heartbeat_s: float = HEARTBEAT_S,
                 grace_s: float = GRACE_S, errors: type[Exception] | tuple[type[Exception],
                                                                        ...] = Exception,
                 ) -> None:
        if grace_s <= heartbeat_s:
            raise ValueError("the grace must outlast a heartbeat")
        self.id = uuid.uuid4().hex
        self.machine = this_machine() if os.name == "posix" else None
        self.heartbeat_s = heartbeat_s
        self.grace_s = grace_s
        self._run = run
        self._errors = errors
        self._lock = threading.Lock()
        self._watch: dict[str, tuple[float, float]] = {}  # id -> (last_seen, since when)
        self._beat_ok = time.monotonic()
        self._stopping = threading.Event()
        now = time.time()
        run(_FORGET, (now - FORGET_S, self.id))
        run(_REGISTER, (self.id, socket.gethostname(), self.machine, os.getpid(), now, now))
        self._thread = threading.Thread(target=self._beat, name="agentcore-heartbeat",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        failing = False
        while not self._stopping.wait(self.heartbeat_s):
            try:
                if not self._run(_BEAT, (time.time(), self.id)):  # forgotten: again
                    now = time.time()
                    self._run(_REGISTER, (self.id, socket.gethostname(), self.machine,
                                          os.getpid(), now, now))
            except self._errors as exc:
                # Cut off from the database: everyone's heartbeat may be failing alike,
                # so what was watched counts for nothing once it is back.
                with self._lock:
                    self._watch.clear()
                if not failing:
                    log.warning("instance heartbeat failed: %s", exc)
                failing = True
                continue
            if failing:
                log.info("instance heartbeat back")
            failing = False
            with self._lock:
                self._beat_ok = time.monotonic()

    def dead(self) -> list[str]:
        """The instances whose unfinished work is now anyone's (see the module's rules)."""
        rows = self._run(_ROWS, ())
        now = time.monotonic()
        me = os.getpid()
        dead: list[str] = []
        with self._lock:
            # Only a watcher whose own heartbeat keeps going judges others by time.
            judging = now - self._beat_ok < self.grace_s
            watch: dict[str, tuple[float, float]] = {}
            for iid, machine, pid, last_seen, stopped_at in rows:
                if iid == self.id:
                    continue
                if stopped_at is not None or (
                        self.machine is not None and machine == self.machine
                        and int(pid) != me and not pid_alive(int(pid))):
                    dead.append(str(iid))
                    continue
                seen, since = self._watch.get(iid, (float(last_seen), now))
                if seen != float(last_seen):
                    since = now
                watch[iid] = (float(last_seen), since)
                if judging and now - since >= self.grace_s:
                    dead.append(str(iid))
            self._watch = watch
        return dead

    def takeable(self) -> tuple[str, tuple[object, ...]]:
        """A condition on `owner` (`?` placeholders) for what this instance may take:
        its own, a dead instance's, an unknown one's or none's."""
        dead = self.dead()
        among = f" OR owner IN ({', '.join('?' * len(dead))})" if dead else ""
        return ("(owner IS NULL OR owner = ?" + among +
                " OR owner NOT IN (SELECT id FROM instances))", (self.id, *dead))

    def stop(self) -> None:
        """A graceful close: the heartbeat ends and the row says so, so what this
        instance leaves unfinished is taken over at once."""
        self._stopping.set()
        self._thread.join()
        now = time.time()
        try:
            self._run(_STOP, (now, now, self.id))
        except self._errors as exc:  # then the others wait out the grace
            log.warning("marking this instance stopped failed: %s", exc)
