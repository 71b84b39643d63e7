"""The engine: one straight pipeline from a request to an outcome.

    guard -> accept (on disk) -> rule router -> handler + template   [fast path]
                                      `-> bounded LLM loop + validator [slow path]
          -> outcome on disk -> events

The agent's world (tools, handlers, intents, facts, resources) is a `Domain`
(agentcore.domain): the demo shop unless the settings name another. Every stage
is a span and subscribers hear each step. `submit` does not raise
for a bad request or a misbehaving LLM: it returns a rejected or escalated
outcome that says why. Only a failure to persist (the disk) raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, NamedTuple

from agentcore.asks import AskCues
from agentcore.attached import AttachedIntake
from agentcore.cache import AnswerCache, llm_tags, rule_tags
from agentcore.clock import Clock, ServerClock, SystemClock
from agentcore.database import database_name, open_storage
from agentcore.domain import Domain, load_domain
from agentcore.errors import (
    DuplicateRequest,
    RuleError,
    RulesChangedError,
    SettingsError,
    StorageError,
)
from agentcore.escalations import EscalationQueue, tool_act, tool_parse
from agentcore.events import (
    DataChanged,
    Event,
    EventBus,
    RequestAccepted,
    RequestAnswered,
    RequestEscalated,
    RequestRejected,
    SpanFinished,
)
from agentcore.fast_path import FastPath
from agentcore.guard import Guard
from agentcore.keyword_intents import KeywordClassifier
from agentcore.ladder import DEGRADABLE, Ladder, load_static_answers
from agentcore.learned import LearnedTier
from agentcore.models import EscalationReason, Outcome, Request, Route, Status
from agentcore.prompts import Prompts
from agentcore.redaction import redact
from agentcore.resilience import CircuitBreaker
from agentcore.router import Router, Rule
from agentcore.settings import Settings
from agentcore.slow_path import SlowPath
from agentcore.storage import Storage, VersionRecord
from agentcore.store_follower import StoreFollower
from agentcore.stored_rules import seeded_router, stored_router
from agentcore.tool_servers import ToolServers
from agentcore.tools import ToolRegistry
from agentcore.tracing import Trace

if TYPE_CHECKING:
    import openai

    from agentcore.credentials import KeyringCredentials

log = logging.getLogger("agentcore.engine")

class StoredRules(NamedTuple):
    """A stored rule set as read: its version, read first, and its router (None:
    nothing is stored), with how many sets this engine had applied when the read
    began (a set applied since is newer than whatever the read saw)."""

    version: int
    router: Router | None
    applied: int


class Engine:
    def __init__(self, settings: Settings, *, openai_client: openai.AsyncOpenAI | None = None,
                 clock: Clock | None = None, credentials: KeyringCredentials | None = None,
                 domain: Domain | None = None, tools: ToolRegistry | None = None,
                 client_factory: Callable[[Settings], openai.AsyncOpenAI] | None = None,
                 attach_to: str | None = None) -> None:
        """`openai_client` serves the first settings only (tests); `client_factory`
        builds a client for any settings (default: the keyring and `base_url`).
        `domain` None builds the one the settings name; `tools` replaces its tools
        (an embedder's own registry). `attach_to`, the base URL of a service's intake
        (`agentcore serve`), makes this an attached station's engine: it answers
        nothing itself, what it submits goes through that intake."""
        if attach_to is not None and not settings.uses_postgres:
            raise SettingsError("an attached station reads its service's outcomes from the "
                                "team's database: set --database postgresql://... as the "
                                "service has it")
        self.settings = settings
        self.attach_to = attach_to
        self.clock: Clock = clock or SystemClock()
        self.bus = EventBus()
        # SQLite's file or the team's PostgreSQL: a server that can't be reached stops the
        # start here, in one sentence, before anything else is opened.
        # `now` read through `self.clock` at each use: the server's time, once aligned.
        self.store: Storage = open_storage(settings, credentials=credentials,
                                           now=lambda: self.clock.now(), prune_every_s=600)
        # On a team's shared database every station keeps the server's time: a lease or
        # an approval window is decided by each station's `now`, and a machine whose
        # clock ran two minutes fast would take live claims and settle approvals still
        # running elsewhere as cut short.
        if self.store.server_time() is not None:
            aligned = ServerClock(self.clock, self.store.server_time)
            if abs(aligned.offset_s) > 1.0:
                log.warning("this machine's clock is %+.1f s off the database server's; "
                            "the server's time is kept", -aligned.offset_s)
            self.clock = aligned
        self.domain = domain or load_domain(settings)
        self._resources = settings.resources_dir or self.domain.resources
        self.classifier = KeywordClassifier(self.domain.keywords,
                                            fallback=self.domain.intents[-1])
        self.cache = AnswerCache(self.store.answer_cache(), settings.cache, self.clock,
                                 self.domain.cache_tags)
        # The domain's changes reach the cache twice: at once from this process's writes,
        # and from its durable change log (any connection's, any process's) at each lookup.
        self._unwatch = self.domain.watch(self._data_changed)
        changes = self.domain.change_log()
        if changes is not None:
            self.cache.follow(changes)
        # The version the router's set is, read before the set: a version saved in
        # between makes the next change refused, never lost. The first start records
        # the set it begins with as the history's first version (of processes starting
        # at once on an empty database, one does; the others take up what it stored).
        self._applied = 0  # sets this engine applied: a read begun before one is stale
        self.rules_version = self.store.rules.latest_version_id() or 0
        self.router, seeded = seeded_router(self.store.rules, self.domain.handlers,
                                            self._resources, self._seed_version)
        if seeded is not None:
            self.rules_version = seeded
        elif not self.rules_version:  # a set stored before versions were kept, or raced
            seeded = self.store.rules.seed_version(self._seed_version(self.router))
            if seeded is None:  # another process's first start came first
                self.reload_rules()
            else:
                self.rules_version = seeded
        # The learned intent tier's current version, its model loaded (one that can't be
        # read leaves the tier off, said in the log): the route reads `learned.predict`.
        self.learned = LearnedTier(self.store.learned, self.clock, traffic=self.store.traffic,
                                   catch_all=self.domain.intents[-1],
                                   default_threshold=settings.learned.threshold)
        self.guard = Guard(settings.guard, self.clock)
        # Accepted and being answered now: on disk these look like what a crash left
        # unfinished, and an intake started beside them must not run them again.
        self._answering: set[str] = set()
        self._starting: set[str] = set()  # re-runs not accepted again yet
        self.breaker = CircuitBreaker(settings.resilience.breaker, self.clock,
                                      publish=self.bus.publish)
        self._credentials = credentials
        # One registry for the loop, the fast path and approvals: the engine's own copy of
        # the domain's, whose set the tool servers swap in place as they come and go.
        self._tools = ToolRegistry((tools or self.domain.tools).tools)
        self.tool_servers = ToolServers(settings.tool_servers, self._tools, secret=self._secret,
                                        publish=self.bus.publish, clock=self.clock,
                                        breaker=lambda: self.settings.resilience.breaker)
        static_answers = load_static_answers(self._resources)
        self.fast_path = FastPath(self._tools, AskCues(self.domain.keywords,
                                                       catch_all=self.domain.intents[-1]),
                                  self.learned, static_answers["sign_in"],
                                  lambda: self.settings.loop.tool_timeout_s,
                                  partial(self.store.escalations.waiting_of,
                                          reason=EscalationReason.CUSTOMER_ASKED_FOR_HUMAN))
        self.ladder = Ladder(lambda: self.router, self.classifier.classify, static_answers,
                             self.cache)
        self.slow_path = SlowPath(
            settings, tools=self._tools, domain=self.domain,
            prompts=Prompts.load(self._resources, self.domain.intents),
            classifier=self.classifier, breaker=self.breaker, ladder=self.ladder,
            clock=self.clock, openai_client=openai_client, credentials=credentials,
            client_factory=client_factory)
        # An operator's approval runs the same idempotent tool the agent would have,
        # held to the same policy at the write.
        timeout_s = settings.loop.tool_timeout_s
        self.escalations = EscalationQueue(
            self.store, self.clock, rerun=self.rerun, customer=self.domain.customer_context,
            act=tool_act(self._tools, timeout_s=timeout_s),
            parse=tool_parse(self._tools), version_of=self._tools.version_of,
            recorded=self.tool_servers.recorded(self.domain.recorded_write),
            keeps_record=self.tool_servers.keeps_record,
            limits=self.domain.write_limits,
            # Outlasts any write an approval runs, a tool server's own timeout included.
            approval_window_s=2 * self.tool_servers.longest_call_s(timeout_s) + 30,
            bus=self.bus)
        # Other processes' writes to the shared database, told on this bus (start/close).
        self._follower: StoreFollower[StoredRules] | None = None
        # A station's feed shows other processes' requests as they come and finish; a
        # service (`agentcore serve`) shows none, and so reads none back (set before start).
        self.shows_others_requests = True
        self._intake: AttachedIntake | None = None
        if attach_to is not None:
            self._intake = AttachedIntake(attach_to, self.store,
                                          token_entry=settings.intake.token_entry,
                                          secret=self._secret)
        recovered = self.escalations.recover()
        if recovered:
            log.warning("settled %d approvals a crash had cut short", recovered)
        log.info("engine ready: %d rules, database %s", len(self.router),
                 database_name(settings))

    # -- set-up --------------------------------------------------------------

    def reload_rules(self) -> None:
        """Takes up the rule set another process stored (the shared database's): a
        router swap, as `apply_rules` does. (A rule set applied anywhere cleared the
        answer cache through its log, so every process's cache follows by itself.)"""
        self.take_stored_rules(self.stored_rules())

    def stored_rules(self) -> StoredRules:
        """The stored set. Blocking, and safe off the loop: the follower reads it on a
        thread."""
        applied = self._applied
        version = self.store.rules.latest_version_id() or 0
        return StoredRules(version, stored_router(self.store.rules, self.domain.handlers),
                           applied)

    def take_stored_rules(self, found: StoredRules) -> bool:
        """Swaps in `stored_rules`' router unless this engine applied a set since the
        read began (or runs a later version): such a read may return the set that apply
        replaced, which must not come back. The notification of any newer save makes
        another read."""
        if (found.router is None or found.applied != self._applied
                or found.version < self.rules_version):
            return False
        self.router, self.rules_version = found.router, found.version
        return True

    def _seed_version(self, router: Router) -> VersionRecord:
        return VersionRecord(self.clock.now(), "system", "seed", "the rules at first start",
                             None, tuple(r.as_dict() for r in router.rules),
                             dict(router.fragments))

    def _secret(self, entry: str) -> str | None:
        """A tool server's keyring entry (read when it connects, never stored here)."""
        from agentcore.credentials import KeyringCredentials

        return (self._credentials or KeyringCredentials()).get(entry)

    @property
    def attached(self) -> bool:
        """An operator station's: the services behind `attach_to` answer the requests."""
        return self.attach_to is not None

    async def start(self) -> None:
        """Connects the tool servers, each bounded by its start timeout; one that fails
        leaves its tools out until it comes up. Idempotent; the first request calls
        it if nobody did. On the shared database it also starts following what other
        processes commit there (agentcore.store_follower)."""
        if self._follower is None and self.settings.uses_postgres:
            self._follower = StoreFollower(
                self.store, self.bus, read_rules=self.stored_rules,
                take_rules=self.take_stored_rules, learned=self.learned,
                read_requests=lambda: self.shows_others_requests and self.bus.has_subscribers)
            self._follower.start()
            if self._intake is not None:
                self._intake.follow(self._follower.on_finished)
        await self.tool_servers.start()

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(subscriber)

    def apply_rules(self, rules: Iterable[Rule], fragments: dict[str, str] | None = None,
                    *, version: VersionRecord | None = None) -> Router:
        """Validates a whole rule set, stores it and swaps it in at once.

        `fragments` None keeps the current ones; `version` (the rule book's record of
        the change) is saved in the same transaction as the rules, and only on top of
        the version this engine runs: RulesChangedError when another process saved one
        since (this engine then runs that one). A save the link cut as it committed is
        taken when its version is found stored; otherwise its StorageError stands."""
        if fragments is None:
            fragments = self.router.fragments
        router = Router(rules, self.domain.handlers, fragments=fragments)  # RuleError: which
        try:
            saved = self.store.rules.save_rules(
                [r.as_dict() for r in router.rules], router.fragments, version,
                base=None if version is None else self.rules_version)
        except RulesChangedError:
            self.reload_rules()
            raise
        except StorageError:
            saved = self._saved_anyway(version)
            if saved is None:
                raise
            log.warning("the link to the database dropped as the rules were saved, after "
                        "the save had gone through (version %d)", saved)
        self.router = router
        self._applied += 1
        if saved is not None:
            self.rules_version = saved
        self.cache.clear()  # a new rule may now answer a text cached from another path
        return router

    def _saved_anyway(self, version: VersionRecord | None) -> int | None:
        """`version`'s id if a save that failed committed it all the same (the link cut
        after the server's commit, before its reply): the newest stored version is this
        very record, saved since the version this engine runs. Else None."""
        if version is None:
            return None
        try:
            latest = self.store.rules.latest_version_id() or 0
            stored = self.store.rules.version(latest) if latest > self.rules_version else None
        except Exception:  # still away, or unreadable: the caller's error stands
            return None
        if stored is None:
            return None
        mine = (version.created_at, version.author, version.action, version.summary,
                version.restores)
        theirs = (stored.created_at, stored.author, stored.action, stored.summary,
                  stored.restores)
        return latest if mine == theirs else None

    async def apply_settings(self, settings: Settings) -> None:
        """Takes new settings while running: endpoint, models and prices, loop bounds,
        guard limits, cache and breaker thresholds, retention. Requests in flight finish
        on the settings they started with; the next LLM call uses a new client. The data
        folder and the domain can't change while running."""
        if settings.data_dir != self.settings.data_dir:
            raise SettingsError("the data folder can only change with a restart")
        if settings.domain != self.settings.domain:
            raise SettingsError("the domain can only change with a restart")
        self.settings = settings
        self.slow_path.configure(settings)
        self.guard.settings = settings.guard
        self.breaker.settings = settings.resilience.breaker
        self.cache.configure(settings.cache)
        self.store.retain(settings.storage.retention_days, settings.storage.spans_max_mb)
        self.learned.default_threshold = settings.learned.threshold
        await self.tool_servers.apply(settings.tool_servers)  # only the changed restart
        log.info("settings applied: LLM %s", settings.llm.base_url or "mock")

    async def close(self) -> None:
        if self._follower is not None:
            await self._follower.close()
        if self._intake is not None:
            await self._intake.close()
        await self.tool_servers.close()
        await self.slow_path.close()
        self.store.close()
        self.cache.close()
        self._unwatch()
        self.domain.close()

    def _data_changed(self, tags: list[str]) -> None:
        # Called by the domain after its write committed: it must not raise, or the tool
        # that wrote would report a failure for an action it did (the bus isolates its
        # subscribers; the cache turns its own failures into an emptied memory tier).
        self.cache.changed(tags)
        self.bus.publish(DataChanged(tuple(tags)))

    # -- the pipeline --------------------------------------------------------

    async def submit(self, request: Request) -> Outcome:
        """Answers a new request. One whose id was used before is rejected ("duplicate
        id") and nothing on disk changes: a reused id never overwrites history. An
        attached engine sends it to its service instead (agentcore.attached), the
        outcome read back from the shared database; IntakeUnreachable if it can't."""
        if self._intake is not None:
            if self._follower is None:
                await self.start()  # follows the store: the outcome is heard as it commits
            return await self._intake.submit(request)
        return await self._submit(request, again=False)

    async def rerun(self, request: Request) -> Outcome:
        """Answers again a request already on disk (a hand-back, a resume); attached,
        its service does (`POST /v1/requests/{id}/rerun`)."""
        if self._intake is not None:
            if self._follower is None:
                await self.start()
            return await self._intake.rerun(request)
        return await self._submit(request, again=True)

    async def _submit(self, request: Request, *, again: bool) -> Outcome:
        if not again:
            return await self._run(request, again=False)
        # Accepted on disk already (a hand-back, a take-over): this store's, so no sweep of
        # this process may take it over while the run starts (it may await the tools).
        self._starting.add(request.id)
        try:
            return await self._run(request, again=True)
        finally:
            self._starting.discard(request.id)

    async def _run(self, request: Request, *, again: bool) -> Outcome:
        if not self.tool_servers.started:
            await self.start()
        started = self.clock.monotonic()
        if not request.received_at:
            request.received_at = self.clock.now()
        rid = request.id
        bus = self.bus
        trace = Trace(self.clock, lambda span: bus.publish(SpanFinished(rid, span))
                      if bus.has_subscribers else None)
        with trace.span("guard") as span:
            # A re-run was counted when it arrived: the customer isn't limited twice.
            verdict = self.guard.check(request.text, request.customer_id,
                                       rate_limited=not again)
            span.attributes["verdict"] = verdict.reason or "accepted"
        if verdict.reason is not None:
            return self._reject(request, verdict.reason, verdict.message, trace, started,
                                again=again)
        try:
            with trace.span("accept"):
                self.store.requests.accept(request, again=again)
        except DuplicateRequest as exc:
            return self._reject(request, "duplicate id", str(exc), trace, started,
                                recorded=False)
        bus.publish(RequestAccepted(request))
        self._answering.add(rid)
        try:
            outcome = await self._answer(request, verdict.text, verdict.original, trace,
                                         started)
        except (RuleError, SettingsError) as exc:
            log.error("request %s: %s", rid, exc)
            outcome = self._escalated(request, trace, EscalationReason.INTERNAL_ERROR, str(exc))
        except Exception as exc:  # a bug: the request goes to a human, not lost
            log.exception("request %s failed inside the engine", rid)
            outcome = self._escalated(request, trace, EscalationReason.INTERNAL_ERROR,
                                      f"{type(exc).__name__}: {exc}")
        finally:
            self._answering.discard(rid)  # cancelled too: then it is unfinished on disk
        outcome.latency_ms = (self.clock.monotonic() - started) * 1000
        self.store.requests.finish(outcome)
        if outcome.status is Status.ESCALATED:
            bus.publish(RequestEscalated(outcome))
        else:
            bus.publish(RequestAnswered(outcome))
        return outcome

    async def _answer(self, request: Request, text: str, original: str, trace: Trace,
                      started: float) -> Outcome:
        """`text` is normalised, for the router and the cache; the LLM reads `original`,
        what the customer wrote, with its case, line breaks and punctuation."""
        router = self.router  # one reference for the whole request: no half-applied change
        # A handed-back request is re-run with the operator's note: never from the cache.
        use_cache = request.note is None
        if use_cache:
            with trace.span("cache") as span:
                hit = self.cache.lookup(text, request.customer_id)
                span.attributes["tier"] = hit.tier if hit else "miss"
            if hit is not None:
                return Outcome(request, hit.route, Status.ANSWERED, answer=hit.answer,
                               intent=hit.intent, rule_id=hit.rule_id, spans=trace.spans)
        since = self.cache.position  # changes after this keep this answer out of the cache
        with trace.span("route") as span:
            match = router.route(text)
            span.attributes["rule"] = match.rule.id if match else None
            if match and len(match.matched) > 1:
                span.attributes["matched"] = list(match.matched)
            # A handed-back request carries an operator's note that no rule or template
            # reads: the agent answers it, or a rule would act again against the note
            # ("don't refund it yet") or hand a person's request straight back.
            handed_back = request.note is not None
            if handed_back:
                span.attributes["fallthrough"] = "handed back with a note: for the agent"
        fallthrough = None
        if handed_back and match is not None:
            fallthrough = f"rule {match.rule.id} left to the agent: handed back with a note"
        learned = None
        if match is None and not handed_back:
            learned = self.fast_path.by_intent(text, router, trace)
            if learned is not None and learned[1] is not None:
                answered = await self.fast_path.answer(request, text, router, learned[1],
                                                       trace, Route.LEARNED)
                if not isinstance(answered, str):
                    return answered[0]  # never cached: the tier may change under it
                fallthrough = answered
        if match is not None and not handed_back:
            answered = await self.fast_path.answer(request, text, router, match, trace)
            if isinstance(answered, str):
                fallthrough = answered
            else:
                outcome, cacheable = answered
                tags = rule_tags(match.rule, request.customer_id, match.groups,
                                 self.domain.cache_tags) if cacheable else None
                if use_cache and tags is not None:
                    self.cache.store(match.rule.cache, text, request.customer_id,
                                     answer=outcome.answer, intent=match.rule.intent,
                                     rule_id=match.rule.id, route=Route.RULE, tags=tags,
                                     since=since)
                return outcome
        outcome = Outcome(request, Route.LLM, Status.ANSWERED, spans=trace.spans)
        if fallthrough:
            outcome.errors.append(fallthrough)
        known, source = self.slow_path.local_intent(text, match, learned and learned[0])
        with trace.span("llm_loop", intent=known, intent_from=source):
            budget = self.settings.resilience.request_deadline_s  # None: no deadline
            deadline = None if budget is None else started + budget
            result = await self.slow_path.run(request, original or text, trace, outcome,
                                              deadline, known)
        # Not from an anonymous request: its model was offered fewer tools and told nobody
        # is signed in, so its "please sign in" must not become a signed-in customer's answer.
        # Nor from a re-run told of its earlier writes: that answer quotes the customer's
        # records without a tool call, so no tag would ever drop it.
        if (use_cache and outcome.status is Status.ANSWERED and request.customer_id is not None
                and not result.acted_before):
            tags = llm_tags(result.tool_results, request.customer_id, self.domain.cache_tags)
            if tags is not None:
                policy = self.settings.cache.policy_for_intent(outcome.intent,
                                                               self.domain.intent_policies)
                self.cache.store(policy, text,
                                 request.customer_id, answer=outcome.answer,
                                 intent=outcome.intent, rule_id=None, route=Route.LLM,
                                 tags=tags, since=since)
        if result.escalation in DEGRADABLE:
            self.slow_path.degrade(outcome, result, text,
                                   match.rule.intent if match else None, trace)
        return outcome

    def _escalated(self, request: Request, trace: Trace, reason: EscalationReason,
                   detail: str) -> Outcome:
        # `detail` may be any exception's text (the catch-all in `submit`).
        return Outcome(request, Route.LLM, Status.ESCALATED, spans=trace.spans,
                       errors=[redact(f"{reason}: {detail}")], escalation_reason=reason)

    def _reject(self, request: Request, reason: str, message: str, trace: Trace,
                started: float, *, recorded: bool = True, again: bool = False) -> Outcome:
        """`recorded`: the rejection is kept on disk, unless its id belongs to another
        request (a duplicate, or a rejected one reusing an id), whose record stays. A
        re-run (`again`) turned away is its request's outcome now: a handed-back item
        goes back to the operators with it."""
        outcome = Outcome(request, Route.GUARD, Status.REJECTED, answer=message,
                          spans=trace.spans, errors=[f"rejected: {reason}"])
        outcome.latency_ms = (self.clock.monotonic() - started) * 1000
        if recorded:
            try:
                if again:  # a re-run, over its own request waiting on disk to be re-run
                    self.store.requests.accept(request, again=True)
                    self.store.requests.finish(outcome)
                else:  # the request and its outcome at once: a crash leaves both or neither
                    self.store.requests.reject(outcome)
            except DuplicateRequest as exc:
                outcome.errors.append(f"not recorded: {exc}")
        self.bus.publish(RequestRejected(outcome))
        return outcome

    def answering(self, request_id: str) -> bool:
        """Whether this engine is answering the request now (accepted, no outcome yet)."""
        return request_id in self._answering or request_id in self._starting

    async def resume(self) -> list[Outcome]:
        """Answers every request a crash left accepted but unfinished: what no live
        instance on the database is answering (a dead or stopped one's, or this
        engine's own not being answered now), taken over first, so another instance's
        requests in flight are never run twice (agentcore.storage._instances).
        Attached: none, the services resume what is left."""
        if self.attached:
            return []
        return [await self.rerun(r) for r in self.store.requests.take_over()
                if not self.answering(r.id)]
