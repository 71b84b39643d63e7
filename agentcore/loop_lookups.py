"""What one run of the slow path knows from the tools, and the lookups the engine
makes itself, so a decision never depends on the model's diligence.

- A call the model repeats (same tool, same arguments) is answered from its first
  successful result; a failed call is tried again, since a write that failed may
  have committed (the domain's idempotent replay then says what it did) and a read
  that failed may work now.
- A successful write makes every earlier read stale: reads are forgotten, and the
  entity it wrote is looked up again, so its derived facts are recomputed.
- The domain's fact recipes (`Domain.facts`: the demo shop's refund quote) say which
  reads a fact needs, each called with the entity's key (`order_id`). The entities
  a message names (numbers valid as that key, and the customer's own) are looked
  up before the first turn; any entity a tool call names gets all its inputs
  fetched in the same turn. A fact is derived once all its inputs are known.
- The engine's lookups that failed for a reason other than "no such record of this
  customer's" are kept in the results, so an answer given while the backend was
  down is not cached.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

from agentcore.domain import FactRecipe
from agentcore.errors import RecordNotFound, ToolArgumentsError, ToolError
from agentcore.prompts import LOOKED_UP_PREFIX
from agentcore.tool_results import DerivedFact, ToolCallRecord, ToolResults
from agentcore.tools import ToolContext, ToolRegistry
from agentcore.tracing import Trace

_NUMBER = re.compile(r"(?<![\d.,])\d{1,12}(?![\d.,]\d)")
_MAX_CANDIDATES = 10  # numbers in one message checked for being the customer's records
_MAX_NAMED = 3  # of which at most this many are looked up in full
_MAX_FACTS_CHARS = 12_000  # the facts restated on the final turn; tool results are small

CallKey = tuple[str, str]
Wanted = tuple[FactRecipe, str, int]  # a recipe, one of its input tools, an entity


def call_key(name: str, args: dict[str, Any] | None) -> CallKey:
    return name, json.dumps(args, sort_keys=True, default=str)


class Lookups:
    def __init__(self, tools: ToolRegistry, ctx: ToolContext, recipes: Sequence[FactRecipe],
                 trace: Trace, tool_results: ToolResults, timeout_s: float) -> None:
        self.tools = tools
        self.ctx = ctx
        self.trace = trace
        self.results = tool_results  # the run's record: the trace, escalations, the cache
        self.timeout_s = timeout_s
        self.answered: dict[CallKey, dict[str, Any]] = {}  # successes only
        self.seen: dict[tuple[str, int], dict[str, Any]] = {}  # latest read per entity
        self.derived: set[tuple[str, int]] = set()  # (recipe kind, entity)
        # Facts are about a customer's records: none for a request without one.
        self.recipes = [r for r in recipes if ctx.customer_id is not None
                        and all(tools.has(n) for n in r.inputs)]

    # -- the model's calls ---------------------------------------------------------

    def known(self, name: str, args: dict[str, Any]) -> dict[str, Any] | None:
        return self.answered.get(call_key(name, args))

    def remember(self, name: str, args: dict[str, Any], result: dict[str, Any]) -> None:
        if self.tools.get(name).writes:
            self.answered = {k: v for k, v in self.answered.items()
                             if self.tools.get(k[0]).writes}
            for recipe in self.recipes:
                if recipe.key in args:
                    self._forget(recipe, int(args[recipe.key]))
        self.answered[call_key(name, args)] = result
        for recipe in self.recipes:
            if name in recipe.inputs and recipe.key in args:
                self.seen[(name, int(args[recipe.key]))] = result

    def _forget(self, recipe: FactRecipe, entity: int) -> None:
        for key in [k for k in self.seen if k[1] == entity and k[0] in recipe.inputs]:
            del self.seen[key]
        self.derived.discard((recipe.kind, entity))

    def needed(self, named_by_calls: list[dict[str, Any]], running: set[CallKey]
               ) -> list[Wanted]:
        """The facts' inputs not yet known for each entity this turn's calls name, less
        those the model is calling itself (`running`)."""
        wanted: list[Wanted] = []
        for recipe in self.recipes:
            entities = sorted({int(a[recipe.key]) for a in named_by_calls
                               if isinstance(a.get(recipe.key), int)})
            wanted += [(recipe, name, e) for e in entities for name in recipe.inputs
                       if (name, e) not in self.seen
                       and call_key(name, {recipe.key: e}) not in running]
        return wanted

    def refetch_after_write(self, name: str, args: dict[str, Any]) -> list[Wanted]:
        if not self.tools.get(name).writes:
            return []
        return [(recipe, n, int(args[recipe.key])) for recipe in self.recipes
                if recipe.key in args for n in recipe.inputs]

    # -- the engine's own lookups --------------------------------------------------------

    async def fetch(self, recipe: FactRecipe, name: str, entity: int) -> bool:
        """Looks `name` up for `entity`; False when it could not."""
        args = {recipe.key: entity}
        key = f"engine:{name}:{entity}"
        with self.trace.span(f"tool:{name}", parent="llm_loop", arguments=args,
                             by="engine") as span:
            self.tools.mark_server(span, name)
            try:
                result = await self.tools.call(name, args, self.ctx, self.timeout_s)
            except ToolError as exc:
                span.error = str(exc)
                if not isinstance(exc, RecordNotFound):  # the backend failed: say so
                    self.results.record(ToolCallRecord(key, name, args, error=str(exc),
                                                       by="engine"))
                return False
        self.remember(name, args, result)
        self.results.record(ToolCallRecord(key, name, args, result, by="engine"))  # moves last
        return True

    async def fetch_all(self, wanted: list[Wanted]) -> None:
        await asyncio.gather(*(self.fetch(recipe, name, e) for recipe, name, e in wanted))

    def _candidates(self, recipe: FactRecipe, text: str) -> list[int]:
        lookup = self.tools.get(recipe.inputs[0])
        found: list[int] = []
        for number in dict.fromkeys(_NUMBER.findall(text)):
            try:  # a number that is a valid key for the recipe's first tool
                found.append(int(lookup.parse(json.dumps({recipe.key: int(number)}))[
                    recipe.key]))
            except (ToolArgumentsError, KeyError, ValueError):
                continue
        return found[:_MAX_CANDIDATES]

    async def named_entities(self, text: str) -> str:
        """The customer's own records `text` names, looked up with their facts, as lines
        for the end of the system prompt ("" when there are none)."""
        lines = []
        for recipe in self.recipes:
            first, rest = recipe.inputs[0], recipe.inputs[1:]
            candidates = self._candidates(recipe, text)
            if len(candidates) <= _MAX_NAMED:  # the usual case: one round trip
                await self.fetch_all([(recipe, name, e) for e in candidates
                                      for name in recipe.inputs])
                owned = [e for e in candidates if (first, e) in self.seen]
            else:  # which are the customer's first, so a postcode cannot crowd out an order
                found = await asyncio.gather(*(self.fetch(recipe, first, e)
                                               for e in candidates))
                owned = [e for e, ok in zip(candidates, found, strict=True) if ok][:_MAX_NAMED]
                await self.fetch_all([(recipe, name, e) for e in owned for name in rest])
            lines += [{"tool": name, "arguments": {recipe.key: e}, "result": self.seen[(name, e)]}
                      for e in owned for name in recipe.inputs if (name, e) in self.seen]
        if not lines:
            return ""
        derived = [m["content"] for m in self.derive()]
        return ("\n" + LOOKED_UP_PREFIX + json.dumps(lines, default=str)
                + "".join(f"\n{d}" for d in derived))

    # -- what the model is told ------------------------------------------------------

    def derive(self) -> list[dict[str, Any]]:
        """The facts whose inputs have all arrived, as system messages."""
        messages = []
        for recipe in self.recipes:
            entities = {e for (name, e) in self.seen if name == recipe.inputs[0]}
            for entity in sorted(entities):
                if (recipe.kind, entity) in self.derived or not all(
                        (name, entity) in self.seen for name in recipe.inputs):
                    continue
                with self.trace.span(recipe.kind, parent="llm_loop",
                                     **{recipe.key: entity}) as span:
                    fact = recipe.derive(entity)
                    if fact is None:
                        continue
                    span.attributes.update({k: v for k, v in fact.items()
                                            if isinstance(v, int | float | str | bool)})
                self.derived.add((recipe.kind, entity))
                self.results.derive(DerivedFact(recipe.kind, entity, fact))
                messages.append({"role": "system",
                                 "content": recipe.prompt_prefix + json.dumps(fact, default=str)})
        return messages

    def facts(self) -> str:
        """What the tools said, the latest result of each call, derived facts first (a cut
        must not lose them), as JSON for the turn that closes the tools."""
        latest: dict[CallKey, dict[str, Any]] = {}
        for call in self.results:
            if call.by == "engine" and call.error is not None:
                continue
            key = call_key(call.tool, call.arguments)
            latest.pop(key, None)
            latest[key] = {k: v for k, v in call.as_dict().items()
                           if k in ("tool", "arguments", "result", "error")}
        text = json.dumps({"derived": [f.data for f in self.results.facts],
                           "facts": list(latest.values())}, default=str)
        return text if len(text) <= _MAX_FACTS_CHARS else text[:_MAX_FACTS_CHARS] + " …(cut)"
