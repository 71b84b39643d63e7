"""Who did what: two operators at two stations on one engine database, each action
they take listed once under its operator, newest first, filtered as asked; a refused
action lists nothing; `agentcore audit` prints the same listing."""

from __future__ import annotations

import asyncio
import json

import pytest

from agentcore import SavedReplies
from agentcore.cli import main
from agentcore.errors import QueueError
from agentcore.rulebook import RuleBook
from agentcore.storage import LearnedRecord, Store
from tests.agentcore.desk import Desk
from tests.agentcore.scripted_llm import final


@pytest.fixture
def settings(settings):
    settings.llm.classify = None  # one decide stage keeps the scripts exact
    return settings


@pytest.fixture
async def stations(desk):
    """Ana's queue on the engine's store; Ben's on a store of his own over the same file,
    as a second station's would be."""
    bens_store = Store(desk.settings.engine_db)
    yield desk.queue, desk.queue_over(bens_store), bens_store
    bens_store.close()


def _listed(store, **filters):
    return [(e.operator, e.kind, e.item) for e in store.audit.entries(None, None, **filters)]


async def test_every_action_is_listed_under_its_operator(desk: Desk, stations):
    ana, ben, bens_store = stations
    clock = desk.clock
    first, order = await desk.refund_injection()
    second, _ = await desk.refund_injection(order)
    third = await desk.over_budget(customer_id=4)
    a, b, c = (f"escalation {i}" for i in (first, second, third))

    await ana.claim(first, "ana", lease_s=300)
    clock.advance(1)
    await ana.claim(first, "ana", lease_s=300)  # renewed: not a second claim
    with pytest.raises(QueueError):
        await ben.claim(first, "ben", lease_s=300)  # refused: nothing recorded
    pending = (await ana.get(first)).pending_action
    clock.advance(1)
    await ana.approve(first, "ana", {**pending.arguments,
                                     "amount": order["allowed_cents"] / 100},
                      override_reason="a loyal customer")
    clock.advance(1)
    await ana.reply(first, "ana", "We refunded what the policy allows.")
    clock.advance(1)
    await ben.claim(second, "ben", lease_s=300)
    await ben.deny(second, "ben", "already refunded")
    clock.advance(1)
    await ben.release(second, "ben")
    clock.advance(1)
    await ben.claim(third, "ben", lease_s=300)
    desk.script.steps.append(final("Please reinstall version 2.3.", intent="app_crash"))
    await ben.hand_back(third, "ben", "tell them to reinstall")
    clock.advance(1)
    await ana.claim(second, "ana", lease_s=300)
    await ana.resolve(second, "ana")

    book = RuleBook(desk.engine)
    clock.advance(1)
    version = book.apply(desk.engine.router.rules[1:], author="ana")
    undone = book.undo(author="ben")
    replies = SavedReplies(bens_store.replies, clock)
    clock.advance(1)
    added = replies.add("Courier delay", "Sorry, it is late.", "ben")
    replies.update(added, "Courier delayed", "Sorry, it is late.", "ana")
    replies.delete(added, "ben")
    clock.advance(1)
    learned = bens_store.learned.add(
        LearnedRecord(clock.now(), "ben", "train", 120, 0.9, True), model=b"weights")

    shared = desk.engine.store
    assert _listed(shared, operator="ana") == [
        ("ana", "saved_reply", "saved reply 'Courier delayed'"),
        ("ana", "rules", f"rule version {version.id}"),
        ("ana", "resolve", b), ("ana", "claim", b),
        ("ana", "reply", a), ("ana", "write", a), ("ana", "approve", a),
        ("ana", "claim", a)]
    assert _listed(shared, operator="ben") == [
        ("ben", "learned", f"learned version {learned.id}"),
        ("ben", "saved_reply", "saved reply 'Courier delayed'"),
        ("ben", "saved_reply", "saved reply 'Courier delay'"),
        ("ben", "rules", f"rule version {undone.id}"),
        ("ben", "hand_back", c), ("ben", "claim", c),
        ("ben", "release", b), ("ben", "deny", b), ("ben", "claim", b)]
    # Ben's station reads the same listing; the details say what was done.
    entries = {(e.operator, e.kind): e for e in bens_store.audit.entries(None, None)}
    assert "over the policy: a loyal customer" in entries["ana", "approve"].detail
    assert entries["ana", "write"].detail == "approved"
    assert entries["ben", "deny"].detail == "already refunded"
    assert entries["ben", "hand_back"].detail == "tell them to reinstall"
    assert entries["ana", "reply"].detail.endswith("We refunded what the policy allows.")
    assert entries["ben", "rules"].detail.startswith("undo")
    assert entries["ben", "learned"].detail == "train (threshold 0.9, on)"
    assert set(bens_store.audit.operators()) >= {"ana", "ben"}


async def test_the_listing_is_filtered_by_kind_and_time(desk: Desk, stations):
    ana, ben, _ = stations
    item = await desk.over_budget()
    desk.clock.advance(1)  # after the engine's first start (its rules' first version)
    start = desk.clock.now()
    await ana.claim(item, "ana", lease_s=60)
    desk.clock.advance(61)  # ana's claim lapses: ben takes it over
    await ben.claim(item, "ben", lease_s=60)
    desk.clock.advance(5)
    await ben.release(item, "ben")
    store = desk.engine.store
    claims = store.audit.entries(None, None, kind="claim")
    assert [(e.operator, e.detail) for e in claims] == [
        ("ben", "after ana's claim lapsed"), ("ana", "")]
    assert _listed(store, kind="release") == [("ben", "release", f"escalation {item}")]
    later = store.audit.entries(start + 1, None)
    assert [e.kind for e in later] == ["release", "claim"]
    assert [e.kind for e in store.audit.entries(start, start + 1)] == ["claim"]
    assert len(store.audit.entries(None, None, limit=1)) == 1


async def test_the_command_line_lists_who_did_what(desk: Desk, stations, capsys):
    ana, ben, _ = stations
    item = await desk.over_budget()
    await ana.claim(item, "ana", lease_s=300)
    await ana.release(item, "ana")
    await ben.claim(item, "ben", lease_s=300)
    data = ["--data-dir", str(desk.settings.data_dir)]

    async def cli(*argv: str) -> int:  # its own event loop, as from a shell
        return await asyncio.to_thread(main, [*data, "audit", *argv])

    assert await cli("--operator", "ben", "--json") == 0
    [line] = capsys.readouterr().out.splitlines()
    row = json.loads(line)
    assert (row["operator"], row["kind"], row["item"]) == ("ben", "claim", f"escalation {item}")
    assert "T" in row["at"] and row["at"].endswith("+00:00")  # ISO 8601 in UTC, not epoch
    assert await cli("--kind", "release") == 0
    [text] = capsys.readouterr().out.splitlines()
    assert "ana" in text and "release" in text and f"escalation {item}" in text
    assert await cli("--operator", "carol") == 0
    out = capsys.readouterr()
    assert out.out == "" and "no actions recorded that match" in out.err
    with pytest.raises(SystemExit) as refused:
        await cli("--since", "yesterday")
    assert refused.value.code == 2
    assert "not an ISO 8601 date" in capsys.readouterr().err
