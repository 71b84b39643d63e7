"""The pacer behind the demo traffic and `replay`: the rate it keeps, the bound on what
is in flight, laps, pause and resume from a saved position, a stall's catch-up, and
failures. Time is a fake clock moved by the injected sleep: nothing here waits."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from agentcore import Pacer, Position


class FakeTime:
    """A clock that moves only when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)  # what is ready runs first, as on a real loop
        self.now += seconds


class Recorder:
    """A submit that records what was sent and when; optionally held until released."""

    def __init__(self, time: FakeTime, *, held: bool = False) -> None:
        self.time = time
        self.sent: list[tuple[str, float]] = []
        self.release = asyncio.Event()
        if not held:
            self.release.set()
        self.active = 0
        self.peak = 0

    async def __call__(self, item: str) -> str:
        self.sent.append((item, self.time.now))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await self.release.wait()
        finally:
            self.active -= 1
        return item.upper()


def pacer(items, submit, time: FakeTime, **kwargs) -> Pacer:
    return Pacer(items, submit, clock=time.clock, sleep=time.sleep, **kwargs)


async def until(condition, turns: int = 1000) -> None:
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


async def test_submissions_keep_the_rate_and_a_change_applies_at_once():
    time = FakeTime()
    submit = Recorder(time)
    p = pacer(list("abcdefgh"), submit, time, rate=10, laps=1)
    p.start()
    await until(lambda: len(submit.sent) == 4)
    p.set_rate(2)  # from the next submission on: 0.5 s apart
    await p.wait()
    gaps = [round(b[1] - a[1], 6) for a, b in zip(submit.sent, submit.sent[1:], strict=False)]
    assert [item for item, _ in submit.sent] == list("abcdefgh")
    assert gaps[:3] == [0.1, 0.1, 0.1]
    assert gaps[4:] == [0.5, 0.5, 0.5]


async def test_waiting_for_the_end_outlasts_a_rate_change():
    time = FakeTime()
    submit = Recorder(time)

    async def slow_sleep(seconds: float) -> None:  # many turns of the loop per sleep
        for _ in range(int(seconds * 1000)):
            await asyncio.sleep(0)
        time.now += seconds

    p = Pacer(list("abcdef"), submit, clock=time.clock, sleep=slow_sleep, rate=10, laps=1)
    p.start()
    waiting = asyncio.ensure_future(p.wait())
    seen_when_done: list[int] = []
    waiting.add_done_callback(lambda _task: seen_when_done.append(len(submit.sent)))
    await until(lambda: len(submit.sent) == 2, turns=10_000)
    p.set_rate(20)
    await waiting
    assert seen_when_done == [6] and p.finished


async def test_in_flight_never_passes_the_bound_and_the_schedule_waits_for_a_slot():
    time = FakeTime()
    submit = Recorder(time, held=True)
    p = pacer(list("abcdefghij"), submit, time, rate=100, concurrency=3, laps=1)
    p.start()
    await until(lambda: p.in_flight == 3)
    for _ in range(50):
        await asyncio.sleep(0)
    assert len(submit.sent) == 3 and p.position == Position(3, 0)  # held back, not piled up
    submit.release.set()
    await p.wait()
    assert submit.peak == 3 and len(submit.sent) == 10 and p.in_flight == 0


async def test_a_raised_bound_applies_to_a_pacer_waiting_for_a_slot():
    time = FakeTime()
    submit = Recorder(time, held=True)
    p = pacer(list("abcdef"), submit, time, concurrency=2, laps=1)
    p.start()
    await until(lambda: p.in_flight == 2)
    p.set_concurrency(5)
    await until(lambda: p.in_flight == 5)
    submit.release.set()
    await p.wait()


async def test_laps_wrap_the_position_and_the_pacer_stops_by_itself():
    time = FakeTime()
    submit = Recorder(time)
    results: list[tuple[int, str]] = []
    running: list[bool] = []
    progress: list[Position] = []
    p = pacer(list("abc"), submit, time, rate=50, laps=2, on_result=lambda *r: results.append(r),
              on_running=running.append, on_progress=progress.append)
    p.start()
    await p.wait()
    assert [item for item, _ in submit.sent] == list("abcabc")
    assert sorted(results) == [(0, "A"), (0, "A"), (1, "B"), (1, "B"), (2, "C"), (2, "C")]
    assert progress == [Position(1, 0), Position(2, 0), Position(0, 1),
                        Position(1, 1), Position(2, 1), Position(0, 2)]
    assert running == [True, False] and not p.running and p.finished
    p.start()  # finished: nothing more to send
    assert not p.running and len(submit.sent) == 6


async def test_pause_lets_what_is_in_flight_finish_and_start_resumes_without_a_gap():
    time = FakeTime()
    submit = Recorder(time, held=True)
    p = pacer(list("abcdefgh"), submit, time, rate=20, concurrency=8)
    p.start()
    await until(lambda: p.submitted == 3)
    p.pause()
    assert not p.running  # at once, not a turn later
    submit.release.set()
    await p.wait()
    assert p.in_flight == 0 and p.position == Position(3, 0)
    time.now += 60  # a long pause: no burst of the minute's backlog on resume
    p.start()
    await until(lambda: p.submitted == 6)
    await p.stop()
    assert [item for item, _ in submit.sent] == list("abcdef")  # none skipped, none twice
    assert [round(t - submit.sent[3][1], 6) for _, t in submit.sent[3:]] == [0.0, 0.05, 0.1]


async def test_a_saved_position_resumes_where_it_stopped():
    time = FakeTime()
    submit = Recorder(time)
    p = pacer(list("abcde"), submit, time, rate=10, position=Position(3, 4))
    p.start()
    await until(lambda: p.submitted == 4)
    await p.stop()
    assert [item for item, _ in submit.sent] == list("deab")
    assert p.position == Position(2, 5)


@pytest.mark.parametrize(("saved", "starts"), [
    (Position(7, 2), Position(0, 3)),  # the items shrank under it: the next lap
    (Position(-1, 0), Position(0, 0)),  # a hand edit
])
def test_a_position_past_the_items_starts_a_lap(saved, starts):
    assert Pacer(list("abc"), _never, position=saved).position == starts


async def _never(item: str) -> None:
    raise AssertionError("not submitted")


async def test_after_a_stall_it_catches_up_with_at_most_the_backlog():
    time = FakeTime()
    submit = Recorder(time)
    p = pacer(list("x" * 500), submit, time, rate=100, max_backlog_s=0.5)
    p.start()
    await until(lambda: len(submit.sent) == 5)
    time.now += 10  # a suspended laptop: 1,000 submissions were due meanwhile
    await until(lambda: len(submit.sent) >= 100)
    await p.stop()
    bursts = Counter(round(t, 6) for _, t in submit.sent)
    assert 45 <= max(bursts.values()) <= 52  # half a second's worth, not ten seconds'


async def test_a_failed_submission_is_reported_and_kept():
    time = FakeTime()
    errors: list[BaseException] = []

    async def submit(item: str) -> str:
        if item == "b":
            raise OSError("disk full")
        return item

    p = pacer(list("abc"), submit, time, laps=1, on_error=errors.append)
    p.start()
    await p.wait()
    assert [str(e) for e in errors] == ["disk full"] and str(p.error) == "disk full"


async def test_without_an_error_callback_a_failure_reaches_the_loops_handler():
    time = FakeTime()
    seen: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: seen.append(ctx))

    async def submit(item: str) -> str:
        raise OSError("disk full")

    p = pacer(list("a"), submit, time, laps=1)
    p.start()
    await p.wait()
    await asyncio.sleep(0)
    assert [str(ctx.get("exception")) for ctx in seen] == ["disk full"]
