"""The answer cache: two tiers, bounds, TTL, and invalidation by the shop's own writes.

L2 lives in the engine database, SQLite's or PostgreSQL's (each test runs on both); the
shop's changes reach it through the shop's change log (any connection's writes) and its
change notifications (this process's), wired as the engine wires them."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

import agentcore.cache
from agentcore.cache import AnswerCache, CacheSettings, llm_tags, rule_tags
from agentcore.clock import FakeClock
from agentcore.demo_shop.change_log import ShopChangeLog
from agentcore.demo_shop.domain import CACHE_TAGS, RESOURCES
from agentcore.demo_shop.handlers import shop_handlers
from agentcore.demo_shop.intents import KEYWORDS
from agentcore.demo_shop.repository import Shop
from agentcore.demo_shop.tools import shop_registry
from agentcore.handlers import HandlerContext
from agentcore.keyword_intents import KeywordClassifier
from agentcore.ladder import Ladder
from agentcore.models import Route
from agentcore.router import Router, Rule
from agentcore.storage import AnswerCacheRepository, SQLiteAnswerCache
from agentcore.tool_results import ToolResults
from agentcore.tools import ToolContext


@pytest.fixture
def shop(settings):
    shop = Shop(settings.shop_path)
    yield shop
    shop.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class L2:
    """The engine database L2 lives in, on one backend: `open` gives a process's
    repository, `keys` what another process sees in it."""

    def __init__(self, kind: str, location: str, password: str | None = None) -> None:
        self.kind, self.location, self.password = kind, location, password
        self._stores: list = []

    def open(self) -> AnswerCacheRepository:
        if self.kind == "sqlite":
            return SQLiteAnswerCache(Path(self.location))
        from agentcore.storage._pg import PostgresStorage

        store = PostgresStorage(self.location, self.password)  # a process's own pool
        self._stores.append(store)
        return store.answer_cache()

    def keys(self) -> list[str]:
        sql = "SELECT key FROM answer_cache ORDER BY key"
        if self.kind == "sqlite":
            with another_connection(Path(self.location)) as conn:
                return [r[0] for r in conn.execute(sql)]
        import psycopg

        with psycopg.connect(self.location, password=self.password) as conn:
            return [r[0] for r in conn.execute(sql + ' COLLATE "C"')]

    def close(self) -> None:
        for store in self._stores:
            store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def l2(request, settings) -> Iterator[L2]:
    if request.param == "sqlite":
        where = L2("sqlite", str(settings.engine_db))
    else:
        where = L2("postgresql", request.getfixturevalue("pg_url"),
                   request.getfixturevalue("postgres_server").password)
    yield where
    where.close()


@pytest.fixture
def make_cache(shop, clock, l2):
    """A cache as an engine (a process) has one: L2 in the engine database (on each
    backend), following the shop's change log and told of this Shop's writes."""
    made: list[tuple[AnswerCache, ShopChangeLog]] = []

    def make(on: Shop | None = None, **overrides) -> AnswerCache:
        on = on or shop
        cache = AnswerCache(l2.open(), CacheSettings(**overrides), clock, CACHE_TAGS)
        on.on_change(cache.changed)
        changes = ShopChangeLog(on.path)
        cache.follow(changes)
        made.append((cache, changes))
        return cache

    yield make
    for cache, changes in made:
        cache.close()
        changes.close()


def an_order(shop: Shop, status: str = "delivered", skip: int = 0) -> tuple[int, int]:
    """(order id, customer id) of an order with no refund yet."""
    return shop.conn.execute(
        "SELECT id, customer_id FROM orders o WHERE status = ? AND NOT EXISTS "
        "(SELECT 1 FROM refunds r WHERE r.order_id = o.id) ORDER BY id LIMIT 1 OFFSET ?",
        (status, skip)).fetchone()


def put_shared(cache: AnswerCache, text: str, answer: str = "", **kw) -> bool:
    return cache.store("shared", text, None, answer=answer or f"answer to {text}",
                       intent=kw.pop("intent", "shipping_info"), rule_id=None, route=Route.RULE,
                       tags=kw.pop("tags", ()), **kw)


def put_order_answer(cache: AnswerCache, order_id: int, customer_id: int,
                     text: str | None = None, **kw) -> bool:
    return cache.store("per-customer", text or f"where is my order {order_id}", customer_id,
                       answer=f"order {order_id} is on its way", intent="order_status",
                       rule_id="order-status-by-number", route=Route.RULE,
                       tags=[f"order:{order_id}", f"customer:{customer_id}"], **kw)


HANDLERS = shop_handlers(None)  # type: ignore[arg-type]  # routing only: none runs


def shipped_router(settings) -> Router:
    """The default rule set, read from the file the engine seeds itself from."""
    data = yaml.safe_load((RESOURCES / "rules.yaml").read_text(encoding="utf-8"))
    return Router([Rule.from_dict(r) for r in data["rules"]], HANDLERS,
                  fragments=data["fragments"])


@contextmanager
def another_connection(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection of its own, as another process (an admin script) would have;
    each statement commits by itself."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def test_public_names():
    assert set(agentcore.cache.__all__) == {
        "AnswerCache", "CacheHit", "CacheSettings", "CacheStats", "CachedAnswer", "Tier",
        "llm_tags", "normalise", "rule_tags"}


# -- L1 bounds and LRU order -------------------------------------------------

def test_l1_evicts_the_least_recently_used_entry_beyond_its_entry_bound(make_cache):
    cache = make_cache(l1_max_entries=3)
    for text in ("a", "b", "c"):
        put_shared(cache, f"question {text}")
    assert cache.lookup("question a", None).tier == "l1"  # a is now the most recent
    put_shared(cache, "question d")

    stats = cache.stats
    assert (stats.l1_entries, stats.evictions, stats.l2_entries) == (3, 1, 4)
    assert cache.lookup("question a", None).tier == "l1"
    assert cache.lookup("question c", None).tier == "l1"
    hit = cache.lookup("question b", None)  # b went from memory only: L2 still serves it
    assert hit.tier == "l2"
    assert hit.cached.answer == "answer to question b"
    assert hit.route is Route.CACHE_L2


def test_l1_evicts_by_estimated_bytes(make_cache):
    cache = make_cache(l1_max_entries=1000, l1_max_bytes=8 * 1024)
    for i in range(6):
        put_shared(cache, f"long question {i}", answer=str(i) * 2500)
    stats = cache.stats
    assert stats.l1_bytes <= 8 * 1024
    assert 1 <= stats.l1_entries < 6
    assert stats.evictions == 6 - stats.l1_entries
    assert cache.lookup("long question 5", None).tier == "l1"
    assert cache.lookup("long question 0", None).tier == "l2"


def test_an_answer_larger_than_l1_is_still_served_from_l2(make_cache):
    cache = make_cache(l1_max_bytes=2048)
    put_shared(cache, "huge", answer="x" * 10_000)
    assert cache.stats.l1_entries == 0
    for _ in range(2):
        assert cache.lookup("huge", None).tier == "l2"


def test_lookups_normalise_the_text(make_cache):
    cache = make_cache()
    put_shared(cache, "How long does SHIPPING take?")
    assert cache.lookup("  how long   does shipping take?", None) is not None


# -- TTL ---------------------------------------------------------------------

def test_entries_expire_from_l1_then_from_l2(make_cache, clock):
    cache = make_cache(l1_ttl_s=10, l2_ttl_s=100)
    put_shared(cache, "shipping times")
    clock.advance(9)
    assert cache.lookup("shipping times", None).tier == "l1"
    clock.advance(2)  # past the L1 TTL: L2 answers and promotes it
    assert cache.lookup("shipping times", None).tier == "l2"
    assert cache.lookup("shipping times", None).tier == "l1"
    clock.advance(90)  # past the L2 TTL
    assert cache.lookup("shipping times", None) is None


def test_no_entry_lives_in_l1_longer_than_in_l2(make_cache, clock):
    cache = make_cache(l1_ttl_s=300, l2_ttl_s=60)
    put_shared(cache, "payment methods")
    clock.advance(55)
    fresh = make_cache()  # another process: empty L1
    assert fresh.lookup("payment methods", None).tier == "l2"  # promoted with 5 s left
    assert cache.lookup("payment methods", None).tier == "l1"
    clock.advance(6)
    assert fresh.lookup("payment methods", None) is None
    assert cache.lookup("payment methods", None) is None


# -- L2 across restarts --------------------------------------------------------

def test_l2_survives_a_restart_and_promotes_hits_to_l1(settings, make_cache, clock):
    first_shop = Shop(settings.shop_path)
    first = make_cache(on=first_shop)
    order_id, customer_id = an_order(first_shop)
    put_order_answer(first, order_id, customer_id)
    put_shared(first, "contact hours", intent="contact")
    first.close()
    first_shop.close()

    clock.advance(60)
    again_shop = Shop(settings.shop_path)
    again = make_cache(on=again_shop)
    try:
        hit = again.lookup(f"where is my order {order_id}", customer_id)
        assert hit.tier == "l2"
        assert hit.cached.answer == f"order {order_id} is on its way"
        assert hit.cached.route is Route.RULE
        assert set(hit.cached.tags) == {f"order:{order_id}", f"customer:{customer_id}"}
        assert again.lookup(f"where is my order {order_id}", customer_id).tier == "l1"
        assert again.lookup("contact hours", None).tier == "l2"
        assert again.stats.l2_entries == 2
    finally:
        again_shop.close()


def test_expired_entries_are_purged_from_l2_on_open(l2, make_cache, clock):
    cache = make_cache(l2_ttl_s=10)
    put_shared(cache, "old")
    clock.advance(11)
    make_cache()
    assert l2.keys() == []


# -- keys and policies ---------------------------------------------------------

def test_a_per_customer_answer_is_not_served_to_another_customer(shop, make_cache):
    cache = make_cache()
    order_id, customer_id = an_order(shop)
    put_order_answer(cache, order_id, customer_id)
    text = f"where is my order {order_id}"
    assert cache.lookup(text, customer_id) is not None
    assert cache.lookup(text, customer_id + 1) is None
    assert cache.lookup(text, None) is None


def test_a_shared_answer_is_served_to_everyone(make_cache):
    cache = make_cache()
    put_shared(cache, "what payment methods do you take", intent="payment_methods")
    assert cache.lookup("what payment methods do you take", 7).cached.intent == "payment_methods"
    assert cache.lookup("what payment methods do you take", None) is not None


def test_never_is_not_stored(l2, make_cache):
    cache = make_cache()
    stored = cache.store("never", "cancel order 12345", 3, answer="cancelled",
                         intent="cancel_order", rule_id=None, route=Route.LLM,
                         tags=["order:12345"])
    assert stored is False
    assert cache.lookup("cancel order 12345", 3) is None
    assert l2.keys() == []


def test_a_per_customer_answer_without_a_customer_is_not_stored(make_cache):
    cache = make_cache()
    assert not cache.store("per-customer", "my balance", None, answer="$0.00", intent="account",
                           rule_id=None, route=Route.RULE, tags=[])


def test_a_shared_answer_that_read_a_customers_records_is_kept_per_customer(make_cache):
    cache = make_cache()
    cache.store("shared", "do you ship to me", 42, answer="Yes, to Berlin.",
                intent="shipping_info", rule_id=None, route=Route.LLM, tags=["customer:42"])
    assert cache.lookup("do you ship to me", 43) is None
    assert cache.lookup("do you ship to me", 42).cached.policy == "per-customer"


def test_an_unknown_policy_is_a_bug(make_cache):
    with pytest.raises(ValueError, match="cache policy"):
        make_cache().store("always", "x", None, answer="y", intent=None, rule_id=None,  # type: ignore[arg-type]
                           route=Route.RULE, tags=[])


def test_lookup_by_intent_gives_the_newest_shared_answer(make_cache, clock):
    cache = make_cache()
    put_shared(cache, "how long is delivery", answer="3-5 days", intent="shipping_info")
    clock.advance(1)
    put_shared(cache, "when will it arrive", answer="3-5 business days", intent="shipping_info")
    clock.advance(1)
    put_order_answer(cache, 12345, 7)  # per customer: never given to someone else
    hit = cache.lookup_by_intent("shipping_info", 99)
    assert (hit.answer, hit.route) == ("3-5 business days", Route.CACHE_L2)
    assert cache.lookup_by_intent("order_status", 7) is None
    assert cache.lookup_by_intent("contact", None) is None


def test_the_ladder_takes_its_cache_rung_from_the_cache(settings, shop, make_cache):
    cache = make_cache()
    put_shared(cache, "how long is delivery", answer="3-5 days", intent="shipping_info")
    router = shipped_router(settings)
    classify = KeywordClassifier(KEYWORDS).classify
    rung = Ladder(lambda: router, classify, {}, cache).descend("shipping?", 5, "shipping_info")
    assert (rung.name, rung.route, rung.answer) == ("cache", Route.CACHE_L2, "3-5 days")


def test_disabled_cache_stores_and_serves_nothing(make_cache):
    cache = make_cache(enabled=False)
    assert not put_shared(cache, "shipping")
    assert cache.lookup("shipping", None) is None


# -- invalidation --------------------------------------------------------------

async def test_a_write_tool_drops_the_tagged_entries_from_both_tiers(l2, shop, make_cache):
    cache = make_cache()
    order_id, customer_id = an_order(shop)
    other_order, other_customer = an_order(shop, skip=1)
    assert other_customer != customer_id
    put_order_answer(cache, order_id, customer_id)
    put_order_answer(cache, other_order, other_customer)
    put_shared(cache, "shipping times")

    ctx = ToolContext("req-refund-1", customer_id)
    await shop_registry(shop).call("issue_refund", {"order_id": order_id, "amount": 5.0,
                                                "reason": "damaged"}, ctx, timeout=5)

    assert l2.keys() == [f"c:{other_customer}:where is my order {other_order}",
                                           "s:shipping times"]
    assert cache.stats.l1_entries == 2  # dropped from memory by the shop's change listener
    assert cache.lookup(f"where is my order {order_id}", customer_id) is None
    assert cache.lookup(f"where is my order {other_order}", other_customer).tier == "l1"
    assert cache.lookup("shipping times", None).tier == "l1"


def test_another_connections_update_is_logged_in_its_transaction_and_drops_both_tiers(
        l2, settings, shop, make_cache):
    cache = make_cache()
    there = make_cache()  # another process on the same databases
    order_id, customer_id = an_order(shop, status="processing")
    put_order_answer(cache, order_id, customer_id)
    key = f"c:{customer_id}:where is my order {order_id}"
    assert there.lookup(f"where is my order {order_id}", customer_id).tier == "l2"

    with another_connection(settings.shop_path) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", (order_id,))
        # Inside the writer's still-open transaction, the change is already logged...
        logged = other.execute("SELECT tag FROM change_log ORDER BY seq").fetchall()
        assert set(logged[-2:]) == {(f"order:{order_id}",), (f"customer:{customer_id}",)}
        other.execute("ROLLBACK")  # ...and a rolled-back write logs nothing
        assert cache.lookup(f"where is my order {order_id}", customer_id).tier == "l1"

        other.execute("UPDATE orders SET status = 'cancelled' WHERE id = ?", (order_id,))
    assert l2.keys() == [key]  # nobody has looked yet...
    assert cache.stats.l1_entries == 1
    assert cache.lookup(f"where is my order {order_id}", customer_id) is None  # ...it checks
    assert cache.stats.l1_entries == 0
    assert l2.keys() == []
    # The other process's memory catches up through the engine database's log.
    assert there.lookup(f"where is my order {order_id}", customer_id) is None


@pytest.mark.parametrize("sql", [
    "UPDATE orders SET carrier = 'DHL' WHERE id = :order",
    "UPDATE payments SET status = 'disputed' WHERE order_id = :order",
    "DELETE FROM payments WHERE order_id = :order",
    "INSERT INTO refunds (order_id, amount_cents, reason, created_at) "
    "VALUES (:order, 100, 'goodwill', '2026-11-01')",
    "UPDATE accounts SET store_credit_cents = 500 WHERE customer_id = :customer",
    "UPDATE customers SET name = 'Renamed' WHERE id = :customer",
], ids=["orders", "payments", "payments-delete", "refunds", "accounts", "customers"])
def test_every_shop_table_that_an_answer_reads_drops_it_when_changed(
        settings, shop, make_cache, sql):
    cache = make_cache()
    order_id, customer_id = an_order(shop)
    cache.store("per-customer", "my latest order", customer_id, answer="...", intent="order_status",
                rule_id="latest-order-status", route=Route.RULE, tags=[])  # customer tag only
    with another_connection(settings.shop_path) as other:
        other.execute(sql, {"order": order_id, "customer": customer_id})
    assert cache.lookup("my latest order", customer_id) is None


def test_a_catalog_change_drops_answers_that_show_it(settings, shop, make_cache):
    cache = make_cache()
    put_shared(cache, "refund policy", intent="refund_policy", tags=["shop:catalog"])
    put_shared(cache, "contact", intent="contact")
    with another_connection(settings.shop_path) as other:
        other.execute("UPDATE categories SET refund_window_days = refund_window_days + 1")
    assert cache.lookup("refund policy", None) is None
    assert cache.lookup("contact", None) is not None


def test_a_closed_cache_does_not_get_in_the_way_of_shop_writes(shop, make_cache):
    cache = make_cache()
    order_id, _ = an_order(shop)
    cache.close()
    assert shop.issue_refund("req-after-close", order_id, 100, "late")["status"] == "issued"


def test_shrinking_l1_evicts_at_once(make_cache):
    cache = make_cache()
    for i in range(10):
        put_shared(cache, f"q{i}")
    cache.configure(CacheSettings(l1_max_entries=4))
    assert cache.stats.l1_entries == 4
    assert cache.lookup("q9", None).tier == "l1"
    assert cache.lookup("q0", None).tier == "l2"


def test_invalidate_and_clear_reach_another_process_memory(shop, make_cache):
    here, there = make_cache(), make_cache()  # two processes over one shop file
    put_order_answer(here, 11111, 1)
    put_order_answer(here, 22222, 2)
    put_shared(here, "contact hours")
    for text, customer in (("where is my order 11111", 1), ("where is my order 22222", 2)):
        assert there.lookup(text, customer).tier == "l2"  # now in `there`'s memory too
    here.invalidate(["order:11111"])
    assert there.lookup("where is my order 11111", 1) is None
    assert there.lookup("where is my order 22222", 2).tier == "l1"
    here.clear()
    assert there.lookup("where is my order 22222", 2) is None
    assert there.stats.l2_entries == 0


def test_a_customers_own_answer_wins_over_the_shared_one_read_from_l2(make_cache):
    here, there = make_cache(), make_cache()  # `there`'s L1 holds neither
    text = "where is my parcel"
    put_shared(here, text, "parcels ship in 2 days")
    here.store("per-customer", text, 7, answer="your parcel left today", intent="order_status",
               rule_id=None, route=Route.LLM, tags=[])
    assert there.lookup(text, 7).cached.answer == "your parcel left today"
    assert there.lookup(text, 8).cached.answer == "parcels ship in 2 days"
    assert there.stats.l2_hits == 2


def test_a_lookup_l1_misses_also_catches_up_with_another_process(shop, make_cache):
    here, there = make_cache(), make_cache()
    put_order_answer(here, 11111, 1)
    put_shared(here, "contact hours")
    assert there.lookup("where is my order 11111", 1).tier == "l2"  # in `there`'s L1 now
    here.invalidate(["order:11111"])
    # Another question, not in `there`'s L1: its read of L2 brings the log along.
    assert there.lookup("contact hours", None).tier == "l2"
    assert there.stats.invalidations == 1
    assert there.stats.l1_entries == 1
    assert there.lookup("where is my order 11111", 1) is None


class _SteppedL2:
    """A process's L2 a test steps into: `before_head` runs before each read of the log's
    head (an invalidation another process commits in between); any method can be
    replaced on the instance."""

    def __init__(self, inner: AnswerCacheRepository) -> None:
        self.inner = inner
        self.before_head: Callable[[], None] = lambda: None

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def log_head(self) -> int:
        self.before_head()
        return self.inner.log_head()


def test_an_answer_read_as_l1_starts_afresh_is_not_kept_past_a_later_invalidation(
        l2, clock, make_cache):
    here = make_cache()
    late = _SteppedL2(l2.open())
    there = AnswerCache(late, CacheSettings(), clock, CACHE_TAGS)
    try:
        here.clear()  # `there` starts L1 afresh at its next lookup
        put_shared(here, "contact hours", "9 to 5", tags=["faq:hours"])
        late.before_head = lambda: here.invalidate(["faq:hours"])
        assert there.lookup("contact hours", None).cached.answer == "9 to 5"
        late.before_head = lambda: None
        # The hours changed after that read: no process may answer with them again.
        assert there.lookup("contact hours", None) is None
    finally:
        there.close()


def test_an_entry_that_expires_while_l2_is_read_is_not_served(l2, clock, make_cache):
    put_shared(make_cache(), "contact hours", "9 to 5")  # lives 3600 s in L2
    slow = _SteppedL2(l2.open())

    def stalled(*args):
        found = slow.inner.log_and_entry(*args)
        clock.advance(3601)  # the link stalls past the entry's expiry
        return found

    slow.log_and_entry = stalled
    there = AnswerCache(slow, CacheSettings(), clock, CACHE_TAGS)
    try:
        assert there.lookup("contact hours", None) is None
        assert there.stats.l1_entries == 0
    finally:
        there.close()


def test_an_answer_computed_across_a_change_is_not_stored(settings, shop, make_cache):
    cache = make_cache()
    order_id, customer_id = an_order(shop)
    text = f"where is my order {order_id}"
    assert cache.lookup(text, customer_id) is None
    since = cache.position
    # The answer is being computed from the order as it was, when someone changes it.
    with another_connection(settings.shop_path) as other:
        other.execute("UPDATE orders SET carrier = 'DHL' WHERE id = ?", (order_id,))
    assert not put_order_answer(cache, order_id, customer_id, since=since)
    assert cache.lookup(text, customer_id) is None
    assert cache.stats.stale_skips == 1
    # An unrelated change does not stop it.
    since = cache.position
    with another_connection(settings.shop_path) as other:
        other.execute("UPDATE customers SET name = 'X' WHERE id = ?", (customer_id + 1,))
    assert put_order_answer(cache, order_id, customer_id, since=since)


def test_memory_that_fell_behind_a_pruned_log_starts_afresh(settings, shop, make_cache):
    behind = make_cache(log_keep=100)
    put_shared(behind, "contact hours")
    busy = make_cache(log_keep=100)  # another process invalidating a lot meanwhile
    for i in range(1, 301):
        busy.invalidate([f"customer:{i}"])
    make_cache(log_keep=100)  # opening prunes the log to its newest 100 rows
    # `behind` can no longer tell what changed: it empties its memory, L2 still answers.
    assert behind.lookup("contact hours", None).tier == "l2"


def test_the_change_log_and_its_triggers_install_once(settings, shop, make_cache):
    make_cache()
    make_cache()
    with another_connection(settings.shop_path) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert len(names) == len(set(names))
    assert "change_log_v1_orders_update" in names
    assert all(n.startswith("change_log_v1_") for n in names)
    assert "answer_cache" not in tables  # L2 is the engine database's


def test_a_shop_changed_while_no_engine_ran_drops_its_answers_at_the_next_start(
        l2, settings, shop, make_cache):
    first = make_cache()
    order_id, customer_id = an_order(shop)
    put_order_answer(first, order_id, customer_id)
    first.close()
    with another_connection(settings.shop_path) as other:  # an admin script, at night
        other.execute("UPDATE orders SET carrier = 'DHL' WHERE id = ?", (order_id,))
    again = make_cache()
    assert again.lookup(f"where is my order {order_id}", customer_id) is None
    assert l2.keys() == []


# -- the stale-credit story ------------------------------------------------------

def refund_status_answer(settings, shop: Shop, text: str, customer_id: int):
    data = yaml.safe_load((RESOURCES / "rules.yaml").read_text(encoding="utf-8"))
    router = Router([Rule.from_dict(r) for r in data["rules"]], shop_handlers(shop),
                    fragments=data["fragments"])
    match = router.route(text)
    assert match is not None
    assert match.rule.intent == "refund_status"
    answer = router.answer(match, HandlerContext(customer_id, match.groups))
    return match, answer


async def test_after_a_refund_the_next_question_sees_the_new_balance(settings, shop, make_cache):
    """A stale cached balance once refunded the same credit twice: after a refund,
    the customer's cached refund status must not be served again."""
    cache = make_cache()
    order_id, customer_id = an_order(shop)
    text = f"where is my refund for order {order_id}"

    def ask() -> str:
        hit = cache.lookup(text, customer_id)
        if hit is not None:
            return hit.cached.answer
        since = cache.position
        match, answer = refund_status_answer(settings, shop, text, customer_id)
        tags = rule_tags(match.rule, customer_id, match.groups, CACHE_TAGS)
        cache.store(match.rule.cache, text, customer_id, answer=answer, intent=match.rule.intent,
                    rule_id=match.rule.id, route=Route.RULE, tags=tags, since=since)
        return answer

    before = ask()
    assert "no refund" in before
    assert ask() == before and cache.stats.l1_hits == 1  # served from the cache

    ctx = ToolContext("req-refund-1", customer_id)
    result = await shop_registry(shop).call(
        "issue_refund", {"order_id": order_id, "amount": 12.5, "reason": "damaged"}, ctx,
        timeout=5)
    assert result["status"] == "issued"

    after = ask()
    assert after != before
    assert "$12.50" in after
    assert cache.stats.misses == 2  # recomputed, not served stale


# -- tags --------------------------------------------------------------------------

def test_rule_tags_name_what_the_handler_read():
    def rule(handler: str) -> Rule:
        return Rule(id="r", name="r", pattern="x", intent="i", handler=handler, template="t")

    assert rule_tags(rule("static"), 7, {}, CACHE_TAGS) == ["rule:r"]
    assert rule_tags(rule("refund_policy"), None, {}, CACHE_TAGS) == ["rule:r", "shop:catalog"]
    assert set(rule_tags(rule("order_status"), 7, {"order_id": "12345"}, CACHE_TAGS)) == {
        "rule:r", "shop:catalog", "customer:7", "order:12345"}
    assert rule_tags(rule("account_balance"), None, {}, CACHE_TAGS) is None
    assert rule_tags(rule("some_new_handler"), 7, {}, CACHE_TAGS) is None


def test_llm_tags_come_from_the_reads_and_refuse_writes_and_failures():
    reads = {"c1": {"tool": "get_order", "arguments": {"order_id": 12345}, "result": {}},
             "c2": {"tool": "search_faq", "arguments": {"query": "x"}, "result": {}},
             "refund_quote:12345": {"allowed_cents": 100}}
    # Read from the flat shape an older escalation context holds: calls and a quote.
    def tags(calls: dict) -> list[str] | None:
        return llm_tags(ToolResults.from_dict(calls), 7, CACHE_TAGS)

    assert set(tags(reads)) == {"order:12345", "customer:7", "shop:catalog", "shop:faq"}
    assert tags({}) == []
    wrote = reads | {"c3": {"tool": "issue_refund", "arguments": {"order_id": 12345},
                            "result": {}}}
    assert tags(wrote) is None
    failed = {"c1": {"tool": "get_order", "arguments": {"order_id": 12345}, "error": "timeout"}}
    assert tags(failed) is None
