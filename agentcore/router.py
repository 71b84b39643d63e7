"""The fast path: every enabled rule's pattern matched in one linear-time pass.

All patterns go into one RE2 `Set`, which reports every matching rule in a
single scan of the text, whatever the number of rules; RE2 has no
backtracking, so an operator's pattern can never hang the router. The winner
(highest priority, then earliest position) is re-run alone only when its
handler needs capture groups.

Patterns may use named fragments, `{greeting}`, shared by the whole rule set
(RE2's own braces only ever hold digits, so a name is never ambiguous); an
operator edits one readable line instead of a thousand characters.

A `Router` is immutable: applying an edited rule set builds a new one and
swaps a single reference, so no request ever sees half of a change.
"""

from __future__ import annotations

import inspect
import logging
import re
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from string import Template
from typing import Any, Literal

import re2

from agentcore.acting_rules import broad_acting_reason
from agentcore.catch_all import catch_all_reason
from agentcore.errors import BacktestCancelled, NoDeterministicAnswer, PatternError, RuleError
from agentcore.handlers import HandlerContext, HandlerSpec
from agentcore.rule_scan import POLL_EVERY, TextBlock, rows_matching

log = logging.getLogger("agentcore.router")

CachePolicy = Literal["shared", "per-customer", "never"]
CACHE_POLICIES = ("shared", "per-customer", "never")


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False  # errors are reported as RuleError, not on stderr
    # The Set of all patterns is one automaton: RE2's default 8 MiB fails at about
    # 170 rules of the shipped rules' size (their fragments expand); 64 MiB holds
    # over 1,000 and still matches one of them in ~20 µs.
    options.max_mem = 64 << 20
    return options


_OPTIONS = _options()
ALL_RULES = "(all rules)"  # the rule id of an error in the set as a whole


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    pattern: str
    intent: str
    handler: str
    template: str
    priority: int = 0
    enabled: bool = True
    cache: CachePolicy = "never"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        known = {k: data[k] for k in cls.__slots__ if k in data}
        missing = {"id", "name", "pattern", "intent", "handler", "template"} - known.keys()
        if missing:
            raise RuleError(str(data.get("id", "?")), f"missing fields: {sorted(missing)}")
        return cls(**known)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule: Rule
    groups: dict[str, str]
    matched: tuple[str, ...]  # ids of every rule that matched (conflicts are visible)


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: Rule
    pattern: str  # with fragments expanded
    regex: Any  # re2._Regexp
    template: Template
    handler: HandlerSpec
    needs_groups: bool = field(default=False)


_FRAGMENT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LISTED = 12  # fragment names an "unknown fragment" message lists (a set has dozens)


def expand(pattern: str, fragments: Mapping[str, str], rule_id: str = "?") -> str:
    """The pattern with every `{name}` replaced by its fragment (fragments may nest)."""
    original = pattern
    for depth in range(8):
        names = set(_FRAGMENT.findall(pattern))
        if not names:
            return pattern
        unknown = names - fragments.keys()
        if unknown:
            name = sorted(unknown)[0]
            known = sorted(fragments)
            listed = ", ".join(known[:_LISTED]) + (
                f" and {len(known) - _LISTED} more" if len(known) > _LISTED else "")
            reason = f"unknown fragment {{{name}}}; known: {listed or 'none'}"
            if depth:  # inside a fragment: the operator's pattern is not at fault
                raise RuleError(rule_id, reason)
            raise PatternError(rule_id, reason, pattern=original,
                               position=original.find(f"{{{name}}}"))
        pattern = _FRAGMENT.sub(lambda m: f"(?:{fragments[m.group(1)]})", pattern)
    raise RuleError(rule_id, "fragments nest more than 8 deep (a fragment uses itself?)")


def _traced(pattern: str, fragments: Mapping[str, str]) -> tuple[str, list[int]]:
    """The expanded pattern (the fragments known and well nested), and for each of its
    characters the index in `pattern` it came from: a fragment's whole expansion
    comes from the `{` of its name."""
    out: list[str] = []
    origin: list[int] = []
    last = 0
    for m in _FRAGMENT.finditer(pattern):
        out.append(pattern[last:m.start()])
        origin.extend(range(last, m.start()))
        body = f"(?:{expand(fragments[m.group(1)], fragments)})"
        out.append(body)
        origin.extend([m.start()] * len(body))
        last = m.end()
    out.append(pattern[last:])
    origin.extend(range(last, len(pattern)))
    return "".join(out), origin


def _unbalanced(regex: str, problem: str) -> int | None:
    """Where RE2's "missing )" (the last "(" left open) or "unexpected )" (the first
    ")" closing nothing) is: RE2 quotes the whole regex for these, not the place."""
    open_at: list[int] = []
    i, in_class = 0, False
    while i < len(regex):
        c = regex[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if regex[i + 1:i + 2] == "^":
                i += 1
            if regex[i + 1:i + 2] == "]":  # a leading ] is a literal
                i += 1
        elif c == "(":
            open_at.append(i)
        elif c == ")":
            if not open_at and problem == "unexpected )":
                return i
            if open_at:
                open_at.pop()
        i += 1
    return open_at[-1] if open_at and problem == "missing )" else None


_QUOTED = 24  # at most this much of RE2's own quote (`\1`, `(?<=`) is repeated


def _pattern_error(rule: Rule, fragments: Mapping[str, str], message: str) -> PatternError:
    """RE2's `problem: quote`, quoting the expanded regex, told about the operator's
    own pattern: the problem, where it is, and a short quote only when it helps."""
    problem, _, quote = message.partition(": ")
    regex, origin = _traced(rule.pattern, fragments)
    if problem in ("missing )", "unexpected )"):
        at = _unbalanced(regex, problem)
    elif problem.startswith("trailing \\"):
        at = len(regex) - 1
    else:
        found = regex.find(quote) if quote else -1
        at = found if found >= 0 else None
    position = origin[at] if at is not None and 0 <= at < len(origin) else None
    reason = f"invalid pattern: {problem}"
    if quote and quote != regex and len(quote) <= _QUOTED and "(?:" not in quote:
        reason += f" {quote}"
    if position is not None:
        inside = _FRAGMENT.match(rule.pattern, position)
        if inside and origin.count(position) > 1:  # the fault is in the fragment's body
            reason += f" (in the fragment {inside.group(0)})"
        reason += f" at character {position + 1}"
    return PatternError(rule.id, reason, pattern=rule.pattern, position=position)


def compile_rule(rule: Rule, handlers: Mapping[str, HandlerSpec],
                 fragments: Mapping[str, str] | None = None) -> _Compiled:
    """Checks one rule and compiles it; every problem is a RuleError naming the rule."""
    if not rule.id.strip():
        raise RuleError(rule.id, "the rule needs an id")
    if not rule.intent.strip():  # the feed, the cache and precision all key on it
        raise RuleError(rule.id, "the rule needs an intent (what the request is about)")
    if not rule.pattern.strip():
        raise RuleError(rule.id, "the pattern is empty")
    pattern = expand(rule.pattern, fragments or {}, rule.id)
    try:
        regex = re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        message = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        raise _pattern_error(rule, fragments or {}, message) from None
    # Checked on the expanded pattern (a fragment may make everything optional), told
    # in the operator's words: the Set would let such a rule win every request.
    catch_all = catch_all_reason(regex, rule.pattern, uses_fragments=pattern != rule.pattern)
    if catch_all:
        raise RuleError(rule.id, catch_all)
    spec = handlers.get(rule.handler)
    if spec is None:
        raise RuleError(rule.id, f"unknown handler {rule.handler!r}; "
                                 f"known: {', '.join(sorted(handlers))}")
    if spec.acts and spec.each:
        raise RuleError(rule.id, f"handler {spec.name!r} acts: it may not answer each of "
                                 "several records (several writes are a person's call)")
    if spec.acts:  # the policy bounds each write, not whether the customer asked for it
        broad = broad_acting_reason(regex, rule.pattern, pattern, spec.name)
        if broad:
            raise RuleError(rule.id, broad)
    missing_groups = spec.needs - set(regex.groupindex)
    if missing_groups:
        raise RuleError(rule.id, f"handler {spec.name!r} needs named groups "
                                 f"{sorted(missing_groups)} in the pattern")
    template = Template(rule.template)
    if not template.is_valid():
        raise RuleError(rule.id, "the template has a stray '$' (write $$ for a dollar sign)")
    unknown = set(template.get_identifiers()) - spec.fields
    if unknown:
        raise RuleError(rule.id, f"the template uses {sorted(unknown)}, which handler "
                                 f"{spec.name!r} does not provide ({sorted(spec.fields)})")
    if rule.cache not in CACHE_POLICIES:
        raise RuleError(rule.id, f"cache must be one of {CACHE_POLICIES}")
    return _Compiled(rule, pattern, regex, template, spec, needs_groups=bool(spec.needs))


class Router:
    def __init__(self, rules: Iterable[Rule], handlers: Mapping[str, HandlerSpec],
                 fragments: Mapping[str, str] | None = None) -> None:
        """`handlers` are the domain's: a rule names one of them."""
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.handlers: Mapping[str, HandlerSpec] = handlers
        self.fragments: dict[str, str] = dict(fragments or {})
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise RuleError(rule.id, "two rules share this id")
            seen.add(rule.id)
        self._compiled = [compile_rule(r, handlers, self.fragments)
                          for r in self.rules if r.enabled]
        self._set = re2.Set.SearchSet(_OPTIONS)
        try:
            for c in self._compiled:
                self._set.Add(c.pattern)
            self._set.Compile()
        except re2.error as exc:  # each rule compiled alone: it is the whole set
            raise RuleError(ALL_RULES, f"the enabled rules ({len(self._compiled)}) are too "
                            f"large for one matcher ({exc}): simplify, disable or merge "
                            "some") from None
        # Rank once here, so route() is a max over a few ints.
        self._rank = [(c.rule.priority, -i) for i, c in enumerate(self._compiled)]
        self._by_id = {c.rule.id: c for c in self._compiled}
        self._entities: dict[str, Any] = {}  # group -> its fragment's regex, on first need

    def __len__(self) -> int:
        return len(self._compiled)

    def route(self, text: str) -> RuleMatch | None:
        """The winning rule for `text` (already normalised), or None for the slow path."""
        hits = self._set.Match(text)
        if not hits:
            return None
        best = max(hits, key=self._rank.__getitem__) if len(hits) > 1 else hits[0]
        compiled = self._compiled[best]
        groups: dict[str, str] = {}
        if compiled.needs_groups:
            m = compiled.regex.search(text)
            if m is not None:
                groups = {k: v for k, v in m.groupdict().items() if v is not None}
        matched = tuple(self._compiled[i].rule.id for i in sorted(hits))
        return RuleMatch(compiled.rule, groups, matched)

    def hits(self, text: str) -> tuple[Rule | None, tuple[str, ...]]:
        """The winning rule and the ids of every matching rule in the rules' order,
        without capture groups: what a backtest needs, at the cost of one Set scan."""
        hits = self._set.Match(text)
        if not hits:
            return None, ()
        compiled = self._compiled
        if len(hits) == 1:
            rule = compiled[hits[0]].rule
            return rule, (rule.id,)
        hits.sort()  # the Set answers in its automaton's order
        best = max(hits, key=self._rank.__getitem__)
        return compiled[best].rule, tuple(compiled[i].rule.id for i in hits)

    def route_all(self, texts: Iterable[str], cancelled: Callable[[], bool] = lambda: False,
                  ) -> tuple[array[int], list[tuple[str, ...]], list[Rule | None]]:
        """What `hits` says of each text, for a backtest's million: each text's index into
        the distinct sets of matching rule ids, and each set's winner. One Set match a
        text through the binding's own call: the wrapper's checks and conversions
        cost a quarter again. Raises BacktestCancelled when `cancelled` says so."""
        match = getattr(self._set, "_set", self._set).Match
        compiled, rank = self._compiled, self._rank
        set_of: array[int] = array("i")
        sets: list[tuple[str, ...]] = []
        winners: list[Rule | None] = []
        seen: dict[tuple[int, ...], int] = {}  # as the Set answers, in any order
        canonical: dict[tuple[str, ...], int] = {}
        append = set_of.append
        for n, text in enumerate(map(str.encode, texts)):
            if n % POLL_EVERY == 0 and cancelled():
                raise BacktestCancelled("superseded")
            found = tuple(match(text) or ())
            k = seen.get(found)
            if k is None:
                ids = tuple(compiled[i].rule.id for i in sorted(found))
                k = seen[found] = canonical.setdefault(ids, len(sets))
                if k == len(sets):
                    sets.append(ids)
                    winners.append(compiled[max(found, key=rank.__getitem__)].rule
                                   if found else None)
            append(k)
        return set_of, sets, winners

    def enabled(self) -> list[tuple[Rule, str]]:
        """The rules the router matches, in its order, each with its expanded pattern."""
        return [(c.rule, c.pattern) for c in self._compiled]

    def rows_matching(self, rule_id: str, block: TextBlock,
                      cancelled: Callable[[], bool] = lambda: False) -> list[int]:
        """The texts of `block` one enabled rule matches (see `rule_scan`); ValueError
        when its pattern cannot be scanned that way."""
        return rows_matching(self._by_id[rule_id].pattern, _OPTIONS, block, cancelled)

    def entity_values(self, text: str, group: str) -> list[str] | None:
        """Every value of a named group the message holds, by the rule set's fragment
        of that name (`{order_id}`), in order and without repeats; None when no
        fragment of that name defines the group (nothing to count it by)."""
        if group not in self._entities:
            fragment = self.fragments.get(group)
            regex = None
            if fragment is not None:
                try:
                    regex = re2.compile(expand(fragment, self.fragments), _OPTIONS)
                except (re2.error, RuleError):
                    regex = None
                if regex is not None and group not in regex.groupindex:
                    regex = None
            self._entities[group] = regex
        regex = self._entities[group]
        if regex is None:
            return None
        found = [m.group(group) for m in regex.finditer(text) if m.group(group)]
        return list(dict.fromkeys(found))

    def intent_match(self, intent: str, text: str) -> RuleMatch | None:
        """A match for `text` by its intent alone (the learned tier named it, no pattern
        matched): the intent's rule whose handler reads exactly the records the message
        names (one order number: the rule that reads that order; none: the rule that
        needs none; several: a rule whose handler answers each), when all such rules
        give one answer. None when the intent has several answers (which one is asked
        is for patterns to tell), or when its rules act: acting needs a rule's words."""
        compiled = [(i, c) for i, c in enumerate(self._compiled)
                    if c.rule.intent == intent and not c.handler.acts]
        # Every record the message names, of any kind a rule reads: a general answer
        # (a policy) to a message about one order reads as that order's.
        named: dict[str, list[str]] = {}
        for need in {n for c in self._compiled for n in c.handler.needs}:
            values = self.entity_values(text, need)
            if values:
                named[need] = values
        # Several of a record: only a handler that answers each (the fast path then does).
        fitting = [(c.rule.priority, -i, c) for i, c in compiled
                   if c.handler.needs == set(named)
                   and all(len(v) == 1 or g in c.handler.each for g, v in named.items())]
        if not fitting or len({(c.handler.name, c.rule.template) for *_, c in fitting}) > 1:
            return None
        best = max(fitting, key=lambda t: (t[0], t[1]))[2]
        return RuleMatch(best.rule, {g: v[0] for g, v in named.items()}, (best.rule.id,))

    def answerable_intents(self) -> frozenset[str]:
        """The intents `intent_match` can answer for some message: rules that don't act,
        with one answer for each set of records their handlers read."""
        answers: dict[str, dict[frozenset[str], set[tuple[str, str]]]] = {}
        for c in self._compiled:
            if not c.handler.acts:
                by_needs = answers.setdefault(c.rule.intent, {})
                by_needs.setdefault(c.handler.needs, set()).add((c.handler.name,
                                                                 c.rule.template))
        return frozenset(intent for intent, by_needs in answers.items()
                         if any(len(found) == 1 for found in by_needs.values()))

    def fallback_rules(self, intent: str) -> list[Rule]:
        """Enabled rules of an intent that need no capture groups, best first: the
        templates the degradation ladder may answer with when the LLM is down."""
        found = [(c.rule.priority, -i, c.rule) for i, c in enumerate(self._compiled)
                 if c.rule.intent == intent and not c.handler.needs and not c.handler.acts
                 and not c.handler.hands_off]
        return [rule for _, _, rule in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)]

    def acts(self, match: RuleMatch) -> bool:
        """Whether the rule's handler writes (its answer must come from `respond`)."""
        return self._by_id[match.rule.id].handler.acts

    def takes_each(self, match: RuleMatch) -> frozenset[str]:
        """The named groups the rule's handler answers one by one when a message names
        several (`HandlerSpec.each`)."""
        return self._by_id[match.rule.id].handler.each

    def hands_off(self, match: RuleMatch) -> bool:
        """Whether the rule gives the request to the operators (its answer a draft)."""
        return self._by_id[match.rule.id].handler.hands_off

    def answer(self, match: RuleMatch, context: HandlerContext) -> str:
        """Runs the rule's handler and renders its template.

        Raises NoDeterministicAnswer when the handler can't answer (the engine then
        takes the slow path), or when it acts: only `respond` runs those.
        """
        compiled = self._by_id[match.rule.id]
        if compiled.handler.acts:
            raise NoDeterministicAnswer(f"handler {compiled.handler.name!r} acts: "
                                        "only the engine's fast path runs it")
        values = compiled.handler.fn(context)
        assert isinstance(values, dict)
        return self._render(compiled, values)

    async def respond(self, match: RuleMatch, context: HandlerContext) -> str:
        """`answer`, for any handler: one that acts is awaited, with `context.call`."""
        compiled = self._by_id[match.rule.id]
        values = compiled.handler.fn(context)
        if inspect.isawaitable(values):
            values = await values
        return self._render(compiled, values)

    @staticmethod
    def _render(compiled: _Compiled, values: dict[str, Any]) -> str:
        try:
            return compiled.template.substitute(values)
        except KeyError as exc:
            raise RuleError(compiled.rule.id, f"handler gave no value for {exc}") from None
