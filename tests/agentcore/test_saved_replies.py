"""The team's saved replies, headless, on both backends: shared through the engine
database (a second store on it sees them), titles unique even when two stations
take one at once, nothing empty, placeholders filled and unknown ones left as typed."""

from __future__ import annotations

import threading

import pytest

from agentcore import FakeClock, QueueError, SavedReplies
from agentcore.saved_replies import fill_placeholders


@pytest.fixture
def store(open_store):
    return open_store()


def test_replies_are_shared_through_the_database(store, open_store):
    replies = SavedReplies(store.replies, FakeClock())
    starters = [r.title for r in replies.list()]
    assert "Refund issued" in starters  # a new team starts with a few to edit
    heard = []
    replies.on_changed.append(lambda: heard.append(True))
    added = replies.add("  Courier delay ", "Sorry {first_name}, it is late.", "alice")
    other = open_store()  # bob's console on the same database
    [delay] = [r for r in other.replies.list() if r.id == added]
    assert (delay.title, delay.updated_by) == ("Courier delay", "alice")
    replies.update(added, "Courier delay", "Sorry, late.", "bob")
    assert [r.body for r in replies.list() if r.id == added] == ["Sorry, late."]
    replies.delete(added, "ana")
    assert added not in [r.id for r in replies.list()] and heard == [True] * 3


def test_titles_are_unique_and_nothing_is_empty(store):
    replies = SavedReplies(store.replies, FakeClock())
    first = replies.add("Thanks", "Thank you!", "alice")
    with pytest.raises(QueueError, match="already called 'Thanks'"):
        replies.add("Thanks", "again", "bob")
    second = replies.add("Cheers", "Cheers!", "bob")
    with pytest.raises(QueueError, match="already called 'Thanks'"):
        replies.update(second, "Thanks", "x", "bob")
    with pytest.raises(QueueError, match="needs a title"):
        replies.add("  ", "text", "alice")
    with pytest.raises(QueueError, match="needs some text"):
        replies.update(first, "Thanks", " ", "alice")
    replies.delete(first, "ana")
    with pytest.raises(QueueError, match="deleted meanwhile"):
        replies.delete(first, "ana")


def test_the_list_is_in_title_order_whatever_the_case(store):
    replies = SavedReplies(store.replies, FakeClock())
    for title in ("zebra", "Apple", "mango"):
        replies.add(title, "text", "alice")
    titles = [r.title for r in replies.list() if r.title in {"zebra", "Apple", "mango"}]
    assert titles == ["Apple", "mango", "zebra"]


def _at_once(*calls):
    """Runs each call in a thread of its own, all released together; their results."""
    ready, out = threading.Barrier(len(calls)), [None] * len(calls)

    def run(n):
        ready.wait()
        out[n] = calls[n]()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_two_stations_taking_one_title_at_once_get_it_once(open_store):
    stations = [open_store() for _ in range(4)]  # each its own connection
    for round_ in range(5):
        title = f"Parcel lost {round_}"
        added = _at_once(*(lambda s=s, n=n, title=title: s.replies.add(
            title, f"from {n}", f"op{n}", 1.0) for n, s in enumerate(stations)))
        assert len([a for a in added if a is not None]) == 1, added
    # Two replies renamed to one new title at once: one is, the other keeps its own.
    a = stations[0].replies.add("first", "1", "ana", 1.0)
    b = stations[0].replies.add("second", "2", "ana", 1.0)
    done = _at_once(lambda: stations[1].replies.update(a, "Same", "1", "ana", 2.0),
                    lambda: stations[2].replies.update(b, "Same", "2", "ben", 2.0))
    assert sorted(done) == [False, True]
    titles = sorted(r.title for r in stations[3].replies.list() if r.id in (a, b))
    assert titles in (["Same", "second"], ["Same", "first"])


def test_placeholders_are_filled_and_unknown_ones_kept():
    assert fill_placeholders("Hi {first_name}, order #{order_id} {nope} {", {
        "first_name": "Ada", "order_id": "1042"}) == "Hi Ada, order #1042 {nope} {"
