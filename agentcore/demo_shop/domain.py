"""The demo shop as a `Domain`: orders, payments, refunds and accounts in SQLite.

Everything the engine knows of the shop comes through here: the tools and
handlers bound to one `Shop`, the refund quote the engine derives before any
refund is decided, the cache tags of what each handler and read depends on, the
customer's context and what is at stake in an escalation. The shop's writes hold
themselves to policy inside their own transactions (`Shop.issue_refund`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcore.demo_shop.change_log import CATALOG_TAG, FAQ_TAG, ShopChangeLog
from agentcore.demo_shop.handlers import shop_handlers
from agentcore.demo_shop.intents import INTENTS, KEYWORDS, intent_policies
from agentcore.demo_shop.repository import Shop
from agentcore.demo_shop.tools import recorded_write, shop_registry, write_limits
from agentcore.domain import (
    CacheTags,
    ChangeListener,
    ContextRecord,
    CustomerContext,
    FactRecipe,
    HandlerReads,
    Stake,
    WriteLimits,
)
from agentcore.models import PendingAction
from agentcore.router import CachePolicy
from agentcore.settings import REPO_ROOT

if TYPE_CHECKING:
    from agentcore.escalation_model import Escalation
    from agentcore.handlers import HandlerSpec
    from agentcore.settings import Settings
    from agentcore.tools import ToolRegistry

log = logging.getLogger("agentcore.demo_shop")

RESOURCES = Path(__file__).resolve().parent / "resources"
CORPUS = REPO_ROOT / "data" / "requests.jsonl"  # `make data` writes it
QUOTE_INPUTS = ("get_order", "get_payments", "get_refund_policy")
REFUND_QUOTE_PREFIX = "Refund quote: "

CACHE_TAGS = CacheTags(
    handlers={
        "static": HandlerReads(customer=False),
        "refund_policy": HandlerReads(customer=False, tags=(CATALOG_TAG,)),
        "order_status": HandlerReads(customer=True, tags=(CATALOG_TAG,)),  # the product name
        "latest_order_status": HandlerReads(customer=True, tags=(CATALOG_TAG,)),
        "refund_status": HandlerReads(customer=True, tags=(CATALOG_TAG,)),
        "account_balance": HandlerReads(customer=True),
    },
    read_tools={
        "get_order": (CATALOG_TAG,),
        "get_payments": (),
        "get_refund_policy": (CATALOG_TAG,),
        "get_customer": (),
        "search_faq": (FAQ_TAG,),
    },
    entities={"order_id": "order", "customer_id": "customer"},
)

_ORDER_COLUMNS = (("id", "Order"), ("product", "Product"), ("status", "Status"),
                  ("total_cents", "Total"), ("placed", "Placed"))


def _money(dollars: float) -> str:
    return f"{'-' if dollars < 0 else ''}${abs(dollars):,.2f}"


def orders_named(item: Escalation) -> list[int]:
    """The orders an escalation is about, in the order found: its pending write's, the
    ones the agent looked up or quoted, then numbers in the customer's text."""
    found: list[int] = []

    def add(value: Any) -> None:
        try:
            oid = int(value)
        except (TypeError, ValueError):
            return
        if oid not in found:
            found.append(oid)

    if item.pending_action is not None:
        add(item.pending_action.arguments.get("order_id"))
    for call in item.tool_results:
        add((call.arguments or {}).get("order_id"))
    for fact in item.tool_results.facts_of("refund_quote"):
        add(fact.data.get("order_id"))
    for number in re.findall(r"\b\d{3,9}\b", item.request.text):
        add(number)
    return found


def propose_refund(quote: dict[str, Any], why: str) -> PendingAction | None:
    """The refund a cut-short refund request would have issued next: what the quote
    allows, for an operator to approve; None when it allows nothing."""
    if quote.get("allowed_cents", 0) <= 0:
        return None
    reason = f"refund request {why}; policy: {quote['reason']}"
    arguments = {"order_id": quote["order_id"], "amount": quote["allowed_dollars"],
                 "reason": reason[:200]}
    return PendingAction("issue_refund", arguments, dict(quote))


def refund_stake(item: Escalation) -> Stake:
    """The money an item is about: what a refused write asked for, else a pending
    write's amount, else what the refund quotes allow, else the order's total the
    agent looked up."""
    pending = item.pending_action
    asked = (pending.requested or {}).get("amount") if pending is not None else None
    if isinstance(asked, int | float) and not isinstance(asked, bool):
        return Stake(f"{_money(float(asked))} asked", float(asked))  # refused: at issue
    if pending is not None and "amount" in pending.arguments:
        try:
            amount = float(pending.arguments["amount"])
        except (TypeError, ValueError):
            amount = None
        if amount is not None:
            return Stake(f"{_money(amount)} {pending.tool.removeprefix('issue_')}", amount)
    quotes = item.tool_results.facts_of("refund_quote")
    if quotes:
        amount = sum(q.data.get("allowed_cents", 0) for q in quotes) / 100
        return Stake(f"{_money(amount)} quoted", amount)
    for call in item.tool_results:
        if call.tool == "get_order" and call.result and "total_cents" in call.result:
            amount = call.result["total_cents"] / 100
            return Stake(f"{_money(amount)} order", amount)
    return Stake("—")


class DemoShop:
    """The bundled demo shop (a `Domain`). `shop` is the shop's own database."""

    name = "demo_shop"

    def __init__(self, settings: Settings, shop: Shop | None = None) -> None:
        if shop is None:
            from agentcore.demo_shop.shopgen import ensure_shop

            today = date.fromisoformat(settings.shop_today) if settings.shop_today else None
            shop = Shop(ensure_shop(settings.shop_path), today=today)
        self.shop = shop
        self._tools = shop_registry(shop, settings.shop_latency_ms / 1000)
        self._handlers = shop_handlers(shop)
        self._recorded = recorded_write(shop)
        self._limits = write_limits(shop)
        self._listeners: list[ChangeListener] = []
        shop.on_change(self._changed)
        # Any connection's writes, from the shop's triggers: an admin script's, another
        # process's, or those made while no engine ran.
        self._change_log = ShopChangeLog(shop.path)
        self._facts = (FactRecipe(
            "refund_quote", "order_id", QUOTE_INPUTS, self._quote, REFUND_QUOTE_PREFIX,
            intents=frozenset({"refund_request"}), propose=propose_refund),)

    # -- what the engine reads once --------------------------------------------

    @property
    def resources(self) -> Path:
        return RESOURCES

    @property
    def tools(self) -> ToolRegistry:
        return self._tools

    @property
    def handlers(self) -> Mapping[str, HandlerSpec]:
        return self._handlers

    @property
    def intents(self) -> Sequence[str]:
        return INTENTS

    @property
    def intent_policies(self) -> Mapping[str, CachePolicy]:
        return intent_policies()

    @property
    def keywords(self) -> Mapping[str, Mapping[str, float]]:
        return KEYWORDS

    @property
    def cache_tags(self) -> CacheTags:
        return CACHE_TAGS

    @property
    def facts(self) -> Sequence[FactRecipe]:
        return self._facts

    # -- per request ---------------------------------------------------------

    def today(self) -> date:
        return self.shop.today

    def _quote(self, order_id: int) -> dict[str, Any] | None:
        limits = self.shop.refund_limits(order_id)
        return None if limits is None else limits.quote.as_dict()

    def effects_of(self, request_id: str) -> list[dict[str, Any]]:
        return [{"tool": a["tool"], "result": json.loads(a["result"])}
                for a in self.shop.actions_for(request_id)]

    def recorded_write(self, tool: str, arguments: Mapping[str, Any],
                       request_id: str) -> dict[str, Any] | None:
        return self._recorded(tool, dict(arguments), request_id)

    def write_limits(self, tool: str, arguments: Mapping[str, Any]) -> WriteLimits | None:
        return self._limits(tool, dict(arguments))

    def customer_context(self, customer_id: int,
                         about: Escalation | None = None) -> CustomerContext | None:
        customer = self.shop.get_customer(customer_id)
        if customer is None:
            return None
        recent = self.shop.recent_orders(customer_id)
        orders = [o | {"placed": str(o.get("placed_at") or "")[:10]} for o in recent]
        wanted = orders_named(about) if about is not None else []
        items = []
        for oid in wanted:  # the request's orders first, with what was paid and refunded
            order = self.shop.get_order(oid)
            if order is None or order.get("customer_id") != customer_id:
                continue  # another customer's order: none of this one's business
            items.append(self._order_record(order, about=True))
        shown = {oid for oid in wanted}
        items.extend(self._order_record(o, about=False) for o in orders if o["id"] not in shown)
        since = str(customer.get("created_at") or "")[:10]
        return CustomerContext(
            f"Customer {customer_id}", customer, orders, _ORDER_COLUMNS,
            frozenset({"total_cents"}), name=customer.get("name"), tier=customer.get("tier"),
            since=date.fromisoformat(since) if since else None,
            credit_cents=customer.get("store_credit_cents"), items=tuple(items))

    def _order_record(self, order: Mapping[str, Any], *, about: bool) -> ContextRecord:
        placed = str(order.get("placed_at") or "")[:10]
        summary = " · ".join(str(part) for part in (
            order.get("product"), order.get("status"), f"placed {placed}" if placed else "")
            if part)
        figures: tuple[tuple[str, int], ...] = (("Total", int(order.get("total_cents") or 0)),)
        if about:
            limits = self.shop.refund_limits(int(order["id"]))
            if limits is not None:
                figures = (("Paid", limits.paid_cents), ("Refunded", limits.refunded_cents),
                           ("Policy allows", limits.quote.allowed_cents))
        return ContextRecord(f"Order #{order['id']}", summary, figures, about)

    def at_stake(self, item: Escalation) -> Stake:
        return refund_stake(item)

    def sample_requests(self) -> list[dict[str, Any]]:
        """The committed corpus beside a repository checkout, else one generated from
        the shop (an installed app has no repository beside it)."""
        from agentcore.replay import load_corpus

        if CORPUS.exists():
            return load_corpus(CORPUS)
        from agentcore.demo_shop.corpusgen import generate_corpus

        log.info("no corpus at %s: generating one from the demo shop", CORPUS)
        return generate_corpus(self.shop.path)

    # -- changes -------------------------------------------------------------

    def watch(self, listener: ChangeListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _changed(self, tags: list[str]) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(tags)
            except Exception:
                log.exception("change listener %r failed", listener)

    def change_log(self) -> ShopChangeLog:
        return self._change_log

    def close(self) -> None:
        self._change_log.close()
        self.shop.close()


def create(settings: Settings) -> DemoShop:
    """The entry point (`hybrid_agent.domains`: demo_shop)."""
    return DemoShop(settings)
