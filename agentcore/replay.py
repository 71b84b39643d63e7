"""Replays a JSONL corpus through an engine at a set rate and concurrency."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agentcore.engine import Engine
from agentcore.metrics import Metrics
from agentcore.models import Outcome, Request

log = logging.getLogger("agentcore.replay")


def load_corpus(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
    return rows


def to_request(row: dict[str, Any]) -> Request:
    return Request(text=row.get("text", ""), customer_id=row.get("customer_id"),
                   channel=row.get("channel", "chat"))


async def replay(engine: Engine, rows: Iterable[dict[str, Any]], *, rate: float = 0.0,
                 concurrency: int = 8, progress: bool = True) -> tuple[list[Outcome], Metrics]:
    """Submits every row; `rate` requests per second (0: as fast as possible)."""
    rows = list(rows)
    metrics = Metrics()
    unsubscribe = engine.subscribe(metrics)
    gate = asyncio.Semaphore(max(1, concurrency))
    loop = asyncio.get_running_loop()
    start = loop.time()
    bar = tqdm(total=len(rows), unit="req", disable=not progress, dynamic_ncols=True)
    outcomes: list[Outcome | None] = [None] * len(rows)

    async def one(index: int, row: dict[str, Any]) -> None:
        if rate > 0:
            await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
        async with gate:
            outcomes[index] = await engine.submit(to_request(row))
        bar.update()

    try:
        # Requests are started in order; the semaphore bounds what is in flight.
        await asyncio.gather(*(one(i, r) for i, r in enumerate(rows)))
    finally:
        bar.close()
        unsubscribe()
    done = [o for o in outcomes if o is not None]
    return done, metrics
