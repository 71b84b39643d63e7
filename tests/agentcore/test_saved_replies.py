"""The team's saved replies, headless: shared through the engine database (a
second store on the file sees them), titles unique, nothing empty, placeholders
filled and unknown ones left as typed."""

from __future__ import annotations

import pytest

from agentcore import FakeClock, QueueError, SavedReplies
from agentcore.saved_replies import fill_placeholders
from agentcore.storage import SQLiteStorage


@pytest.fixture
def store(tmp_path):
    store = SQLiteStorage(tmp_path / "engine.db")
    yield store
    store.close()


def test_replies_are_shared_through_the_database(store, tmp_path):
    replies = SavedReplies(store.replies, FakeClock())
    starters = [r.title for r in replies.list()]
    assert "Refund issued" in starters  # a new team starts with a few to edit
    heard = []
    replies.on_changed.append(lambda: heard.append(True))
    added = replies.add("  Courier delay ", "Sorry {first_name}, it is late.", "alice")
    other = SQLiteStorage(tmp_path / "engine.db")  # bob's console on the same file
    try:
        [delay] = [r for r in other.replies.list() if r.id == added]
        assert (delay.title, delay.updated_by) == ("Courier delay", "alice")
    finally:
        other.close()
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


def test_placeholders_are_filled_and_unknown_ones_kept():
    assert fill_placeholders("Hi {first_name}, order #{order_id} {nope} {", {
        "first_name": "Ada", "order_id": "1042"}) == "Hi Ada, order #1042 {nope} {"
