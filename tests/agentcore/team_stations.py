"""Operator stations in processes of their own, each an `Engine` on one PostgreSQL
database and one shop file, as a team's machines are: what each does is a list of
steps, run in order, its results put back for the test to judge.

A station's clock may run ahead of (or behind) the others by `skew_s`: machines'
clocks disagree, and nothing the team shares may depend on whose is right.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from typing import Any

from agentcore.clock import SystemClock

Step = tuple[Any, ...]


class SkewedClock(SystemClock):
    """This machine's clock, `skew_s` off the true time."""

    def __init__(self, skew_s: float) -> None:
        self.skew_s = skew_s

    def now(self) -> float:
        return time.time() + self.skew_s


def _station(settings_json: str, keyring_file: str, skew_s: float, steps: list[Step],
             barrier: Any, results: Any, name: int) -> None:
    try:
        results.put((name, asyncio.run(_run(settings_json, keyring_file, skew_s, steps,
                                            barrier))))
    except BaseException as exc:  # the test is told, rather than waiting for ever
        results.put((name, f"failed: {type(exc).__name__}: {exc}"))


async def _run(settings_json: str, keyring_file: str, skew_s: float, steps: list[Step],
               barrier: Any) -> list[Any]:
    import keyring

    from agentcore import Engine
    from agentcore.errors import QueueError
    from agentcore.settings import Settings
    from tests.keyring_backend import FileKeyring

    keyring.set_keyring(FileKeyring(keyring_file))
    engine = Engine(Settings.model_validate_json(settings_json), clock=SkewedClock(skew_s))
    queue, out = engine.escalations, []
    try:
        for step in steps:
            kind, *args = step
            try:
                if kind == "wait":
                    await asyncio.to_thread(barrier.wait, 60)
                    out.append("ready")
                elif kind == "sleep":
                    await asyncio.sleep(args[0])
                    out.append("slept")
                elif kind == "claim":
                    item = await queue.claim(args[0], args[1], args[2])
                    out.append(("claimed", item.claimed_by))
                elif kind == "approve":
                    result = await queue.approve(
                        args[0], args[1], args[2],
                        override_reason=args[3] if len(args) > 3 else None)
                    out.append(("approved", result))
                elif kind == "deny":
                    item = await queue.deny(args[0], args[1], args[2])
                    out.append(("denied", str(item.pending_status)))
                elif kind == "reply":
                    item = await queue.reply(args[0], args[1], args[2])
                    out.append(("replied", item.resolved_by))
                elif kind == "status":
                    item = queue._load(args[0])  # as stored: no settling on reading
                    out.append(("status", str(item.pending_status), item.claimed_by))
                else:
                    raise ValueError(kind)
            except QueueError as exc:
                out.append(("refused", str(exc)))
    finally:
        await engine.close()
    return out


class Team:
    """Starts stations; `results()` waits for every one and returns their outcomes in
    the order they were started."""

    def __init__(self, settings: Any, keyring_file: str, parties: int) -> None:
        self._ctx = multiprocessing.get_context("spawn")
        self._settings = settings
        self._keyring = keyring_file
        self.barrier = self._ctx.Barrier(parties) if parties else None
        self._results = self._ctx.Queue()
        self.processes: list[Any] = []

    def start(self, steps: list[Step], *, skew_s: float = 0.0,
              settings: Any = None) -> Any:
        chosen = settings or self._settings
        proc = self._ctx.Process(target=_station, args=(
            chosen.model_dump_json(), self._keyring, skew_s, steps, self.barrier,
            self._results, len(self.processes)))
        proc.start()
        self.processes.append(proc)
        return proc

    def results(self, *, killed: tuple[Any, ...] = ()) -> list[Any]:
        waiting = [p for p in self.processes if p not in killed]
        got = dict(self._results.get(timeout=120) for _ in waiting)
        for proc in self.processes:
            proc.join(timeout=60)
        failed = [g for g in got.values() if isinstance(g, str)]
        assert not failed, failed
        return [got.get(n) for n in range(len(self.processes))]
