"""Rule suggestions mined from the slow path's history.

Requests the live rules do not match and whose intent is known (the LLM's
decision, or an operator's label) are cut into word n-grams of one to three
words (numbers become one token, so "cancel 12345" and "cancel 67890" are one
shape; grams of filler words only are skipped). The most frequent shapes
become RE2 patterns (the words in order, any punctuation between), framed like
the shipped rules (optional greeting, one sentence without an order number,
optional sign-off) so a message asking two things still reaches the LLM. A
pattern is kept when it matches at least `min_support` uncovered slow-path
requests and *every* known-intent request it matches, anywhere in the sample,
has the same intent. Patterns are taken greedily, most requests first, each
covering its requests so the next one must explain new traffic.

Each is answered by the template and handler of an existing rule of the same intent
(the one the degradation ladder would use: it needs no capture groups), at a
priority below every shipped rule so it never steals their traffic. An intent
no rule answers yet has no template to offer, so it gets no suggestion: those
(cancellations, refunds) are actions the LLM loop exists for.

A suggestion comes with the backtest of the live set plus it. Rejected ones
are stored and never offered again.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import re2

from agentcore.backtest import Backtester, BacktestResult
from agentcore.errors import BacktestCancelled
from agentcore.router import _OPTIONS, Router, Rule, expand
from agentcore.storage import RuleRepository

_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+")
_NUM = "<num>"
_FRAME = ("greeting", "no_digits", "signoff")  # the shipped rules' frame of a message
_CANDIDATES = 30  # shapes checked per round, most frequent first
_STOP = frozenset((  # words of four letters or more that say nothing about the intent
    "could", "does", "from", "have", "hello", "here", "into", "just", "please", "that",
    "their", "them", "then", "there", "they", "this", "want", "what", "when", "where",
    "which", "will", "with", "would", "your", "yours", "thanks", "thank"))
SUGGESTED_PRIORITY = 5  # below the shipped rules (10 and up): a suggestion only adds


@dataclass(frozen=True, slots=True)
class Suggestion:
    key: str  # intent and pattern: what a rejection remembers
    rule: Rule
    support: int  # slow-path requests of this shape in the sample
    examples: tuple[str, ...]
    result: BacktestResult  # the live rules plus this one

    @property
    def gained(self) -> int:
        return len(self.result.gained)

    @property
    def precision(self) -> float | None:
        return self.result.rule_precision(self.rule.id)


def tokens(text: str) -> list[str]:
    return [_NUM if t.isdigit() else t for t in _TOKEN.findall(text)]


def ngrams(words: list[str], sizes: Iterable[int] = (1, 2, 3)) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for n in sizes for i in range(len(words) - n + 1)}


def _informative(gram: tuple[str, ...]) -> bool:
    """Says something: a word of four letters or more that is not a filler word."""
    return any(len(w) >= 4 and w not in _STOP and w != _NUM for w in gram)


def pattern_for(gram: tuple[str, ...], fragments: Mapping[str, str]) -> str:
    """The words in order, any punctuation between; framed like the shipped rules
    (one question, optional greeting and sign-off, no order number) when the rule
    set has those fragments, so a message asking two things still reaches the LLM."""
    core = r"\b" + r"\W+".join(r"\d+" if w == _NUM else re2.escape(w) for w in gram) + r"\b"
    if _NUM not in gram and all(name in fragments for name in _FRAME):
        return "^{greeting}{no_digits}" + core + "{no_digits}{signoff}$"
    return core


def suggestion_key(intent: str, pattern: str) -> str:
    return f"{intent}\x1f{pattern}"


def _slug(gram: tuple[str, ...]) -> str:
    return "-".join("n" if w == _NUM else re.sub(r"[^a-z0-9]+", "", w) or "x" for w in gram)


def suggest_rules(backtester: Backtester, live: Router, *, rejected: set[str] | frozenset[str] = (
        frozenset()), min_support: int = 3, limit: int = 8,
        cancelled: Callable[[], bool] = lambda: False) -> list[Suggestion]:
    """Suggestions, most traffic first, each with its backtest."""
    traffic = backtester.requests
    known = traffic.known
    texts = traffic.normalised
    labelled = [i for i, intent in enumerate(known) if intent]
    grams_of = {i: {g for g in ngrams(tokens(texts[i])) if _informative(g)} for i in labelled}
    slow = {i for i in labelled if live.hits(texts[i])[0] is None}
    templates: dict[str, Rule] = {}
    for intent in {known[i] or "" for i in slow}:
        answering = live.fallback_rules(intent)
        if answering:
            templates[intent] = answering[0]
    covered: set[int] = set()
    tried: set[str] = set()
    found: list[Suggestion] = []
    taken_ids = {r.id for r in live.rules}
    while len(found) < limit:
        if cancelled():
            raise BacktestCancelled("superseded")
        support: dict[tuple[str, ...], int] = defaultdict(int)
        for i in slow - covered:
            if known[i] in templates:
                for g in grams_of[i]:
                    support[g] += 1
        ranked = sorted(((n, len(g), g) for g, n in support.items() if n >= min_support),
                        reverse=True)
        picked = None
        for _, _, gram in ranked[:_CANDIDATES]:
            pattern = pattern_for(gram, live.fragments)
            if pattern in tried:
                continue
            tried.add(pattern)
            # Checked as the router will match it, over every request of known intent.
            regex = re2.compile(expand(pattern, live.fragments), _OPTIONS)
            matched = [i for i in labelled if regex.search(texts[i])]
            intents = {known[i] or "" for i in matched}
            members = [i for i in matched if i in slow and i not in covered]
            if len(intents) != 1 or len(members) < min_support:
                continue  # not always the same intent, or too rare once framed
            intent = intents.pop()
            if intent in templates and suggestion_key(intent, pattern) not in rejected:
                picked = gram, intent, pattern, members
                break
        if picked is None:
            break
        gram, intent, pattern, members = picked
        covered.update(members)
        base = templates[intent]
        base_id = rule_id = f"suggested-{_slug(gram)}"
        n = 1
        while rule_id in taken_ids:  # -2, -3, ... as a person would number them
            n += 1
            rule_id = f"{base_id}-{n}"
        taken_ids.add(rule_id)
        rule = Rule(id=rule_id, name=f"Suggested: '{' '.join(gram)}' -> {intent}",
                    pattern=pattern, intent=intent, handler=base.handler,
                    template=base.template, priority=SUGGESTED_PRIORITY, enabled=True,
                    cache=base.cache)
        result = backtester.run(live, Router([*live.rules, rule], live.handlers,
                                                 fragments=live.fragments),
                                focus=rule_id, cancelled=cancelled)
        found.append(Suggestion(suggestion_key(intent, pattern), rule, len(members),
                                tuple(traffic.texts[i] for i in members[:5]), result))
    return found


class RejectedSuggestions:
    """What operators turned down, kept with the rules (the engine's `store.rules`)."""

    def __init__(self, rules: RuleRepository) -> None:
        self._rules = rules

    def keys(self) -> set[str]:
        return self._rules.rejected_keys()

    def reject(self, suggestion: Suggestion, *, author: str, at: float) -> None:
        self._rules.reject_suggestion(suggestion.key, suggestion.rule.pattern,
                                      suggestion.rule.intent, author=author, at=at)
