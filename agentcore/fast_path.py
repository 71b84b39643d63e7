"""The fast path's answer to one request: a rule's handler and template, or the
learned tier's intent answered with its rule's template.

It answers only all of a message. One that also asks something else, or names
several records a handler reads one at a time, goes on to the LLM (`asks`); a
handler that takes several (`HandlerSpec.each`: the status of orders A, B and C)
answers each, in the order named, up to `MAX_EACH`. A handler that acts writes
through the domain's tools (`HandlerTools`); one that hands off gives the request
to the operators with its template as their draft: once per customer while their
item waits, and never for an anonymous request (the agent answers those), since an
item that costs no LLM call is one a script could otherwise queue by the thousand.
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
# A customer asking for a person again while one already has their request.
ALREADY_WITH_A_PERSON = ("A colleague already has your earlier message and will reply here "
                         "shortly; there is no need to ask again.")


class FastPath:
    """`tool_timeout_s` is read per request: settings change while running."""

    def __init__(self, tools: ToolRegistry, asks: AskCues, learned: LearnedTier,
                 sign_in: str, tool_timeout_s: Callable[[], float],
                 waiting_hand_off: Callable[[int], int | None]) -> None:
        """`waiting_hand_off`: a customer's hand-off still in the operators' queue."""
        self.tools = tools
        self.waiting_hand_off = waiting_hand_off
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
            if not prediction.confidence >= threshold:  # NaN too: never sure
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
            if router.hands_off(match):
                refused = self._hand_off_refused(request, route, match, trace)
                if isinstance(refused, str):
                    span.attributes["fallthrough"] = refused
                elif refused is not None:
                    span.attributes["queued_already"] = True
                if refused is not None:
                    return refused
            taken_back = self.asks.retraction(text) if router.acts(match) else None
            if taken_back is not None:  # a write can't be taken back: the agent weighs it
                span.attributes["fallthrough"] = f"retraction {taken_back!r}"
                return (f"{route} {rule.id} acts, and the message may take its ask back "
                        f"({taken_back!r})")
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

    def _hand_off_refused(self, request: Request, route: Route, match: RuleMatch,
                          trace: Trace) -> tuple[Outcome, bool] | str | None:
        """Why a hand-off without an LLM is not queued: a customer whose earlier one
        still waits is told so (one item each, however often they ask); an anonymous
        request goes to the agent, as before the rule (nobody to count it by: a free
        queue item each would let one script fill the queue). None: queue it."""
        if request.customer_id is None:
            return (f"{route} {match.rule.id}: an anonymous request for a person goes to "
                    "the agent (the queue takes one per customer it can tell apart)")
        if self.waiting_hand_off(request.customer_id) is None:
            return None
        return Outcome(request, route, Status.ANSWERED, answer=ALREADY_WITH_A_PERSON,
                       intent=match.rule.intent, rule_id=match.rule.id,
                       spans=trace.spans), False

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
