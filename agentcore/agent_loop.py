"""The slow path: a bounded LLM loop with tools.

Bounds, all from settings: at most `max_iterations` decide calls; a dollar
ceiling checked BEFORE every call (prompt estimate + max_tokens at the stage's
price); a timeout per tool. An unknown tool ends the run; invalid arguments
and malformed output each get one corrective retry, then end it. Tool calls
returned in one turn run concurrently.

The loop does not rely on the model's diligence. A call it already made is
answered from its first result instead of running again. The last allowed turn
(or the turn after a reply with nothing in it) offers no tools: it asks for the
final answer, with the facts gathered so far restated (some servers render no
tool messages in a prompt without tools), in the JSON schema where the endpoint
takes one. Once an order is known, the engine itself fetches the order, its
payments and its refund policy, in parallel, so the refund quote is computed
from the shop's data whichever lookups the model made; every write holds
itself to its policy as it writes, and a write it refuses escalates with what
the policy allows, for an operator. A request without a customer is offered
only the tools that read nobody's records.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from agentcore.errors import (
    LLMError,
    ToolArgumentsError,
    ToolError,
    UnknownToolError,
    WriteRefused,
)
from agentcore.json_replies import answer_schema, classify_schema, parse_json_object
from agentcore.keyword_intents import classify as keyword_intent
from agentcore.llm import Completion, ToolCall, estimate_tokens
from agentcore.models import EscalationReason, PendingAction, Request, Usage
from agentcore.prompts import (
    CORRECTION_PREFIX,
    FINAL_TURN_PREFIX,
    INTENTS,
    LOOKED_UP_PREFIX,
    OPERATOR_NOTE_PREFIX,
    REFUND_QUOTE_PREFIX,
    Prompts,
)
from agentcore.resilience import BREAKER_OPEN, ResilientLLM
from agentcore.settings import Settings, StageModel
from agentcore.tools import ToolContext, ToolRegistry
from agentcore.tracing import Trace
from agentcore.validator import FinalAnswer, MalformedOutput, Validator

log = logging.getLogger("agentcore.loop")

QUOTE_INPUTS = ("get_order", "get_payments", "get_refund_policy")
CLASSIFY_SCHEMA = ("intent", classify_schema(INTENTS))
ANSWER_SCHEMA = ("final_answer", answer_schema(INTENTS))
_MAX_FACTS_CHARS = 12_000  # the facts restated on the final turn; tool results are small
_NUMBER = re.compile(r"(?<![\d.,])\d{1,12}(?![\d.,]\d)")
_MAX_NAMED_ORDERS = 3  # a message quoting a dozen numbers is not about a dozen orders


@dataclass(slots=True)
class LoopResult:
    intent: str | None = None
    answer: str = ""
    escalation: EscalationReason | None = None
    reason: str = ""
    pending_action: PendingAction | None = None
    draft: str | None = None
    tool_results: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    acted_before: bool = False  # a re-run told of its own earlier writes (not from a tool)
    out_of_turns: bool = False  # the last allowed turn came, with tools closed


def _unavailable(exc: LLMError) -> EscalationReason:
    return (EscalationReason.BREAKER_OPEN if exc.kind == BREAKER_OPEN
            else EscalationReason.LLM_UNAVAILABLE)


class _Escalate(Exception):
    def __init__(self, reason: EscalationReason, detail: str,
                 pending: PendingAction | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.pending = pending


class AgentLoop:
    def __init__(self, llm: ResilientLLM, tools: ToolRegistry, validator: Validator,
                 prompts: Prompts, settings: Settings) -> None:
        self.llm = llm
        self.tools = tools
        self.validator = validator
        self.prompts = prompts
        self.settings = settings

    async def run(self, request: Request, text: str, trace: Trace, usage: Usage,
                  deadline: float | None = None) -> LoopResult:
        """`deadline` is on the engine clock's monotonic scale; retries stop there."""
        run = _Run(self, request, text, trace, usage, deadline)
        try:
            await run.execute()
        except _Escalate as esc:
            run.result.escalation = esc.reason
            run.result.reason = esc.detail
            run.result.pending_action = esc.pending or _proposed_refund(esc.reason, run.result)
            run.result.errors.append(f"{esc.reason}: {esc.detail}")
        return run.result


# Bounds that stop a run between deciding and acting: what it had worked out still stands.
_CUT_SHORT = (EscalationReason.DOLLAR_CEILING, EscalationReason.ITERATION_LIMIT)


def _proposed_refund(reason: EscalationReason, result: LoopResult) -> PendingAction | None:
    """The refund a bound cut short, for an operator to approve.

    A refund request stopped by the dollar ceiling or the iteration limit after its
    quote was computed would have issued exactly what the quote allows next; the
    operator gets that write ready to approve (or edit, or deny) instead of
    re-deriving it from the trace. Only one refundable order: with several, which
    one the customer meant is the operator's call."""
    if (reason not in _CUT_SHORT and not result.out_of_turns) or (
            result.intent != "refund_request"):
        return None
    refunded = {int(r["arguments"]["order_id"]) for r in result.tool_results.values()
                if r.get("tool") == "issue_refund" and "result" in r}
    # An order refunded in this run is done, not waiting: the ceiling can fall between
    # the refund and the reply, and the quote still reads as money allowed.
    quotes = [q for key, q in result.tool_results.items()
              if key.startswith("refund_quote:") and q.get("allowed_cents", 0) > 0
              and int(q["order_id"]) not in refunded]
    if len(quotes) != 1:
        return None
    quote = quotes[0]
    why = f"refund request stopped by the {reason}; policy: {quote['reason']}"
    arguments = {"order_id": quote["order_id"], "amount": quote["allowed_dollars"],
                 "reason": why[:200]}
    return PendingAction("issue_refund", arguments, dict(quote))


class _Run:
    """The state of one request's loop; lives as long as the request."""

    def __init__(self, loop: AgentLoop, request: Request, text: str, trace: Trace,
                 usage: Usage, deadline: float | None) -> None:
        self.loop = loop
        self.deadline = deadline
        self.settings = loop.settings
        self.request = request
        self.text = text
        self.trace = trace
        self.usage = usage
        self.result = LoopResult()
        self.ctx = ToolContext(loop.validator.shop, request.id, request.customer_id,
                               loop.settings.shop_latency_ms / 1000)
        self.args_retry_left = 1
        self.output_retry_left = 1
        self.tool_failed = False
        self.quoted: set[int] = set()
        self.seen: dict[tuple[str, int], dict[str, Any]] = {}
        # Every call made, by tool and arguments: a repeat is answered from here.
        self.answered: dict[tuple[str, str], dict[str, Any]] = {}
        self.refused: list[tuple[ToolCall, dict[str, Any], WriteRefused]] = []
        self.tools, self.tools_chars = loop.tools.schemas_for(request.customer_id is not None)

    async def _call(self, stage: StageModel, messages: list[dict[str, Any]],
                    tools: list[dict[str, Any]] | None, span_name: str,
                    schema: tuple[str, dict[str, Any]] | None = None) -> Completion:
        max_tokens = self.settings.llm.max_tokens
        tools_chars = self.tools_chars if tools else 0
        estimate = stage.cost(estimate_tokens(messages, tools_chars), max_tokens)
        ceiling = self.settings.loop.dollar_ceiling
        if self.usage.dollars + estimate > ceiling:
            raise _Escalate(EscalationReason.DOLLAR_CEILING,
                            f"the next call could cost ${estimate:.4f}; ${self.usage.dollars:.4f}"
                            f" spent of a ${ceiling:.4f} ceiling")
        with self.trace.span(span_name, parent="llm_loop", model=stage.model) as span:
            span.attributes["tools_offered"] = len(tools or ())
            completion = await self.loop.llm.complete(
                stage, messages, tools, max_tokens, schema=schema, deadline=self.deadline,
                # A retry is another call: it must fit under the ceiling too.
                may_spend=lambda: self.usage.dollars + estimate <= ceiling)
            self.usage.add(completion.prompt_tokens, completion.completion_tokens,
                           completion.dollars)
            span.attributes.update(prompt_tokens=completion.prompt_tokens,
                                   completion_tokens=completion.completion_tokens,
                                   dollars=completion.dollars,
                                   tool_calls=[c.name for c in completion.tool_calls])
        return completion

    async def _classify(self) -> str | None:
        """The cheap model's intent; the keyword classifier's when there is no such stage
        or its reply is unusable (small models rarely write the JSON asked for)."""
        stage = self.settings.llm.classify
        if stage is not None:
            messages = [{"role": "system", "content": self.loop.prompts.classify},
                        {"role": "user", "content": self.text}]
            completion = await self._call(stage, messages, None, "classify", CLASSIFY_SCHEMA)
            try:
                intent = parse_json_object(completion.content).get("intent")
            except ValueError as exc:
                intent = None
                self.result.errors.append(f"classification unusable ({exc}): keyword intent")
            if intent in INTENTS:
                return str(intent)
            if intent is not None:
                self.result.errors.append(f"classification named no known intent "
                                          f"({str(intent)[:40]!r}): keyword intent")
        guess, _ = keyword_intent(self.text)
        return guess

    async def execute(self) -> None:
        try:
            intent = await self._classify()
        except LLMError as exc:
            raise _Escalate(_unavailable(exc), str(exc)) from None
        self.result.intent = intent
        system = self.loop.prompts.decide_for(intent, self.request.customer_id,
                                              self.ctx.shop.today.isoformat())
        system += await self._named_orders()
        messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                          {"role": "user", "content": self.text}]
        if self.request.note:
            messages.append({"role": "system",
                             "content": OPERATOR_NOTE_PREFIX + self.request.note})
        done = self.ctx.shop.actions_for(self.request.id)
        self.result.acted_before = bool(done)
        if done:  # a re-run after a crash: say what already happened, so it isn't re-decided
            messages.append({"role": "system", "content": "Already done for this request: "
                             + json.dumps([{"tool": a["tool"], "result": json.loads(a["result"])}
                                           for a in done])})
        stage = self.settings.llm.decide
        limit = self.settings.loop.max_iterations
        answer_now = False
        for iteration in range(1, limit + 1):
            final_turn = answer_now or iteration == limit or not self.tools
            if final_turn and self.tools and not answer_now:
                messages.append(self._final_turn_message())
                answer_now = self.result.out_of_turns = True
            try:
                completion = await self._call(stage, messages,
                                              None if final_turn else self.tools,
                                              f"llm[{iteration}]",
                                              ANSWER_SCHEMA if final_turn else None)
            except LLMError as exc:
                if exc.kind == "malformed" and self.output_retry_left:
                    self.output_retry_left -= 1
                    self.result.errors.append(str(exc))
                    continue
                reason = (EscalationReason.MALFORMED_OUTPUT if exc.kind == "malformed"
                          else _unavailable(exc))
                raise _Escalate(reason, str(exc)) from None
            messages.append(completion.as_message())
            if completion.tool_calls:
                if final_turn:  # asked for its answer with no tools on offer, it still calls
                    raise _Escalate(EscalationReason.ITERATION_LIMIT,
                                    f"no final answer after {iteration} LLM calls: asked for "
                                    "it without tools, the model still called "
                                    + ", ".join(c.name for c in completion.tool_calls))
                messages.extend(await self._run_tools(completion.tool_calls))
                messages.extend(self._quotes())
                continue
            if not final_turn and not (completion.content or "").strip():
                # Nothing to say with tools on offer (llama.cpp's handler writes no text
                # there): the next turn asks for the answer without them.
                self.result.errors.append(f"llm[{iteration}]: an empty reply with tools on "
                                          "offer; asked for the answer without them")
                messages.append(self._final_turn_message())
                answer_now = True
                continue
            if self._finish(completion.content, messages):
                return
        raise _Escalate(EscalationReason.ITERATION_LIMIT,
                        f"no final answer after {limit} LLM calls")

    async def _named_orders(self) -> str:
        """The customer's own orders the message names, looked up before the model's first
        turn (with their quote), as the prompt's last lines: a model that makes no lookup
        still decides on the shop's data, and one that repeats them gets these results."""
        if self.request.customer_id is None or not all(
                self.loop.tools.has(name) for name in QUOTE_INPUTS):
            return ""
        lookup = self.loop.tools.get(QUOTE_INPUTS[0])
        named: list[int] = []
        for number in dict.fromkeys(_NUMBER.findall(self.text)):
            try:  # a number that is a valid order id for the order tool
                named.append(int(lookup.parse(json.dumps({"order_id": int(number)}))[
                    "order_id"]))
            except (ToolArgumentsError, KeyError, ValueError):
                continue
        named = named[:_MAX_NAMED_ORDERS]
        await asyncio.gather(*(self._fetch(name, oid) for oid in named for name in QUOTE_INPUTS))
        owned = [oid for oid in named if (QUOTE_INPUTS[0], oid) in self.seen]
        if not owned:
            return ""
        facts = [{"tool": name, "arguments": {"order_id": oid}, "result": self.seen[(name, oid)]}
                 for oid in owned for name in QUOTE_INPUTS if (name, oid) in self.seen]
        quotes = [m["content"] for m in self._quotes()]
        return ("\n" + LOOKED_UP_PREFIX + json.dumps(facts, default=str)
                + "".join(f"\n{q}" for q in quotes))

    def _final_turn_message(self) -> dict[str, Any]:
        facts = [{k: v for k, v in r.items() if k in ("tool", "arguments", "result", "error")}
                 for r in self.result.tool_results.values() if "tool" in r]
        quotes = [q for k, q in self.result.tool_results.items() if k.startswith("refund_quote:")]
        text = json.dumps({"facts": facts, "refund_quotes": quotes}, default=str)
        if len(text) > _MAX_FACTS_CHARS:
            text = text[:_MAX_FACTS_CHARS] + " …(cut)"
        return {"role": "system", "content": FINAL_TURN_PREFIX + text}

    def _finish(self, content: str | None, messages: list[dict[str, Any]]) -> bool:
        """Accepts a final answer, or asks once for a corrected one (False)."""
        try:
            final = self.loop.validator.parse_final(content)
        except MalformedOutput as exc:
            self.result.errors.append(f"malformed output: {exc}")
            if not self.output_retry_left:
                self.result.draft = content
                raise _Escalate(EscalationReason.MALFORMED_OUTPUT, str(exc)) from None
            self.output_retry_left -= 1
            messages.append({"role": "user", "content": CORRECTION_PREFIX + str(exc)
                             + ". Reply again with the JSON object only."})
            return False
        self._accept(final)
        return True

    def _accept(self, final: FinalAnswer) -> None:
        self.result.intent = final.intent if final.intent in INTENTS else self.result.intent
        self.result.draft = final.answer
        if final.handoff:
            reason = (EscalationReason.TOOL_FAILED if self.tool_failed
                      else EscalationReason.CUSTOMER_ASKED_FOR_HUMAN
                      if "human" in final.handoff.lower()
                      # Handing off on the turn the bound closed the tools: it ran out.
                      else EscalationReason.ITERATION_LIMIT if self.result.out_of_turns
                      else EscalationReason.LOW_CONFIDENCE)
            raise _Escalate(reason, final.handoff)
        if final.confidence < self.settings.loop.min_confidence:
            raise _Escalate(EscalationReason.LOW_CONFIDENCE,
                            f"confidence {final.confidence:.2f} is below "
                            f"{self.settings.loop.min_confidence:.2f}")
        self.result.answer = final.answer

    async def _run_tools(self, calls: list[ToolCall]) -> list[dict[str, Any]]:
        """Checks every call of a turn, then runs the new ones concurrently, with the
        lookups a decision on any order they name needs."""
        registry = self.loop.tools
        prepared: list[tuple[ToolCall, dict[str, Any] | None, str | None]] = []
        bad_arguments = []
        for call in calls:
            try:
                tool = registry.get(call.name)
            except UnknownToolError as exc:
                raise _Escalate(EscalationReason.UNKNOWN_TOOL, str(exc)) from None
            try:
                args = tool.parse(call.arguments)
            except ToolArgumentsError as exc:
                bad_arguments.append(str(exc))
                prepared.append((call, None, f"invalid arguments: {exc}"))
                continue
            prepared.append((call, args, None))
        if bad_arguments:
            self.result.errors.extend(bad_arguments)
            if not self.args_retry_left:
                raise _Escalate(EscalationReason.INVALID_ARGUMENTS, "; ".join(bad_arguments))
            self.args_retry_left -= 1
        # One run per distinct call: a repeat (in this turn or an earlier one) shares it.
        runs: dict[tuple[str, str], asyncio.Task[dict[str, Any]]] = {}
        pending: list[asyncio.Task[dict[str, Any]]] = []
        for call, parsed, error in prepared:
            key = _call_key(call.name, parsed)
            if parsed is None or key in self.answered:
                pending.append(asyncio.ensure_future(self._repeat_or_error(call, parsed, error)))
            elif key in runs:
                pending.append(asyncio.ensure_future(self._shared(call, parsed, runs[key])))
            else:
                runs[key] = asyncio.ensure_future(self._run_tool(call, parsed))
                pending.append(runs[key])
        fetches = [self._fetch(name, oid) for name, oid in self._lookups_needed(prepared)]
        results, _ = await asyncio.gather(asyncio.gather(*pending), asyncio.gather(*fetches))
        if self.refused:  # held at the write: an operator decides, offered what policy allows
            call, args, refusal = self.refused[0]
            pending_action = None if refusal.offer is None else PendingAction(
                call.name, refusal.offer, refusal.limits, requested=args)
            raise _Escalate(EscalationReason.POLICY_VIOLATION, str(refusal), pending_action)
        return [{"role": "tool", "tool_call_id": c.id,
                 "content": json.dumps(r, default=str)}
                for (c, _, _), r in zip(prepared, results, strict=True)]

    def _lookups_needed(self, prepared: list[tuple[ToolCall, dict[str, Any] | None, str | None]]
                        ) -> list[tuple[str, int]]:
        """The quote's inputs not yet fetched for each order this turn's calls name."""
        if self.request.customer_id is None:
            return []  # nobody's orders: the lookups would be refused anyway
        orders = sorted({int(a["order_id"]) for _, a, _ in prepared
                         if a is not None and isinstance(a.get("order_id"), int)})
        asked = {_call_key(c.name, a) for c, a, _ in prepared if a is not None}
        return [(name, oid) for oid in orders for name in QUOTE_INPUTS
                if (name, oid) not in self.seen
                and _call_key(name, {"order_id": oid}) not in asked | self.answered.keys()]

    async def _fetch(self, name: str, order_id: int) -> None:
        """A lookup the engine makes itself: its result feeds the quote and answers the
        model's own call of it, but its failure is not the model's."""
        args = {"order_id": order_id}
        with self.trace.span(f"tool:{name}", parent="llm_loop", arguments=args,
                             by="engine") as span:
            try:
                result = await self.loop.tools.call(name, args, self.ctx,
                                                    self.settings.loop.tool_timeout_s)
            except ToolError as exc:
                span.error = str(exc)
                self.answered[_call_key(name, args)] = {"error": str(exc)}
                return
        self.seen[(name, order_id)] = result
        self.answered[_call_key(name, args)] = result
        self.result.tool_results[f"engine:{name}:{order_id}"] = {
            "tool": name, "arguments": args, "result": result, "by": "engine"}

    async def _repeat_or_error(self, call: ToolCall, args: dict[str, Any] | None,
                               error: str | None) -> dict[str, Any]:
        if args is None:  # arguments that did not parse
            return self._failed(call, args, error or "invalid arguments")
        result = self.answered[_call_key(call.name, args)]
        with self.trace.span(f"tool:{call.name}", parent="llm_loop", arguments=args,
                             repeated=True):
            pass
        self.result.tool_results[call.id] = {"tool": call.name, "arguments": args,
                                             **_outcome(result), "repeated": True}
        return result

    async def _shared(self, call: ToolCall, args: dict[str, Any],
                      run: asyncio.Task[dict[str, Any]]) -> dict[str, Any]:
        result = await run
        self.result.tool_results[call.id] = {"tool": call.name, "arguments": args,
                                             **_outcome(result), "repeated": True}
        return result

    async def _run_tool(self, call: ToolCall, args: dict[str, Any]) -> dict[str, Any]:
        key = _call_key(call.name, args)
        with self.trace.span(f"tool:{call.name}", parent="llm_loop") as span:
            span.attributes["arguments"] = args
            try:
                result = await self.loop.tools.call(call.name, args, self.ctx,
                                                    self.settings.loop.tool_timeout_s)
            except WriteRefused as exc:
                error = str(exc)
                self.refused.append((call, args, exc))
            except ToolError as exc:
                error = str(exc)
            else:
                self.answered[key] = result
                self.result.tool_results[call.id] = {"tool": call.name, "arguments": args,
                                                     "result": result}
                if "order_id" in args:
                    self.seen[(call.name, int(args["order_id"]))] = result
                return result
            span.error = error
        self.answered[key] = {"error": error}
        return self._failed(call, args, error)

    def _failed(self, call: ToolCall, args: dict[str, Any] | None, error: str) -> dict[str, Any]:
        self.tool_failed = True
        self.result.tool_results[call.id] = {"tool": call.name, "arguments": args,
                                             "error": error}
        return {"error": error}

    def _quotes(self) -> list[dict[str, Any]]:
        """Refund quotes for orders whose order, payments and policy have all arrived."""
        messages = []
        orders = {oid for (name, oid) in self.seen if name == "get_order"}
        for order_id in sorted(orders - self.quoted):
            if all((name, order_id) in self.seen for name in QUOTE_INPUTS):
                with self.trace.span("refund_quote", parent="llm_loop", order_id=order_id) as s:
                    quote = self.loop.validator.quote(order_id)
                    if quote is None:
                        continue
                    s.attributes["allowed_cents"] = quote.allowed_cents
                self.quoted.add(order_id)
                self.result.tool_results[f"refund_quote:{order_id}"] = quote.as_dict()
                messages.append({"role": "system",
                                 "content": REFUND_QUOTE_PREFIX + json.dumps(quote.as_dict())})
        return messages


def _call_key(name: str, args: dict[str, Any] | None) -> tuple[str, str]:
    return name, json.dumps(args, sort_keys=True, default=str)


def _outcome(result: dict[str, Any]) -> dict[str, Any]:
    """A repeated call's record: the first call's result, or its error."""
    if set(result) == {"error"}:
        return {"error": result["error"]}
    return {"result": result}
