"""The rule that holds new feed rows while the operator reads (headless: plain Python)."""

from __future__ import annotations

from console.feed_hold import HoldBack


class Recorder:
    def __init__(self, limit: int = 100) -> None:
        self.released: list[list[int]] = []
        self.counts: list[int] = []
        self.hold: HoldBack[int] = HoldBack(limit, on_release=self.released.append,
                                            on_count=self.counts.append)


def test_rows_flow_while_nobody_reads_and_wait_while_someone_does():
    r = Recorder()
    assert r.hold.offer([1, 2]) == [1, 2]
    r.hold.set_selected(True)
    assert r.hold.offer([3, 4]) == [] and r.hold.offer([5]) == []
    assert r.counts == [2, 3] and r.hold.count == 3
    r.hold.set_selected(False)  # done reading: they go in, oldest first
    assert r.released == [[3, 4, 5]] and r.counts[-1] == 0 and r.hold.count == 0


def test_each_reason_to_hold_counts_until_all_are_gone():
    r = Recorder()
    r.hold.set_hovering(True)
    r.hold.set_selected(True)
    r.hold.offer([1])
    r.hold.set_hovering(False)
    assert r.released == []  # still selected
    r.hold.set_scrolled(True)
    r.hold.set_selected(False)
    assert r.released == []  # still scrolled
    r.hold.set_scrolled(False)
    assert r.released == [[1]]


def test_back_at_the_top_lets_rows_in_even_under_the_pointer_but_not_with_a_selection():
    r = Recorder()
    r.hold.set_hovering(True)  # the wheel scrolls with the pointer over the table
    r.hold.set_scrolled(True)
    r.hold.offer([1])
    r.hold.set_scrolled(False)
    assert r.released == [[1]]

    r.hold.set_selected(True)
    r.hold.set_scrolled(True)
    r.hold.offer([2])
    r.hold.set_scrolled(False)
    assert r.released == [[1]]  # a selected request keeps its place
    r.hold.release()  # the pill
    assert r.released == [[1], [2]]


def test_at_most_the_limit_waits_and_the_count_says_how_many_came():
    r = Recorder(limit=5)
    r.hold.set_selected(True)
    for start in range(0, 30, 10):
        r.hold.offer(range(start, start + 10))
    assert list(r.hold.held) == [25, 26, 27, 28, 29] and r.hold.count == 30
    r.hold.release()
    assert r.released == [[25, 26, 27, 28, 29]]


def test_clearing_forgets_the_held_rows():
    r = Recorder()
    r.hold.set_selected(True)
    r.hold.offer([1, 2])
    r.hold.clear()
    r.hold.set_selected(False)
    assert r.released == [] and r.counts == [2, 0]


def test_an_empty_table_under_the_pointer_fills_instead_of_showing_only_a_pill():
    r = Recorder()
    shown: list[int] = []
    r.hold.nothing_shown = lambda: not shown
    r.hold.set_hovering(True)  # the pointer rests over the table before any row came
    shown.extend(r.hold.offer([1, 2]))
    assert shown == [1, 2] and r.hold.count == 0
    assert r.hold.offer([3]) == []  # now rows are on screen: they would move
    assert r.hold.count == 1
