"""The slow path: a bounded LLM loop with tools.

Bounds, all from settings: at most `max_iterations` decide calls; a dollar
ceiling checked BEFORE every call (prompt estimate + max_tokens at the stage's
price); a timeout per tool. An unknown tool ends the run; invalid arguments
and malformed output each get one corrective retry, then end it. Tool calls
returned in one turn run concurrently.

The loop does not rely on the model's diligence. What the tools said, and the
lookups the engine makes itself (the records a message or a call names, with
every read the domain's derived facts need, so a refund quote never depends on
which lookups the model made), live in `loop_lookups.Lookups`; a call the model repeats is
answered from there. The last allowed turn (or the turn after a reply with
nothing in it) offers no tools: it asks for the final answer, with the facts
restated (some servers render no tool messages in a prompt without tools), in
the JSON schema where the endpoint takes one. Every write holds itself to its
policy as it writes, and a write it refuses escalates with what the policy
allows, for an operator. A request without a customer is offered only the tools
that read nobody's records.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcore.errors import (
    LLMCause,
    LLMError,
    LLMErrorKind,
    MalformedOutput,
    ToolArgumentsError,
    ToolError,
    UnknownToolError,
    WriteRefused,
)
from agentcore.json_replies import answer_schema, classify_schema, parse_json_object
from agentcore.llm import Completion, ToolCall, estimate_tokens
from agentcore.loop_lookups import CallKey, Lookups, call_key
from agentcore.models import EscalationReason, PendingAction, Request, Usage
from agentcore.prompts import (
    CORRECTION_PREFIX,
    FINAL_TURN_PREFIX,
    OPERATOR_NOTE_PREFIX,
    Prompts,
)
from agentcore.resilience import ResilientLLM
from agentcore.settings import Settings, StageModel
from agentcore.tool_results import ToolCallRecord, ToolResults
from agentcore.tools import ToolContext, ToolRegistry
from agentcore.tracing import Trace
from agentcore.validator import FinalAnswer, Validator

if TYPE_CHECKING:
    from agentcore.domain import Domain, FactRecipe

log = logging.getLogger("agentcore.loop")

Classify = Callable[[str], tuple[str, float]]  # text -> (intent, confidence)


@dataclass(slots=True)
class LoopResult:
    intent: str | None = None
    answer: str = ""
    escalation: EscalationReason | None = None
    reason: str = ""
    pending_action: PendingAction | None = None
    draft: str | None = None
    tool_results: ToolResults = field(default_factory=ToolResults)
    errors: list[str] = field(default_factory=list)
    acted_before: bool = False  # a re-run told of its own earlier writes (not from a tool)
    out_of_turns: bool = False  # the last allowed turn came, with tools closed
    cause: LLMCause | None = None  # the LLM could not be had: why, in an operator's words


class _Escalate(Exception):
    def __init__(self, reason: EscalationReason, detail: str,
                 pending: PendingAction | None = None, cause: LLMCause | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.pending = pending
        self.cause = cause


def _unavailable(exc: LLMError) -> _Escalate:
    """The LLM could not be had. The reason stays one of the two stored ones (the
    queue's filter and old rows know them); the cause says which outage it is."""
    reason = (EscalationReason.BREAKER_OPEN if exc.kind is LLMErrorKind.BREAKER_OPEN
              else EscalationReason.LLM_UNAVAILABLE)
    detail = str(exc).removeprefix(f"{exc.kind}: ")
    return _Escalate(reason, detail, cause=exc.cause)


class AgentLoop:
    def __init__(self, llm: ResilientLLM, tools: ToolRegistry, validator: Validator,
                 prompts: Prompts, settings: Settings, *, domain: Domain,
                 classify: Classify) -> None:
        """`tools` are the domain's (or an embedder's own); `classify` is the keyword
        intent the loop falls back on when the cheap model's reply is unusable."""
        self.llm = llm
        self.tools = tools
        self.validator = validator
        self.prompts = prompts
        self.settings = settings
        self.domain = domain
        self.classify = classify
        self.intents = tuple(domain.intents)
        self.classify_schema = ("intent", classify_schema(self.intents))
        self.answer_schema = ("final_answer", answer_schema(self.intents))

    async def run(self, request: Request, text: str, trace: Trace, usage: Usage,
                  deadline: float | None = None, intent: str | None = None) -> LoopResult:
        """`deadline` is on the engine clock's monotonic scale; retries stop there.
        `intent`: what the engine already knows locally (a rule that matched, the
        learned tier, the keywords); the classify call is made only without it."""
        run = _Run(self, request, text, trace, usage, deadline, intent)
        try:
            await run.execute()
        except _Escalate as esc:
            run.result.escalation = esc.reason
            run.result.reason = esc.detail
            run.result.cause = esc.cause
            run.result.pending_action = esc.pending or _proposed_action(
                esc.reason, run.result, self.domain.facts, self.tools)
            # "llm unavailable (no API key): ..." where the LLM could not be had.
            why = f"{esc.reason} ({esc.cause})" if esc.cause else str(esc.reason)
            run.result.errors.append(f"{why}: {esc.detail}")
        return run.result


# Bounds that stop a run between deciding and acting: what it had worked out still stands.
_CUT_SHORT = (EscalationReason.DOLLAR_CEILING, EscalationReason.ITERATION_LIMIT)


def _proposed_action(reason: EscalationReason, result: LoopResult,
                     recipes: Sequence[FactRecipe], tools: ToolRegistry) -> PendingAction | None:
    """The write a bound cut short, for an operator to approve.

    A request stopped by the dollar ceiling or the iteration limit after a fact was
    derived (a refund quote) would have acted on it next; the operator gets that
    write ready to approve (or edit, or deny) instead of re-deriving it from the
    trace. Only one candidate: with several, which one the customer meant is the
    operator's call."""
    if reason not in _CUT_SHORT:
        return None
    proposals = []
    for recipe in recipes:
        if recipe.propose is None or result.intent not in recipe.intents:
            continue
        # An entity written in this run is done, not waiting: the ceiling can fall
        # between the write and the reply, and the fact still reads as allowed.
        written = {c.arguments.get(recipe.key) for c in result.tool_results
                   if c.ok and c.arguments and tools.has(c.tool) and tools.get(c.tool).writes}
        for fact in result.tool_results.facts_of(recipe.kind):
            if fact.entity in written:
                continue
            proposal = recipe.propose(fact.data, f"stopped by the {reason}")
            if proposal is not None:
                proposals.append(proposal)
    return proposals[0] if len(proposals) == 1 else None


class _Run:
    """The state of one request's loop; lives as long as the request."""

    def __init__(self, loop: AgentLoop, request: Request, text: str, trace: Trace,
                 usage: Usage, deadline: float | None, known_intent: str | None) -> None:
        self.loop = loop
        self.known_intent = known_intent if known_intent in loop.intents else None
        self.deadline = deadline
        self.settings = loop.settings
        self.request = request
        self.text = text
        self.trace = trace
        self.usage = usage
        self.result = LoopResult()
        self.ctx = ToolContext(request.id, request.customer_id)
        self.args_retry_left = 1
        self.output_retry_left = 1
        self.tool_failed = False
        self.lookups = Lookups(loop.tools, self.ctx, loop.domain.facts, trace,
                               self.result.tool_results, loop.settings.loop.tool_timeout_s)
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
            completion = await self._call(stage, messages, None, "classify",
                                          self.loop.classify_schema)
            try:
                intent = parse_json_object(completion.content, quoted=self.text).get("intent")
            except ValueError as exc:
                intent = None
                self.result.errors.append(f"classification unusable ({exc}): keyword intent")
            if intent in self.loop.intents:
                return str(intent)
            if intent is not None:
                self.result.errors.append(f"classification named no known intent "
                                          f"({str(intent)[:40]!r}): keyword intent")
        guess, _ = self.loop.classify(self.text)
        return guess

    async def execute(self) -> None:
        # The decide model states the intent in its answer; the cheap model's call only
        # names one up front where nothing local did.
        intent = self.known_intent
        if intent is None:
            try:
                intent = await self._classify()
            except LLMError as exc:
                raise _unavailable(exc) from None
        self.result.intent = intent
        system = self.loop.prompts.decide_for(intent, self.request.customer_id,
                                              self.loop.domain.today().isoformat())
        system += await self.lookups.named_entities(self.text)
        messages: list[dict[str, Any]] = [{"role": "system", "content": system},
                                          {"role": "user", "content": self.text}]
        if self.request.note:
            messages.append({"role": "system",
                             "content": OPERATOR_NOTE_PREFIX + self.request.note})
        done = self.loop.domain.effects_of(self.request.id)
        self.result.acted_before = bool(done)
        if done:  # a re-run after a crash: say what already happened, so it isn't re-decided
            messages.append({"role": "system", "content": "Already done for this request: "
                             + json.dumps([{"tool": a["tool"], "result": a["result"]}
                                           for a in done], default=str)})
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
                                              self.loop.answer_schema if final_turn else None)
            except LLMError as exc:
                if exc.kind is LLMErrorKind.MALFORMED and self.output_retry_left:
                    self.output_retry_left -= 1
                    self.result.errors.append(str(exc))
                    continue
                if exc.kind is LLMErrorKind.MALFORMED:
                    raise _Escalate(EscalationReason.MALFORMED_OUTPUT, str(exc)) from None
                raise _unavailable(exc) from None
            messages.append(completion.as_message())
            if completion.tool_calls:
                if final_turn:  # asked for its answer with no tools on offer, it still calls
                    raise _Escalate(EscalationReason.ITERATION_LIMIT,
                                    f"no final answer after {iteration} LLM calls: asked for "
                                    "it without tools, the model still called "
                                    + ", ".join(c.name for c in completion.tool_calls))
                messages.extend(await self._run_tools(completion.tool_calls))
                messages.extend(self.lookups.derive())
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

    def _final_turn_message(self) -> dict[str, Any]:
        return {"role": "system", "content": FINAL_TURN_PREFIX + self.lookups.facts()}

    def _finish(self, content: str | None, messages: list[dict[str, Any]]) -> bool:
        """Accepts a final answer, or asks once for a corrected one (False)."""
        try:
            final = self.loop.validator.parse_final(content, quoted=self.text)
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
        self.result.intent = (final.intent if final.intent in self.loop.intents
                              else self.result.intent)
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
        runs: dict[CallKey, asyncio.Task[dict[str, Any]]] = {}
        pending: list[asyncio.Task[dict[str, Any]]] = []
        for call, parsed, error in prepared:
            key = call_key(call.name, parsed)
            if parsed is None:
                pending.append(asyncio.ensure_future(self._invalid(call, error)))
            elif (known := self.lookups.known(call.name, parsed)) is not None:
                pending.append(asyncio.ensure_future(self._repeat(call, parsed, known)))
            elif key in runs:
                pending.append(asyncio.ensure_future(self._shared(call, parsed, runs[key])))
            else:
                runs[key] = asyncio.ensure_future(self._run_tool(call, parsed))
                pending.append(runs[key])
        wanted = self.lookups.needed([a for _, a, _ in prepared if a is not None], set(runs))
        results, _ = await asyncio.gather(asyncio.gather(*pending),
                                          self.lookups.fetch_all(wanted))
        if self.refused:  # held at the write: an operator decides, offered what policy allows
            call, args, refusal = self.refused[0]
            pending_action = None if refusal.offer is None else PendingAction(
                call.name, refusal.offer, refusal.limits, requested=args,
                tool_version=self.loop.tools.version_of(call.name))
            raise _Escalate(EscalationReason.POLICY_VIOLATION, str(refusal), pending_action)
        return [{"role": "tool", "tool_call_id": c.id,
                 "content": json.dumps(r, default=str)}
                for (c, _, _), r in zip(prepared, results, strict=True)]

    async def _invalid(self, call: ToolCall, error: str | None) -> dict[str, Any]:
        return self._failed(call, None, error or "invalid arguments")

    async def _repeat(self, call: ToolCall, args: dict[str, Any],
                      result: dict[str, Any]) -> dict[str, Any]:
        with self.trace.span(f"tool:{call.name}", parent="llm_loop", arguments=args,
                             repeated=True, call_id=call.id) as span:
            self.loop.tools.mark_server(span, call.name)
        self.result.tool_results.record(ToolCallRecord(call.id, call.name, args, result,
                                                       repeated=True))
        return result

    async def _shared(self, call: ToolCall, args: dict[str, Any],
                      run: asyncio.Task[dict[str, Any]]) -> dict[str, Any]:
        result = await run
        first = self.lookups.known(call.name, args)
        self.result.tool_results.record(ToolCallRecord(
            call.id, call.name, args, first,
            None if first is not None else result.get("error"), repeated=True))
        return result

    async def _run_tool(self, call: ToolCall, args: dict[str, Any]) -> dict[str, Any]:
        error: str | None
        with self.trace.span(f"tool:{call.name}", parent="llm_loop", call_id=call.id) as span:
            span.attributes["arguments"] = args
            self.loop.tools.mark_server(span, call.name)
            try:
                result = await self.loop.tools.call(call.name, args, self.ctx,
                                                    self.settings.loop.tool_timeout_s)
            except WriteRefused as exc:
                error = str(exc)
                self.refused.append((call, args, exc))
            except ToolError as exc:
                error = str(exc)
            else:
                error = None
                self.lookups.remember(call.name, args, result)
                self.result.tool_results.record(ToolCallRecord(call.id, call.name, args,
                                                               result))
            span.error = error
        if error is not None:
            return self._failed(call, args, error)
        # What a write changed, looked up again: the next turn's facts are fresh.
        await self.lookups.fetch_all(self.lookups.refetch_after_write(call.name, args))
        return result

    def _failed(self, call: ToolCall, args: dict[str, Any] | None, error: str) -> dict[str, Any]:
        self.tool_failed = True
        self.result.tool_results.record(ToolCallRecord(call.id, call.name, args, error=error))
        return {"error": error}


