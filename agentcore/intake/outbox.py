"""A durable outbox: deliveries owed to other servers, retried until they take them.

`enqueue(kind, target, payload, key)` commits a delivery (its id stable per key)
before anything is sent; a task on the running loop hands each due one to the
deliverer registered for its kind and marks it delivered only after the receiver
said 2xx. A crash between the send and the mark sends it again after the restart,
with the same delivery id: delivery is at least once, and the receiver dedupes by
the id (X-Agent-Delivery for webhooks). A failure waits `base * 2**attempts`,
capped, and is retried until the delivery has been owed `give_up_after_s`. Each
due delivery is leased to the process sending it (`LEASE_S`), so two intakes on one
database send it once, not each.

A delivery is dead, never sent again by itself, when its deliverer raises an
exception whose `retryable` is False (a receiver's permanent refusal: `Undeliverable`,
or the Chatwoot channel's `ChatwootError`), or when it is still failing after
`give_up_after_s`. Dead ones stay on disk with their reason, are counted in
/metrics, and are listed and revived by `agentcore outbox` (same id: the receiver
still dedupes). Nothing is dropped silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from agentcore.clock import Clock
from agentcore.storage import Delivery, OutboxRepository

log = logging.getLogger("agentcore.intake.outbox")

# (target, payload, delivery id) -> None; raises when the receiver did not take it.
Deliverer = Callable[[str, dict[str, Any], str], Awaitable[None]]

MAX_PARALLEL = 8  # sends at once: a slow receiver must not hold up the others
IDLE_POLL_S = 1.0  # the longest sleep with nothing due (enqueues from elsewhere wake it)
MIN_POLL_S = 0.02  # the shortest: what is due now but already being sent must not spin
GIVE_UP_AFTER_S = 3 * 86400.0
# A send is cut off after this (a retryable failure), and a delivery handed out for
# sending is no other process's for a little longer (the lease `due` takes): two
# intakes on one database never send one delivery at once, and after a kill -9 what
# was in flight is due again within a lease. A webhook takes one 10 s call at most;
# Chatwoot's hand-back takes up to three, cut off here on a slow Chatwoot and retried.
SEND_TIMEOUT_S = 15.0
LEASE_S = SEND_TIMEOUT_S + 5.0


def retryable(exc: BaseException) -> bool:
    """Whether trying `exc`'s delivery again could help: unless the exception says not
    (duck-typed: any deliverer's error with `retryable = False`)."""
    return getattr(exc, "retryable", True) is not False


class Outbox:
    def __init__(self, store: OutboxRepository, clock: Clock, *, base_s: float = 1.0,
                 cap_s: float = 300.0, give_up_after_s: float = GIVE_UP_AFTER_S) -> None:
        self._store = store
        self._clock = clock
        self.base_s = base_s
        self.cap_s = cap_s
        self.give_up_after_s = give_up_after_s
        self._deliverers: dict[str, Deliverer] = {}
        self._wake = asyncio.Event()
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._runner: asyncio.Task[None] | None = None
        self.delivered = 0  # since start, for the status bar and the bench
        self.dead = 0  # since start: given up on

    def register(self, kind: str, deliverer: Deliverer) -> None:
        self._deliverers[kind] = deliverer

    def enqueue(self, kind: str, target: str, payload: dict[str, Any], key: str) -> str:
        """The delivery id of `key` (the first enqueue's, when it was queued before)."""
        delivery_id, _ = self._store.enqueue(kind, target, payload, key, self._clock.now())
        self._wake.set()
        return delivery_id

    @property
    def pending(self) -> int:
        return self._store.pending()

    def counts(self) -> dict[str, int]:
        """{"pending": owed, still tried; "dead": given up on} (on disk, any process's)."""
        return self._store.counts()

    def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.get_running_loop().create_task(self._run(),
                                                                  name="outbox")

    async def close(self, grace_s: float = 0.0) -> None:
        """Stops taking due deliveries; those being sent get `grace_s` to finish (what is
        cut short stays owed on disk, sent after the next start)."""
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        sending = list(self._sending.values())
        if sending:
            _, late = await asyncio.wait(sending, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            free = MAX_PARALLEL - len(self._sending)
            if free > 0:
                for delivery in self._store.due(self._clock.now(), free,
                                                frozenset(self._sending), lease_s=LEASE_S):
                    task = asyncio.get_running_loop().create_task(self._send(delivery))
                    self._sending[delivery.id] = task
                    task.add_done_callback(partial(self._done, delivery.id))
            nxt = self._store.next_due()  # in-flight ones too: their end wakes us anyway
            wait = IDLE_POLL_S
            if free > 0 and nxt is not None:
                wait = min(IDLE_POLL_S, max(MIN_POLL_S, nxt - self._clock.now()))
            # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel that
            # arrives as the wake is set (a send just ended), and close() waited forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    def _done(self, delivery_id: str, _task: object) -> None:
        self._sending.pop(delivery_id, None)
        self._wake.set()

    async def _send(self, delivery: Delivery) -> None:
        deliverer = self._deliverers.get(delivery.kind)
        try:
            if deliverer is None:
                raise LookupError(f"no deliverer for {delivery.kind!r} in this process")
            await asyncio.wait_for(deliverer(delivery.target, delivery.payload, delivery.id),
                                   SEND_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # retried unless it says not: the receiver is someone else's
            error = f"{type(exc).__name__}: {exc}"
            now = self._clock.now()
            owed_s = now - delivery.owed_since
            if not retryable(exc) or owed_s >= self.give_up_after_s:
                reason = error if not retryable(exc) else (
                    f"gave up after {delivery.attempts + 1} attempts over {owed_s:.0f} s: "
                    f"{error}")
                log.error("delivery %s (%s to %s) is dead, not sent again unless retried "
                          "(agentcore outbox retry %s): %s", delivery.id, delivery.kind,
                          delivery.target, delivery.id, reason)
                self._store.dead(delivery.id, reason, now)
                self.dead += 1
                return
            delay = min(self.cap_s, self.base_s * 2 ** delivery.attempts)
            delay *= random.uniform(0.8, 1.0)  # receivers back up together: spread retries
            log.warning("delivery %s (%s to %s) failed, attempt %d, next in %.1f s: %s",
                        delivery.id, delivery.kind, delivery.target, delivery.attempts + 1,
                        delay, exc)
            self._store.failed(delivery.id, error, now + delay)
            return
        self._store.delivered(delivery.id, self._clock.now())
        self.delivered += 1
