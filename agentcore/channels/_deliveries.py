"""Where the channel hands what it must post: one call, `enqueue(kind, target,
payload, key)`, delivered later by whatever runs deliveries, each key at most once.

The intake's durable outbox (agentcore.intake) is the real one: on disk, retried
with backoff across restarts. `InProcessDeliveries` is the stand-in for an embedder
without it: the same promise within one process (once per key, retried until
Chatwoot takes it), nothing across a crash.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from agentcore.errors import ChatwootError

log = logging.getLogger("agentcore.channels.chatwoot")

Deliver = Callable[[str, dict[str, Any]], Awaitable[None]]


class Deliveries(Protocol):
    def enqueue(self, kind: str, target: str, payload: dict[str, Any],
                key: str) -> object: ...  # may return an awaitable (awaited)


class InProcessDeliveries:
    def __init__(self, deliver: Deliver, *, first_backoff_s: float = 0.2,
                 max_backoff_s: float = 30.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._deliver = deliver
        self._first = first_backoff_s
        self._max = max_backoff_s
        self._sleep = sleep
        self._keys: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def enqueue(self, kind: str, target: str, payload: dict[str, Any], key: str) -> bool:
        """False when `key` was enqueued before: nothing is delivered twice."""
        if key in self._keys:
            return False
        self._keys.add(key)
        task = asyncio.get_running_loop().create_task(self._run(kind, target, payload, key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(self, kind: str, target: str, payload: dict[str, Any], key: str) -> None:
        backoff = self._first
        attempt = 1
        while True:
            try:
                await self._deliver(kind, payload)
                log.info("delivered %s to %s (attempt %d)", kind, target, attempt)
                return
            except ChatwootError as exc:
                if not exc.retryable:  # a 401, 403, 404, 422: trying again can't help
                    log.error("gave up delivering %s (%s) to conversation %s, refused for "
                              "good: %s", kind, key, payload.get("conversation_id"), exc)
                    return
                log.warning("delivering %s (%s) failed, again in %.1f s: %s", kind, key,
                            backoff, exc)
            await self._sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, self._max)
            attempt += 1

    async def drain(self) -> None:
        """Waits for every delivery enqueued so far (tests, a graceful stop)."""
        while self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*tuple(self._tasks), return_exceptions=True)
