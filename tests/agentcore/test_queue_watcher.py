"""The queue as an operator's list follows it, headless: the oldest page and the
counts, one announcement per burst, resolved items reported once, and "next" as
the oldest open item, never read from a page older than the last change."""

from __future__ import annotations

import pytest

from agentcore import EscalationReason, QueueWatcher, Stake

OPERATOR = "alice"


@pytest.fixture
def settings(settings):
    settings.llm.classify = None
    return settings


@pytest.fixture
def watcher(desk) -> QueueWatcher:
    return QueueWatcher(desk.queue, lambda item: Stake("—"), page=2)


async def human(desk, customer_id: int) -> int:
    """An item of its own (a budget stop: no LLM call to script)."""
    return await desk.over_budget(customer_id=customer_id)


async def test_the_oldest_page_is_read_and_the_rest_counted(desk, watcher):
    ids = [await human(desk, 7), await human(desk, 8)]
    desk.clock.advance(1)
    refund, _order = await desk.refund_injection()
    page = await watcher.load()
    assert [i.id for i in page.items] == ids and (page.matching, page.total) == (2 + 1, 3)
    watcher.reason = EscalationReason.POLICY_VIOLATION
    page = await watcher.load()
    assert [i.id for i in page.items] == [refund] and (page.matching, page.total) == (1, 3)


async def test_a_burst_is_one_announcement_and_start_up_is_none(desk, watcher):
    said = []
    watcher.on_announced.append(said.append)
    await human(desk, 7)
    await watcher.load()
    assert said == []  # waiting at start-up: in the queue, not news
    watcher.in_view = False  # behind another tab: still announced, the page not read
    first = await human(desk, 8)
    await human(desk, 9)
    assert await watcher.load() is None
    assert [(a.title, a.body) for a in said] == [
        ("New escalations: 2", f"#{first} dollar ceiling — customer 8; and 1 more")]


async def test_resolved_items_are_reported_once(desk, watcher):
    reported = []
    watcher.on_resolved.append(reported.append)
    item = await human(desk, 7)
    await watcher.load()
    await desk.queue.claim(item, OPERATOR, 300)
    await desk.queue.reply(item, OPERATOR, "Here now.")
    await watcher.load()
    await watcher.load()
    assert [i.id for i in reported] == [item]


async def test_next_is_the_oldest_open_item_from_a_fresh_page(desk, watcher):
    first, second = await human(desk, 7), await human(desk, 8)
    assert watcher.want_next() is None and watcher.next_wanted  # nothing read yet
    assert watcher.want_next() is None  # pressed twice: still one "next"
    await watcher.load()
    assert watcher.take_next() == (True, watcher.items[0])
    assert watcher.items[0].id == first
    assert watcher.want_next().id == first  # again: the same, never skipped
    await desk.queue.claim(first, OPERATOR, 300)
    watcher.changed()  # the claim's event: the page is stale
    assert watcher.want_next() is None
    await watcher.load()
    wanted, item = watcher.take_next()
    assert wanted and item.id == second
    assert watcher.take_next() == (False, None)



async def test_a_group_listing_shows_only_its_items_still_waiting(desk, watcher):
    """The outage banner's "Show them": only the group's items, and a settled one drops out."""
    ids = [await human(desk, n) for n in (1, 2, 3, 4)]
    watcher.page = 10
    watcher.only = (ids[1], ids[3])
    page = await watcher.load()
    assert [i.id for i in page.items] == [ids[1], ids[3]]
    assert (page.matching, page.total) == (2, 4)
    await desk.queue.claim(ids[3], OPERATOR, 300)
    await desk.queue.resolve(ids[3], OPERATOR)
    page = await watcher.load()
    assert [i.id for i in page.items] == [ids[1]]
    watcher.only = None
    page = await watcher.load()
    assert len(page.items) == 3
