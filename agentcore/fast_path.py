"""The fast path's answer to one request: a rule's handler and template, or the
learned tier's intent answered with its rule's template.

It answers only all of a message. One that also asks something else, or names
several records a handler reads one at a time, goes on to the LLM (`asks`); a
handler that takes several (`HandlerSpec.each`: the status of orders A, B and C)
answers each, in the order named, up to `MAX_EACH`. A handler that acts writes
through the domain's tools (`HandlerTools`); one that hands off gives the request
to the operators with its template as their draft.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from agentcore.asks import AskCues
from agentcore.errors import NeedsCustomer, NoDeterministicAnswer, ToolError
from agentcore.handler_tools import HandlerTools
from agentcore.handlers import HandlerContext
from agentcore.learned import LearnedTier, Prediction
from agentcore.models import EscalationReason, Outcome, Request, Route, Status
from agentcore.router import Router, RuleMatch
from agentcore.tool_results import ToolResults
from agentcore.tools import ToolContext, ToolRegistry
from agentcore.tracing import Trace

MAX_EACH = 10  # records one answer may go through; more is a list for a person


class FastPath:
    """`tool_timeout_s` is read per request: settings change while running."""

    def __init__(self, tools: ToolRegistry, asks: AskCues, learned: LearnedTier,
                 sign_in: str, tool_timeout_s: Callable[[], float]) -> None:
        self.tools = tools
        self.asks = asks
        self.learned = learned
        self.sign_in = sign_in
        self.tool_timeout_s = tool_timeout_s

    def by_intent(self, text: str, router: Router,
                  trace: Trace) -> tuple[Prediction, RuleMatch | None] | None:
        """The learned tier's intent, and the rule whose template answers it when the
        tier is sure enough (its version's threshold) and the intent has one answer."""
        prediction = self.learned.predict(text)
        if prediction is None:
            return None
        with trace.span("learned", intent=prediction.intent,
                        confidence=round(prediction.confidence, 3)) as span:
            threshold = self.learned.threshold or 1.0
            span.attributes["threshold"] = threshold
            if prediction.confidence < threshold:
                return prediction, None
            match = router.intent_match(prediction.intent, text)
            span.attributes["rule"] = match.rule.id if match else None
        return prediction, match

    async def answer(self, request: Request, text: str, router: Router, match: RuleMatch,
                     trace: Trace, route: Route = Route.RULE) -> tuple[Outcome, bool] | str:
        """The rule's answer and whether it may be cached (not a sign-in prompt, nor
        what a handler did by writing), or why it falls through to the LLM."""
        rule = match.rule
        with trace.span("template", rule=rule.id) as span:
            each, partial = self._each(text, router, match)
            if partial is not None:
                span.attributes["fallthrough"] = partial
                return f"{route} {rule.id} would half-answer: {partial}"
            results = ToolResults()
            tools = None
            if router.acts(match):
                tools = HandlerTools(self.tools, ToolContext(request.id, request.customer_id),
                                     self.tool_timeout_s(), trace, results)
            try:
                answers = [await router.respond(one, HandlerContext(
                    request.customer_id, one.groups, request.id, tools)) for one in each]
            except NeedsCustomer as exc:  # nobody's records for nobody: ask who it is
                span.attributes["fallthrough"] = str(exc)
                return Outcome(request, route, Status.ANSWERED, answer=self.sign_in,
                               intent=rule.intent, rule_id=rule.id, spans=trace.spans), False
            except (NoDeterministicAnswer, ToolError) as exc:
                span.attributes["fallthrough"] = str(exc)
                return f"{route} {rule.id} could not answer: {exc}"
            if len(each) > 1:
                span.attributes["each"] = len(each)
        answer = "\n".join(answers)
        if router.hands_off(match):  # what the customer asked for: a person, not an LLM
            reason = EscalationReason.CUSTOMER_ASKED_FOR_HUMAN
            return Outcome(request, route, Status.ESCALATED, draft_answer=answer,
                           intent=rule.intent, rule_id=rule.id, spans=trace.spans,
                           escalation_reason=reason,
                           errors=[f"{reason}: {route} {rule.id}"]), False
        outcome = Outcome(request, route, Status.ANSWERED, answer=answer, intent=rule.intent,
                          rule_id=rule.id, spans=trace.spans, tool_results=results)
        return outcome, tools is None and len(each) == 1

    def _each(self, text: str, router: Router,
              match: RuleMatch) -> tuple[list[RuleMatch], str | None]:
        """The matches to answer, one per record the message names (one, unless its
        handler takes several), or why answering would leave part of it unanswered."""
        each = [match]
        for group in match.groups:
            values = router.entity_values(text, group)
            if values is None or len(values) <= 1:
                continue
            named = f"the message names {len(values)} of {group} ({', '.join(values)})"
            if group not in router.takes_each(match) or len(each) > 1:
                return [], named
            if len(values) > MAX_EACH:
                return [], f"{named}: more than {MAX_EACH} for one answer"
            each = [replace(match, groups={**match.groups, group: value}) for value in values]
        others = self.asks.also_asked(text, match.rule.intent)
        if others:
            return [], f"the message also asks about {' and '.join(others)}"
        second = self.asks.second_question(text)
        if second is not None:
            return [], f"the message asks a second question ({second!r})"
        return each, None
