"""The answer cache's L2 written by several stations at once, on both backends: the
invalidation log reads gap-free in seq order to a reader catching up while writers
commit (so no L1 passes an invalidation by), and an answer put while one of its tags
is invalidated is never left in the cache."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from agentcore.storage import StoredAnswer

WRITERS, EACH = 4, 60


@pytest.fixture
def open_l2(open_store):
    """Opens an answer cache L2 on a store of its own (another station's connections)."""
    opened = []

    def open_():
        l2 = open_store().answer_cache()
        opened.append(l2)
        return l2

    yield open_
    for l2 in opened:
        l2.close()


def _in_threads(*runs: Callable[[], None]) -> None:
    errors: list[BaseException] = []

    def guarded(run: Callable[[], None]) -> None:
        try:
            run()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(run,)) for run in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_a_reader_catching_up_sees_every_invalidation_in_order_without_gaps(open_l2):
    writers = [open_l2() for _ in range(WRITERS)]
    reader = open_l2()
    start, done = threading.Barrier(WRITERS + 1), threading.Event()
    seen: list[tuple[int, str]] = []
    gaps: list[tuple[int, int]] = []

    def write(n: int) -> Callable[[], None]:
        def run() -> None:
            start.wait()
            for i in range(EACH):
                writers[n].invalidate([f"order:{n}-{i}"])
        return run

    def read() -> None:
        # As L1's catch-up does (agentcore.cache): read past the position, move to the
        # last row read. A row showing up behind the position later is lost to it.
        position = reader.log_head()
        start.wait()
        while True:
            finished = done.is_set()
            rows = reader.log_since(position, 4096)
            if rows:
                if rows[0][0] != position + 1:
                    gaps.append((position, rows[0][0]))
                seen.extend(rows)
                position = rows[-1][0]
            elif finished:
                return

    def writers_then_done() -> None:
        _in_threads(*(write(n) for n in range(WRITERS)))
        done.set()

    _in_threads(writers_then_done, read)
    assert gaps == []
    assert [seq for seq, _ in seen] == list(range(1, WRITERS * EACH + 1))
    assert sorted(tag for _, tag in seen) == sorted(
        f"order:{n}-{i}" for n in range(WRITERS) for i in range(EACH))
    assert reader.log_head() == WRITERS * EACH


def _answer(n: int) -> StoredAnswer:
    return StoredAnswer(f"c:7:where is order {n}", "per-customer", "order_status",
                        {"answer": f"order {n} is on its way"}, (f"order:{n}", "customer:7"),
                        1_000.0, 1_000_000.0)


def test_an_answer_put_while_its_tag_is_invalidated_is_never_kept(open_l2):
    putter, invalidator = open_l2(), open_l2()
    rounds = 150
    both = threading.Barrier(2)
    since_of: dict[int, int] = {}
    kept: list[bool] = []

    def put() -> None:
        for n in range(rounds):
            since_of[n] = putter.log_head()  # the answer is computed from here on...
            both.wait()
            kept.append(putter.put(_answer(n), since_of[n]))  # ...and stored as it changes

    def invalidate() -> None:
        for n in range(rounds):
            both.wait()
            invalidator.invalidate([f"order:{n}"])

    _in_threads(put, invalidate)
    # Each invalidation came after its answer's `since`: refused, or dropped once put.
    assert [n for n in range(rounds) if putter.get(_answer(n).key, 2_000.0)] == []
    assert putter.count() == 0
    # Untouched by the race: an answer put after the last change is kept.
    assert putter.put(_answer(rounds), putter.log_head())
    assert putter.get(_answer(rounds).key, 2_000.0) == _answer(rounds)
