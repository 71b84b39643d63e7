"""What one run of the slow path knows from the tools, and the lookups the engine
makes itself, so a decision never depends on the model's diligence.

- A call the model repeats (same tool, same arguments) is answered from its first
  successful result; a failed call is tried again, since a write that failed may
  have committed (the shop's idempotent replay then says what it did) and a read
  that failed may work now.
- A successful write makes every earlier read stale: reads are forgotten, and the
  order it wrote is looked up again, so its quote is recomputed.
- The orders a message names (numbers that are valid order ids and the customer's
  own) are looked up before the first turn; any order a tool call names gets its
  order, payments and refund policy fetched in the same turn. A refund quote is
  computed from the shop's data once all three are known.
- The engine's lookups that failed for a reason other than "no such order of this
  customer's" are kept in the results, so an answer given while the backend was
  down is not cached.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from agentcore.errors import RecordNotFound, ToolArgumentsError, ToolError
from agentcore.prompts import LOOKED_UP_PREFIX, REFUND_QUOTE_PREFIX
from agentcore.tools import ToolContext, ToolRegistry
from agentcore.tracing import Trace
from agentcore.validator import Validator

QUOTE_INPUTS = ("get_order", "get_payments", "get_refund_policy")
_NUMBER = re.compile(r"(?<![\d.,])\d{1,12}(?![\d.,]\d)")
_MAX_CANDIDATES = 10  # numbers in one message checked for being the customer's orders
_MAX_NAMED_ORDERS = 3  # of which at most this many are looked up in full
_MAX_FACTS_CHARS = 12_000  # the facts restated on the final turn; tool results are small

CallKey = tuple[str, str]


def call_key(name: str, args: dict[str, Any] | None) -> CallKey:
    return name, json.dumps(args, sort_keys=True, default=str)


class Lookups:
    def __init__(self, tools: ToolRegistry, ctx: ToolContext, validator: Validator,
                 trace: Trace, tool_results: dict[str, Any], timeout_s: float) -> None:
        self.tools = tools
        self.ctx = ctx
        self.validator = validator
        self.trace = trace
        self.results = tool_results  # the run's record: the trace, escalations, the cache
        self.timeout_s = timeout_s
        self.answered: dict[CallKey, dict[str, Any]] = {}  # successes only
        self.seen: dict[tuple[str, int], dict[str, Any]] = {}  # latest read per order
        self.quoted: set[int] = set()
        self.enabled = ctx.customer_id is not None and all(tools.has(n) for n in QUOTE_INPUTS)

    # -- the model's calls ---------------------------------------------------------

    def known(self, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
        return self.answered.get(call_key(name, args))

    def remember(self, name: str, args: dict[str, Any], result: dict[str, Any]) -> None:
        if self.tools.get(name).writes:
            self.answered = {k: v for k, v in self.answered.items()
                             if self.tools.get(k[0]).writes}
            if "order_id" in args:
                self._forget_order(int(args["order_id"]))
        self.answered[call_key(name, args)] = result
        if "order_id" in args:
            self.seen[(name, int(args["order_id"]))] = result

    def _forget_order(self, order_id: int) -> None:
        for key in [k for k in self.seen if k[1] == order_id]:
            del self.seen[key]
        self.quoted.discard(order_id)

    def needed(self, named_by_calls: list[dict[str, Any]], running: set[CallKey]
               ) -> list[tuple[str, int]]:
        """The quote's inputs not yet known for each order this turn's calls name, less
        those the model is calling itself (`running`)."""
        if not self.enabled:
            return []
        orders = sorted({int(a["order_id"]) for a in named_by_calls
                         if isinstance(a.get("order_id"), int)})
        return [(name, oid) for oid in orders for name in QUOTE_INPUTS
                if (name, oid) not in self.seen
                and call_key(name, {"order_id": oid}) not in running]

    def refetch_after_write(self, name: str, args: dict[str, Any]) -> list[tuple[str, int]]:
        if not (self.enabled and self.tools.get(name).writes and "order_id" in args):
            return []
        return [(n, int(args["order_id"])) for n in QUOTE_INPUTS]

    # -- the engine's own lookups --------------------------------------------------------

    async def fetch(self, name: str, order_id: int) -> bool:
        """Looks `name` up for `order_id`; False when it could not."""
        args = {"order_id": order_id}
        with self.trace.span(f"tool:{name}", parent="llm_loop", arguments=args,
                             by="engine") as span:
            try:
                result = await self.tools.call(name, args, self.ctx, self.timeout_s)
            except ToolError as exc:
                span.error = str(exc)
                if not isinstance(exc, RecordNotFound):  # the backend failed: say so
                    self.results[f"engine:{name}:{order_id}"] = {
                        "tool": name, "arguments": args, "error": str(exc), "by": "engine"}
                return False
        self.remember(name, args, result)
        key = f"engine:{name}:{order_id}"
        self.results.pop(key, None)  # re-inserted: the latest look comes last
        self.results[key] = {"tool": name, "arguments": args, "result": result, "by": "engine"}
        return True

    async def fetch_all(self, wanted: list[tuple[str, int]]) -> None:
        await asyncio.gather(*(self.fetch(name, oid) for name, oid in wanted))

    async def named_orders(self, text: str) -> str:
        """The customer's own orders `text` names, looked up with their quote, as lines for
        the end of the system prompt ("" when there are none)."""
        if not self.enabled:
            return ""
        lookup = self.tools.get(QUOTE_INPUTS[0])
        candidates: list[int] = []
        for number in dict.fromkeys(_NUMBER.findall(text)):
            try:  # a number that is a valid order id for the order tool
                candidates.append(int(lookup.parse(json.dumps({"order_id": int(number)}))[
                    "order_id"]))
            except (ToolArgumentsError, KeyError, ValueError):
                continue
        candidates = candidates[:_MAX_CANDIDATES]
        if len(candidates) <= _MAX_NAMED_ORDERS:  # the usual case: one round trip
            await self.fetch_all([(name, oid) for oid in candidates for name in QUOTE_INPUTS])
            owned = [oid for oid in candidates if (QUOTE_INPUTS[0], oid) in self.seen]
        else:  # which are the customer's first, so a postcode cannot crowd out the order
            found = await asyncio.gather(*(self.fetch(QUOTE_INPUTS[0], oid)
                                           for oid in candidates))
            owned = [oid for oid, ok in zip(candidates, found, strict=True) if ok]
            owned = owned[:_MAX_NAMED_ORDERS]
            await self.fetch_all([(name, oid) for oid in owned for name in QUOTE_INPUTS[1:]])
        if not owned:
            return ""
        facts = [{"tool": name, "arguments": {"order_id": oid}, "result": self.seen[(name, oid)]}
                 for oid in owned for name in QUOTE_INPUTS if (name, oid) in self.seen]
        quotes = [m["content"] for m in self.quotes()]
        return ("\n" + LOOKED_UP_PREFIX + json.dumps(facts, default=str)
                + "".join(f"\n{q}" for q in quotes))

    # -- what the model is told ------------------------------------------------------

    def quotes(self) -> list[dict[str, Any]]:
        """Refund quotes for orders whose order, payments and policy have all arrived."""
        messages = []
        orders = {oid for (name, oid) in self.seen if name == QUOTE_INPUTS[0]}
        for order_id in sorted(orders - self.quoted):
            if all((name, order_id) in self.seen for name in QUOTE_INPUTS):
                with self.trace.span("refund_quote", parent="llm_loop", order_id=order_id) as s:
                    quote = self.validator.quote(order_id)
                    if quote is None:
                        continue
                    s.attributes["allowed_cents"] = quote.allowed_cents
                self.quoted.add(order_id)
                key = f"refund_quote:{order_id}"
                self.results.pop(key, None)
                self.results[key] = quote.as_dict()
                messages.append({"role": "system",
                                 "content": REFUND_QUOTE_PREFIX + json.dumps(quote.as_dict())})
        return messages

    def facts(self) -> str:
        """What the tools said, the latest result of each call, quotes first (a cut must
        not lose them), as JSON for the turn that closes the tools."""
        latest: dict[CallKey, dict[str, Any]] = {}
        for record in self.results.values():
            if "tool" not in record or (record.get("by") == "engine" and "error" in record):
                continue
            key = call_key(record["tool"], record.get("arguments"))
            latest.pop(key, None)
            latest[key] = {k: v for k, v in record.items()
                           if k in ("tool", "arguments", "result", "error")}
        quotes = [q for k, q in self.results.items() if k.startswith("refund_quote:")]
        text = json.dumps({"refund_quotes": quotes, "facts": list(latest.values())},
                          default=str)
        return text if len(text) <= _MAX_FACTS_CHARS else text[:_MAX_FACTS_CHARS] + " …(cut)"
