"""A process of its own claiming escalations against others (test_escalation_claims):
each opens its own store, as another station on another machine would."""

from __future__ import annotations

import threading
from typing import Any

from tests.agentcore.storage.queues import open_queue


def claim_each(kind: str, location: str, password: str | None, ids: list[int],
               operator: str, threads: int, now: float, until: float, start: Any,
               results: Any) -> None:
    """Claims every item of `ids` from `threads` threads at once (each its own operator,
    `operator`-t<n>), once every process is ready; puts (operator, won ids) per thread."""
    store = open_queue(kind, location, password)
    try:
        won: dict[str, list[int]] = {f"{operator}-t{n}": [] for n in range(threads)}
        ready = threading.Barrier(threads)

        def run(name: str) -> None:
            ready.wait()
            for escalation_id in ids:
                if store.escalations.claim(escalation_id, name, now, until):
                    won[name].append(escalation_id)

        start.wait()  # every process has its store open: the claims race from here
        workers = [threading.Thread(target=run, args=(name,)) for name in won]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        for name, ids_won in won.items():
            results.put((name, ids_won))
    finally:
        store.close()
