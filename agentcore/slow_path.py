"""The slow path: a request no rule or learned intent answered goes to the bounded LLM
loop with the domain's tools; when the LLM can't be had, the degradation ladder
answers what it can, or a human does, told the cause.

The engine holds one `SlowPath`. Its agent loop (and the openai client under it) is
built on first need, so a fast-path-only process and the cold start never pay for the
SDK; new settings retire it, and requests in flight finish on the loop they started
with, closed at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from agentcore.agent_loop import AgentLoop, LoopResult
from agentcore.domain import Domain
from agentcore.errors import LLMCause
from agentcore.keyword_intents import KeywordClassifier
from agentcore.ladder import Ladder
from agentcore.learned import Prediction
from agentcore.models import EscalationReason, Outcome, Request, Status
from agentcore.prompts import Prompts
from agentcore.redaction import redact
from agentcore.resilience import CircuitBreaker, ResilientLLM
from agentcore.router import RuleMatch
from agentcore.settings import Settings
from agentcore.tools import ToolRegistry
from agentcore.tracing import Trace
from agentcore.validator import Validator

if TYPE_CHECKING:
    import openai

    from agentcore.clock import Clock
    from agentcore.credentials import KeyringCredentials

log = logging.getLogger("agentcore.engine")

# A keyword guess this sure (a cue with a clear lead: keyword_intents' scale) names the
# intent for the decide prompt, sparing the classify call; the decide model still
# states the intent it answered.
KEYWORD_INTENT_CONFIDENCE = 0.7
# The learned tier's calibrated confidence that names the intent for the decide prompt
# when it is below the threshold at which the tier answers alone.
LEARNED_INTENT_CONFIDENCE = 0.5


class SlowPath:
    def __init__(self, settings: Settings, *, tools: ToolRegistry, domain: Domain,
                 prompts: Prompts, classifier: KeywordClassifier, breaker: CircuitBreaker,
                 ladder: Ladder, clock: Clock, openai_client: openai.AsyncOpenAI | None,
                 credentials: KeyringCredentials | None,
                 client_factory: Callable[[Settings], openai.AsyncOpenAI] | None) -> None:
        """`openai_client` serves the first settings only (tests); `client_factory`
        builds a client for any settings (default: the keyring and `base_url`)."""
        self.settings = settings
        self.validator = Validator()
        self._tools = tools
        self._domain = domain
        self._prompts = prompts
        self._classifier = classifier
        self._breaker = breaker
        self._ladder = ladder
        self._clock = clock
        self._openai_client = openai_client
        self._credentials = credentials
        self._client_factory = client_factory
        self._loop: AgentLoop | None = None  # built on first slow-path request
        self._retired: list[AgentLoop] = []  # replaced by new settings, closed at the end

    @property
    def agent_loop(self) -> AgentLoop:
        # The openai SDK is imported on first need: a fast-path-only process
        # (and the cold start) never pays for it.
        if self._loop is None:
            from agentcore.llm import LLMClient, build_client

            if self._openai_client is not None:
                client = self._openai_client
            elif self._client_factory is not None:
                client = self._client_factory(self.settings)
            else:
                client = build_client(self.settings, self._credentials)
            inner = LLMClient(client, structured_output=self.settings.llm.structured_output)
            llm = ResilientLLM(inner, self.settings.resilience, clock=self._clock,
                               breaker=self._breaker)
            self._loop = AgentLoop(llm, self._tools, self.validator, self._prompts,
                                   self.settings, domain=self._domain,
                                   classify=self._classifier.classify)
        return self._loop

    def configure(self, settings: Settings) -> None:
        """The next LLM call uses a new client built from `settings`; requests in flight
        keep the loop they have (closed at shutdown)."""
        old_loop, self._loop = self._loop, None
        self.settings = settings
        self._openai_client = None  # an injected client belongs to the old settings
        if old_loop is not None:
            self._retired.append(old_loop)

    async def close(self) -> None:
        for loop in [*self._retired, *([self._loop] if self._loop else [])]:
            await loop.llm.close()

    def local_intent(self, text: str, match: RuleMatch | None,
                     learned: Prediction | None) -> tuple[str | None, str]:
        """The intent the engine knows without an LLM call, and from what: the rule
        that matched and could not answer, the learned tier below its threshold but
        still fairly sure, else the domain's keywords when they name one clearly.
        (None, "classify") when only the cheap model can say."""
        if match is not None:
            return match.rule.intent, "rule"
        if learned is not None and learned.confidence >= LEARNED_INTENT_CONFIDENCE:
            return learned.intent, "learned"
        guess, confidence = self._classifier.classify(text)
        if guess != self._classifier.fallback and confidence >= KEYWORD_INTENT_CONFIDENCE:
            return guess, "keywords"
        return None, "classify"

    async def run(self, request: Request, text: str, trace: Trace, outcome: Outcome,
                  deadline: float | None, intent: str | None) -> LoopResult:
        """The agent loop over `text`, its result taken into `outcome`."""
        result = await self._run_loop(request, text, trace, outcome, deadline, intent)
        outcome.intent = result.intent
        outcome.errors.extend(result.errors)
        outcome.tool_results = result.tool_results
        outcome.draft_answer = result.draft
        if result.escalation is not None:
            outcome.status = Status.ESCALATED
            outcome.escalation_reason = result.escalation
            outcome.pending_action = result.pending_action
        else:
            outcome.answer = result.answer
        return result

    async def _run_loop(self, request: Request, text: str, trace: Trace, outcome: Outcome,
                        deadline: float | None, intent: str | None) -> LoopResult:
        try:
            loop = self.agent_loop
        except Exception as exc:
            # The client could not be built from these settings: the LLM can't be had,
            # as surely as with a dead endpoint, and the ladder still answers what it can.
            detail = redact(f"{type(exc).__name__}: {exc}")
            log.error("request %s: the LLM client could not be built: %s", request.id, detail)
            return LoopResult(escalation=EscalationReason.LLM_UNAVAILABLE, reason=detail,
                              cause=LLMCause.NOT_SET_UP, errors=[
                                  f"{EscalationReason.LLM_UNAVAILABLE} "
                                  f"({LLMCause.NOT_SET_UP}): {detail}"])
        return await loop.run(request, text, trace, outcome.usage, deadline, intent)

    def degrade(self, outcome: Outcome, result: LoopResult, text: str,
                rule_intent: str | None, trace: Trace) -> None:
        """The LLM could not be had: the highest rung of the ladder answers, or a human
        does, told the cause. The intent is the loop's, else the rule's that matched and
        could not answer (truer than a keyword guess), else the keyword guess."""
        outcome.llm_cause = str(result.cause) if result.cause else None
        if self._wrote(result):
            # A refund done and then the LLM lost: a canned answer would hide the write.
            outcome.rung = "human"
            return
        with trace.span("ladder", reason=str(result.escalation)) as span:
            rung = self._ladder.descend(text, outcome.request.customer_id,
                                        result.intent or rule_intent)
            span.attributes["rung"] = rung.name if rung else "human"
        if rung is None:
            outcome.rung = "human"
            return
        outcome.route, outcome.status = rung.route, Status.ANSWERED
        outcome.answer, outcome.intent = rung.answer, rung.intent
        outcome.rule_id, outcome.rung = rung.rule_id, rung.name
        outcome.escalation_reason = None
        outcome.pending_action = None
        cause = f" ({result.cause})" if result.cause else ""
        outcome.errors.append(f"degraded ({result.escalation}): answered by the "
                              f"{rung.name} rung{cause}")

    def _wrote(self, result: LoopResult) -> bool:
        tools = self._tools
        return any(c.ok and tools.has(c.tool) and tools.get(c.tool).writes
                   for c in result.tool_results)
