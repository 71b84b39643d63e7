"""The demo shop, the request corpus, the default rules and their handlers agree.

The rules are read straight from resources/rules.yaml with yaml; their patterns,
with the file's named fragments expanded by the router's `expand`, are compiled
here with re2, so these tests pin down the data whatever else the router does.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import unicodedata
from collections import Counter
from datetime import date
from pathlib import Path
from string import Template
from typing import Any

import pytest
import re2
import yaml

from agentcore.demo_shop.corpusgen import generate_corpus
from agentcore.demo_shop.domain import RESOURCES
from agentcore.demo_shop.handlers import shop_handlers
from agentcore.demo_shop.policy import refund_quote
from agentcore.demo_shop.repository import Shop
from agentcore.demo_shop.shopgen import ensure_shop, generate_shop
from agentcore.errors import NoDeterministicAnswer
from agentcore.handlers import HandlerContext, money
from agentcore.router import Router, Rule, expand
from tests.routing import SHOP_HANDLERS

REPO = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 1)
INTENTS = {"order_status", "shipping_info", "refund_policy", "refund_status", "refund_request",
           "cancel_order", "billing", "password_reset", "account", "payment_methods",
           "technical", "human_request", "greeting", "contact", "other"}
TABLES = ("meta", "customers", "accounts", "categories", "products", "orders", "payments",
          "refunds", "faq")


@pytest.fixture(scope="module")
def shop_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "shop.sqlite"
    generate_shop(path)
    return path


@pytest.fixture(scope="module")
def corpus(shop_path: Path) -> list[dict[str, Any]]:
    return generate_corpus(shop_path)


@pytest.fixture
def shop(shop_path: Path) -> Any:
    s = Shop(shop_path)
    yield s
    s.close()


def _rule_file() -> dict[str, Any]:
    return yaml.safe_load((RESOURCES / "rules.yaml").read_text(encoding="utf-8"))


def _compile(pattern: str, fragments: dict[str, str], rule_id: str) -> Any:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    return re2.compile(expand(pattern, fragments, rule_id), options)


@pytest.fixture(scope="module")
def rules() -> list[tuple[dict[str, Any], Any]]:
    data = _rule_file()
    return [(r, _compile(r["pattern"], data["fragments"], r["id"]))
            for r in data["rules"] if r["enabled"]]


def _query(path: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {t: _query(path, f"SELECT * FROM {t} ORDER BY rowid") for t in TABLES}


def _normalise(text: str) -> str:
    # What the guard hands the router: NFKC, lowercase, whitespace collapsed.
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def _matches(rules: list[tuple[dict[str, Any], Any]], text: str) -> list[dict[str, Any]]:
    return [rule for rule, regex in rules if regex.search(_normalise(text))]


def _accepted(corpus: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in corpus if r["expected_route"] != "guard"]


# -- the shop --------------------------------------------------------------------


def test_the_same_seed_gives_the_same_shop(tmp_path: Path) -> None:
    generate_shop(tmp_path / "a.sqlite")
    generate_shop(tmp_path / "b.sqlite")
    generate_shop(tmp_path / "c.sqlite", seed=7)
    assert _dump(tmp_path / "a.sqlite") == _dump(tmp_path / "b.sqlite")
    assert _dump(tmp_path / "a.sqlite")["orders"] != _dump(tmp_path / "c.sqlite")["orders"]


def test_generating_again_replaces_the_old_shop(tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite"
    generate_shop(path, seed=7)
    generate_shop(path)
    assert _query(path, "SELECT value FROM meta WHERE key = 'seed'") == [("2026",)]


def test_ensure_shop_generates_only_when_missing(tmp_path: Path) -> None:
    path = ensure_shop(tmp_path / "sub" / "shop.sqlite")
    assert _query(path, "SELECT value FROM meta WHERE key = 'as_of'") == [(AS_OF.isoformat(),)]
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = 'kept' WHERE key = 'seed'")
    conn.close()
    ensure_shop(path)
    assert _query(path, "SELECT value FROM meta WHERE key = 'seed'") == [("kept",)]


def test_the_shop_is_big_and_varied_enough(shop_path: Path) -> None:
    counts = {t: _query(shop_path, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES}
    assert counts["customers"] >= 200 and counts["accounts"] == counts["customers"]
    assert counts["orders"] >= 1000 and counts["products"] >= 75 and counts["faq"] >= 20
    assert counts["categories"] == 8
    languages = Counter(dict(_query(shop_path, "SELECT language, COUNT(*) FROM customers "
                                               "GROUP BY language")))
    assert languages["en"] > counts["customers"] / 2 and {"de", "fr", "es"} <= languages.keys()
    statuses = {s for (s,) in _query(shop_path, "SELECT DISTINCT status FROM accounts")}
    assert statuses == {"active", "locked", "suspended"}
    assert _query(shop_path, "SELECT COUNT(*) FROM accounts WHERE store_credit_cents > 0")[0][0]
    emails = _query(shop_path, "SELECT email FROM customers")
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]+", e) for (e,) in emails)


def test_order_numbers_are_five_digits_and_not_sequential(shop_path: Path) -> None:
    ids = [i for (i,) in _query(shop_path, "SELECT id FROM orders ORDER BY id")]
    assert all(10000 <= i <= 99999 for i in ids) and ids[-1] - ids[0] > 50_000
    assert sum(b == a + 1 for a, b in itertools.pairwise(ids)) < len(ids) / 20


def test_order_dates_agree_with_status(shop_path: Path) -> None:
    rows = _query(shop_path, "SELECT o.status, o.placed_at, o.shipped_at, o.delivered_at, "
                             "o.carrier, o.tracking_number, "
                             "(SELECT COUNT(*) FROM refunds r WHERE r.order_id = o.id) "
                             "FROM orders o")
    assert {r[0] for r in rows} == {"processing", "shipped", "delivered", "cancelled",
                                    "returned"}
    for status, placed, shipped, delivered, carrier, tracking, refunds in rows:
        assert placed[:10] < AS_OF.isoformat()
        if status in ("processing", "cancelled"):
            assert (shipped, delivered, carrier, tracking) == (None, None, None, None)
            continue
        assert carrier and tracking and placed[:10] < shipped <= AS_OF.isoformat()
        if status == "shipped":
            assert delivered is None
        else:
            assert shipped <= delivered <= AS_OF.isoformat()
        if status == "returned":
            assert refunds >= 1


def test_delivered_orders_fall_inside_and_outside_their_refund_window(shop: Shop) -> None:
    allowed = Counter()
    for (oid,) in shop.conn.execute("SELECT o.id FROM orders o JOIN products p ON "
                                    "p.id = o.product_id WHERE o.status = 'delivered' AND "
                                    "p.category IN ('electronics', 'clothing', 'toys')"):
        quote = refund_quote(shop.get_order(oid), shop.get_payments(oid),
                             shop.get_refund_policy(oid), shop.today)
        allowed[quote.allowed_cents > 0] += 1
    assert allowed[True] >= 10 and allowed[False] >= 10


def test_payments_include_the_billing_problems(shop_path: Path) -> None:
    def count(sql: str) -> int:
        return _query(shop_path, f"SELECT COUNT(*) FROM ({sql})")[0][0]

    assert count("SELECT order_id FROM payments WHERE status = 'captured' "
                 "GROUP BY order_id HAVING COUNT(*) > 1") >= 3  # charged twice
    assert count("SELECT order_id FROM payments GROUP BY order_id "
                 "HAVING SUM(status = 'failed') > 0 AND SUM(status = 'captured') > 0") >= 3
    assert count("SELECT id FROM payments WHERE status = 'disputed'") >= 1
    assert count("SELECT r.id FROM refunds r JOIN orders o ON o.id = r.order_id "
                 "WHERE o.status = 'delivered'") >= 3  # partial refunds
    assert count("SELECT id FROM orders o WHERE NOT EXISTS "
                 "(SELECT 1 FROM payments p WHERE p.order_id = o.id)") == 0


# -- the corpus ------------------------------------------------------------------


def test_the_corpus_has_the_production_mix(corpus: list[dict[str, Any]]) -> None:
    assert len(corpus) == 600
    routes = Counter(r["expected_route"] for r in corpus)
    assert 0.70 <= routes["rule"] / (routes["rule"] + routes["llm"]) <= 0.80
    assert {r["expected_intent"] for r in _accepted(corpus)} == INTENTS
    assert {r["channel"] for r in corpus} == {"chat", "email", "web"}
    guard = [r["text"] for r in corpus if r["expected_route"] == "guard"]
    assert "" in guard and any(t and not t.strip() for t in guard)
    assert any(len(t) > 10_000 for t in guard) and any("\x00" in t for t in guard)
    assert all(r["expected_intent"] is None for r in corpus if r["expected_route"] == "guard")
    llm = [r["text"].lower() for r in corpus if r["expected_route"] == "llm"]
    assert any("ignore your rules" in t or "ignore all previous" in t for t in llm)
    assert any(w in t for t in llm for w in ("bestellung", "commande", "pedido"))
    assert all(len(r["text"]) < 4000 for r in _accepted(corpus))


def test_the_corpus_is_deterministic(shop_path: Path, corpus: list[dict[str, Any]]) -> None:
    assert generate_corpus(shop_path) == corpus
    assert generate_corpus(shop_path, seed=7) != corpus


def test_order_numbers_in_requests_belong_to_the_requester(
        shop_path: Path, corpus: list[dict[str, Any]]) -> None:
    owner = dict(_query(shop_path, "SELECT id, customer_id FROM orders"))
    quoted = 0
    for request in corpus:
        for number in re.findall(r"\b\d{5}\b", request["text"]):
            quoted += 1
            assert owner.get(int(number)) == request["customer_id"], request
    assert quoted >= 150


def test_the_committed_corpus_is_what_the_generator_writes(
        corpus: list[dict[str, Any]]) -> None:
    lines = (REPO / "data" / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == corpus  # binary ones included


# -- the default rules -----------------------------------------------------------


def test_every_rule_is_well_formed(rules: list[tuple[dict[str, Any], Any]]) -> None:
    ids = [r["id"] for r, _ in rules]
    assert len(ids) == len(set(ids)) and 15 <= len(ids) <= 25
    for rule, regex in rules:
        spec = SHOP_HANDLERS[rule["handler"]]
        template = Template(rule["template"])
        assert template.is_valid(), rule["id"]
        assert set(template.get_identifiers()) <= spec.fields, rule["id"]
        assert spec.needs <= set(regex.groupindex), rule["id"]
        assert rule["intent"] in INTENTS and rule["cache"] in ("shared", "per-customer",
                                                               "never")
        assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", rule["id"])


def test_the_rule_file_is_fragments_and_rules() -> None:
    data = _rule_file()
    assert set(data) == {"fragments", "rules"}
    fragments = data["fragments"]
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in fragments)
    assert all(isinstance(body, str) and body for body in fragments.values())
    texts = [r["pattern"] for r in data["rules"]] + list(fragments.values())
    used = {name for text in texts for name in re.findall(r"\{([a-z][a-z0-9_]*)\}", text)}
    assert used == set(fragments)  # every name is defined, and every fragment is used


def test_every_rule_pattern_is_one_short_line() -> None:
    for rule in _rule_file()["rules"]:
        assert len(rule["pattern"]) <= 200 and "\n" not in rule["pattern"], rule["id"]


def test_disabled_rules_still_compile() -> None:
    data = _rule_file()
    everything = [Rule.from_dict({**r, "enabled": True}) for r in data["rules"]]
    assert len(Router(everything, SHOP_HANDLERS, fragments=data["fragments"])) == len(everything)


def test_the_router_picks_the_same_winner_as_the_patterns(
        rules: list[tuple[dict[str, Any], Any]], corpus: list[dict[str, Any]]) -> None:
    data = _rule_file()
    router = Router([Rule.from_dict(r) for r in data["rules"]], SHOP_HANDLERS,
                    fragments=data["fragments"])
    for request in _accepted(corpus):
        text = _normalise(request["text"])
        hits = [(r, x) for r, x in rules if x.search(text)]
        match = router.route(text)
        assert (match is None) == (not hits), request
        if match is not None:
            assert set(match.matched) == {r["id"] for r, _ in hits}, request
            assert match.rule.priority == max(r["priority"] for r, _ in hits), request


def test_most_accepted_requests_match_a_rule(rules: list[tuple[dict[str, Any], Any]],
                                             corpus: list[dict[str, Any]]) -> None:
    accepted = _accepted(corpus)
    matched = sum(bool(_matches(rules, r["text"])) for r in accepted)
    assert matched / len(accepted) >= 0.70


def test_rule_requests_are_won_by_a_rule_of_their_intent(
        rules: list[tuple[dict[str, Any], Any]], corpus: list[dict[str, Any]]) -> None:
    for request in corpus:
        if request["expected_route"] != "rule":
            continue
        hits = _matches(rules, request["text"])
        assert hits, request
        top = max(h["priority"] for h in hits)
        assert {h["intent"] for h in hits if h["priority"] == top} == {
            request["expected_intent"]}, request


def test_llm_labelled_requests_a_rule_takes_get_the_labelled_intent(
        rules: list[tuple[dict[str, Any], Any]], corpus: list[dict[str, Any]]) -> None:
    # The corpus labels predate the rules that act (refunds, cancellations, reset links:
    # the rule's when the policy settles it, decided at run time), hand over to a person
    # and read other languages: those rules take some rows labelled for the LLM, and
    # each gives the labelled intent.
    taken = 0
    for request in corpus:
        if request["expected_route"] == "llm":
            matched = _matches(rules, request["text"])
            assert all(r["intent"] == request["expected_intent"] for r in matched), request
            taken += bool(matched)
    assert taken >= 15


def test_every_rule_request_gets_a_rendered_answer(
        rules: list[tuple[dict[str, Any], Any]], corpus: list[dict[str, Any]],
        shop: Shop) -> None:
    handlers = shop_handlers(shop)
    for request in corpus:
        if request["expected_route"] != "rule":
            continue
        text = _normalise(request["text"])
        winner, regex = max(((r, x) for r, x in rules if x.search(text)),
                            key=lambda rx: rx[0]["priority"])
        groups = {k: v for k, v in regex.search(text).groupdict().items() if v is not None}
        values = handlers[winner["handler"]].fn(HandlerContext(request["customer_id"], groups))
        answer = Template(winner["template"]).substitute(values)
        assert len(answer) > 20, request
        if "order_id" in groups:
            assert groups["order_id"] in answer


# -- the handlers ----------------------------------------------------------------


def _run(shop: Shop, handler: str, customer_id: int | None, **groups: str) -> dict:
    return shop_handlers(shop)[handler].fn(HandlerContext(customer_id, groups))


@pytest.mark.parametrize(("status", "says"), [
    ("processing", "has not shipped yet"), ("shipped", "shipped on"),
    ("delivered", "was delivered on"), ("cancelled", "was cancelled"),
    ("returned", "was returned")])
def test_order_status_names_the_orders_status(shop: Shop, status: str, says: str) -> None:
    oid, customer, carrier = shop.conn.execute(
        "SELECT id, customer_id, carrier FROM orders WHERE status = ? ORDER BY id LIMIT 1",
        (status,)).fetchone()
    values = _run(shop, "order_status", customer, order_id=str(oid))
    assert values["status"] == status
    assert says in values["status_line"] and str(oid) in values["status_line"]
    if status in ("shipped", "delivered"):
        assert carrier in values["status_line"] and values["tracking_number"]


def test_order_status_refuses_what_it_cannot_answer(shop: Shop) -> None:
    oid, owner = shop.conn.execute("SELECT id, customer_id FROM orders LIMIT 1").fetchone()
    unused = next(i for i in range(10000, 100000) if shop.get_order(i) is None)
    for customer, order_id in [(owner + 1, oid), (None, oid), (owner, unused)]:
        with pytest.raises(NoDeterministicAnswer):
            _run(shop, "order_status", customer, order_id=str(order_id))


def test_latest_order_status_is_the_most_recent_order(shop: Shop) -> None:
    customer, newest = shop.conn.execute(
        "SELECT customer_id, id FROM orders o WHERE placed_at = (SELECT MAX(placed_at) FROM "
        "orders WHERE customer_id = o.customer_id) ORDER BY customer_id LIMIT 1").fetchone()
    values = _run(shop, "latest_order_status", customer)
    assert values["order_id"] == str(newest)
    (idle,) = shop.conn.execute("SELECT id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM "
                                "orders o WHERE o.customer_id = c.id) LIMIT 1").fetchone()
    with pytest.raises(NoDeterministicAnswer):
        _run(shop, "latest_order_status", idle)


def test_refund_status_reports_what_was_refunded(shop: Shop) -> None:
    oid, customer, cents = shop.conn.execute(
        "SELECT o.id, o.customer_id, SUM(r.amount_cents) FROM orders o JOIN refunds r ON "
        "r.order_id = o.id WHERE o.status = 'returned' GROUP BY o.id LIMIT 1").fetchone()
    values = _run(shop, "refund_status", customer, order_id=str(oid))
    assert money(cents) in values["refund_line"] and values["refunded"] == money(cents)


def test_refund_policy_lists_every_category(shop: Shop) -> None:
    policy = _run(shop, "refund_policy", None)["policy_list"]
    assert "- Groceries: not refundable" in policy
    assert "- Electronics: 30 days after delivery, less a 10% restocking fee" in policy
    assert len(policy.splitlines()) == 8


def test_account_balance_shows_store_credit_in_dollars(shop: Shop) -> None:
    customer, cents = shop.conn.execute(
        "SELECT customer_id, store_credit_cents FROM accounts WHERE store_credit_cents > 0 "
        "ORDER BY customer_id LIMIT 1").fetchone()
    values = _run(shop, "account_balance", customer)
    assert values["store_credit"] == money(cents) and money(cents) in values["balance_line"]
    with pytest.raises(NoDeterministicAnswer):
        _run(shop, "account_balance", None)


def test_money_is_dollars_and_cents() -> None:
    assert [money(c) for c in (5, 1234, 123456789, -250)] == [
        "$0.05", "$12.34", "$1,234,567.89", "-$2.50"]
