"""Which entities an answer depends on: the tags it is stored with.

A tag names something whose change must drop the answer: `order:12345`,
`customer:42`, `shop:catalog` (products and categories), `shop:faq`, and
`rule:<id>` (an edited rule drops its answers). The shop's triggers emit the
same names (see `_sqlite.WATCHED`). When an answer's dependencies can't be
named, these return None and the answer is not cached: a miss costs a
recomputation, a wrong tag costs a stale answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentcore.cache._model import CATALOG_TAG, FAQ_TAG
from agentcore.router import Rule

# Rule handlers (agentcore.handlers) -> (whether they read the requesting
# customer's records, the tags of the shared data they read).
_RULE_HANDLERS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "static": (False, ()),
    "refund_policy": (False, (CATALOG_TAG,)),
    "order_status": (True, (CATALOG_TAG,)),  # shows the product name
    "latest_order_status": (True, (CATALOG_TAG,)),
    "refund_status": (True, (CATALOG_TAG,)),
    "account_balance": (True, ()),
}

# Read tools (agentcore.shop_tools) -> tags beyond the order/customer in their
# arguments. Write tools are absent on purpose: an answer whose path wrote is
# never cached, and neither is one that called a tool not listed here.
_READ_TOOLS: dict[str, tuple[str, ...]] = {
    "get_order": (CATALOG_TAG,),
    "get_payments": (),
    "get_refund_policy": (CATALOG_TAG,),
    "get_customer": (),
    "search_faq": (FAQ_TAG,),
}


def rule_tags(rule: Rule, customer_id: int | None, groups: Mapping[str, str]) -> list[str] | None:
    """Tags for a rule's answer, or None when it must not be cached."""
    known = _RULE_HANDLERS.get(rule.handler)
    if known is None:
        return None  # a handler added later: tell this table what it reads
    reads_customer, extra = known
    tags = [f"rule:{rule.id}", *extra]
    if reads_customer:
        if customer_id is None:
            return None
        tags.append(f"customer:{customer_id}")
    raw = groups.get("order_id")
    if raw is not None:
        if not raw.isdigit():
            return None
        tags.append(f"order:{int(raw)}")
    return tags


def llm_tags(tool_results: Mapping[str, Any], customer_id: int | None) -> list[str] | None:
    """Tags for an LLM answer from the tool calls of its loop (`LoopResult.tool_results`),
    or None when it must not be cached: a write tool ran, a tool failed, or a tool
    whose reads can't be named was used."""
    tags: list[str] = []
    for call in tool_results.values():
        if not isinstance(call, Mapping) or "tool" not in call:
            continue  # a refund quote: derived from reads already listed
        extra = _READ_TOOLS.get(call["tool"])
        if extra is None or "error" in call:
            return None
        arguments = call.get("arguments") or {}
        if "order_id" in arguments:
            tags.append(f"order:{int(arguments['order_id'])}")
        if "customer_id" in arguments:
            tags.append(f"customer:{int(arguments['customer_id'])}")
        tags.extend(extra)
    if customer_id is not None and any(t.startswith(("order:", "customer:")) for t in tags):
        tags.append(f"customer:{customer_id}")
    return list(dict.fromkeys(tags))
