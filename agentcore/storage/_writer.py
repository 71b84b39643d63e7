"""The outcome writer: a thread with its own connection that commits outcomes and
their spans in batches, so neither their encoding nor a commit runs on the event
loop (the GUI's, in the console). The batching, retrying and flushing are the same
for every backend; what a commit is, on which connection, is its `Sink`
(`SQLiteSink` here, `_pg_requests.PostgresSink`).

An outcome reaches the disk a few milliseconds after it is returned; if the
process dies in between, its request is still 'accepted' on disk (accepting is
synchronous) and `resume` re-runs it, and write tools are idempotent, so nothing
acts twice. Every read and write through the repositories calls `flush` first,
so it sees every outcome already returned.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from agentcore.errors import StorageError
from agentcore.models import Outcome
from agentcore.storage._connection import connect, transaction

log = logging.getLogger("agentcore.storage")

Statement = tuple[str, Any]  # SQL and its parameters; a list of them means executemany
Encode = Callable[[Outcome], list[Statement]]
MAX_BATCH = 256  # outcomes per transaction: a backlog drains in few commits
RETRY_S = 0.25  # after a failed commit (locked, disk full): try again this much later


class Sink(Protocol):
    """Where the writer commits: one transaction per call."""

    def commit(self, batch: Sequence[Outcome]) -> None: ...

    def retryable(self, exc: Exception) -> bool:
        """A failure a later try may not meet (locked, disk full, server away), as
        against one of this outcome's own (a value the database refuses)."""
        ...

    def close(self) -> None: ...


def run_statements(conn: sqlite3.Connection, statements: Sequence[Statement]) -> None:
    """What recording outcomes writes (`Encode`), in the caller's transaction."""
    for sql, params in statements:
        if isinstance(params, list):
            conn.executemany(sql, params)
        else:
            conn.execute(sql, params)


class SQLiteSink:
    """Commits on a connection of the writer thread's own to the engine database."""

    def __init__(self, path: Path, encode: Encode) -> None:
        self.conn = connect(path)
        self._encode = encode

    def commit(self, batch: Sequence[Outcome]) -> None:
        statements = [s for outcome in batch for s in self._encode(outcome)]
        with transaction(self.conn):
            run_statements(self.conn, statements)

    def retryable(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.OperationalError)

    def close(self) -> None:
        self.conn.close()


class OutcomeWriter(threading.Thread):
    def __init__(self, sink: Sink) -> None:
        super().__init__(name="agentcore-outcome-writer", daemon=True)
        self._sink = sink
        self._cond = threading.Condition()
        self._queue: list[Outcome] = []
        self._submitted = 0
        self._written = 0  # submitted outcomes committed, or given up on
        self._error: StorageError | None = None
        self._stopping = False

    def submit(self, outcome: Outcome) -> None:
        """Queues an outcome; StorageError when the disk refuses writes now (the
        outcome is still queued, and retried)."""
        with self._cond:
            self._queue.append(outcome)
            self._submitted += 1
            self._cond.notify_all()
            error = self._error
        if error is not None:
            raise error

    def flush(self) -> None:
        """Returns once every outcome submitted so far is on disk; StorageError if the
        writer cannot write them now."""
        if threading.current_thread() is self:
            return
        with self._cond:
            target = self._submitted
            while self._written < target:
                if self._error is not None or not self.is_alive():
                    raise self._error or StorageError("the outcome writer has stopped")
                self._cond.wait(0.05)

    @property
    def problem(self) -> str | None:
        """Why outcomes are not reaching the disk now (a failing commit being retried,
        or the thread gone); None while it writes."""
        with self._cond:
            error = self._error
        if error is not None:
            return str(error)
        return None if self.is_alive() else "the outcome writer has stopped"

    def stop(self) -> None:
        """Writes what is queued, then ends the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self.join()
        self._sink.close()

    def run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._queue[:MAX_BATCH]
            done = self._write(batch)
            with self._cond:
                del self._queue[:done]
                self._written += done
                self._cond.notify_all()
            if done < len(batch):
                with self._cond:
                    if self._stopping and self._error is not None:
                        log.error("%d outcomes not written at shutdown: %s; their requests "
                                  "stay accepted for resume", len(self._queue), self._error)
                        return
                    self._cond.wait(RETRY_S)

    def _write(self, batch: Sequence[Outcome]) -> int:
        """Commits the batch; how many of its first outcomes are done with."""
        try:
            self._sink.commit(batch)
        except Exception as exc:  # the database's, or an outcome it cannot bind
            if len(batch) == 1:
                return self._failed(batch[0], exc)
            return self._write_each(batch)
        self._clear_error()
        return len(batch)

    def _write_each(self, batch: Sequence[Outcome]) -> int:
        """One outcome at a time, so one that can never be written doesn't hold up
        the others (which would otherwise wait for ever behind it)."""
        for i, outcome in enumerate(batch):
            try:
                self._sink.commit([outcome])
            except Exception as exc:  # this outcome only: the rest go on
                if not self._failed(outcome, exc):
                    return i
        self._clear_error()
        return len(batch)

    def _clear_error(self) -> None:
        with self._cond:
            self._error = None

    def _failed(self, outcome: Outcome, exc: Exception) -> int:
        error = StorageError(f"writing outcome {outcome.request_id} failed: {exc}")
        if self._sink.retryable(exc):  # locked, disk full, server away: retried
            with self._cond:
                self._error = error  # told to whoever submits or flushes meanwhile
            log.warning("%s; retrying", error)
            return 0
        # Nothing a retry changes (a constraint, a value it can't bind): the request
        # stays accepted, for resume to re-run; the writer goes on with the next ones.
        log.error("%s; given up, the request stays accepted", error)
        return 1
