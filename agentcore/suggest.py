"""Rule suggestions mined from the slow path's history.

Requests the live rules do not match and whose intent is known (the LLM's
decision, or an operator's label) are cut into word n-grams (numbers become
one token, so "cancel order 12345" and "cancel order 67890" are one shape).
An n-gram that recurs in at least `min_support` of them and *always* comes
with the same intent, across every known-intent request in the sample, is a
candidate. Candidates are taken greedily, most requests first, each covering
its requests so the next one must explain new traffic.

Each becomes an RE2 pattern (the words in order, any punctuation between),
answered by the template and handler of an existing rule of the same intent
(the one the degradation ladder would use: it needs no capture groups), at a
priority below every shipped rule so it never steals their traffic. An intent
no rule answers yet has no template to offer, so it gets no suggestion: those
(cancellations, refunds) are actions the LLM loop exists for.

A suggestion comes with the backtest of the live set plus it. Rejected ones
are stored and never offered again.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import re2

from agentcore.backtest import Backtester, BacktestResult
from agentcore.router import Router, Rule

_TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?|\d+")
_NUM = "<num>"
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


def ngrams(words: list[str], sizes: Iterable[int] = (2, 3, 4)) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for n in sizes for i in range(len(words) - n + 1)
            if any(w != _NUM for w in words[i:i + n])}


def pattern_for(gram: tuple[str, ...]) -> str:
    parts = [r"\d+" if w == _NUM else re2.escape(w) for w in gram]
    return r"\b" + r"\W+".join(parts) + r"\b"


def suggestion_key(intent: str, pattern: str) -> str:
    return f"{intent}\x1f{pattern}"


def _slug(gram: tuple[str, ...]) -> str:
    return "-".join("n" if w == _NUM else re.sub(r"[^a-z0-9]+", "", w) or "x" for w in gram)


def suggest(backtester: Backtester, live: Router, *, rejected: set[str] | frozenset[str] = (
        frozenset()), min_support: int = 3, limit: int = 8,
        cancelled: Callable[[], bool] = lambda: False) -> list[Suggestion]:
    """Suggestions, most traffic first, each with its backtest."""
    traffic = backtester.requests
    known = traffic.known
    grams_of = [ngrams(tokens(text)) if intent else set()
                for text, intent in zip(traffic.normalised, known, strict=True)]
    intents_of: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for intent, grams in zip(known, grams_of, strict=True):
        for g in grams:
            intents_of[g].add(intent or "")
    slow = [i for i, text in enumerate(traffic.normalised)
            if known[i] and live.hits(text)[0] is None]
    templates = {}
    for intent in {known[i] for i in slow}:
        answering = live.fallback_rules(intent or "")
        if answering:
            templates[intent] = answering[0]
    covered: set[int] = set()
    found: list[Suggestion] = []
    taken_ids = {r.id for r in live.rules}
    while len(found) < limit:
        support: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i in slow:
            if i in covered or known[i] not in templates:
                continue
            for g in grams_of[i]:
                if len(intents_of[g]) == 1:  # always the same intent, wherever it occurs
                    support[g].append(i)
        ranked = sorted(((len(v), len(g), g) for g, v in support.items()
                         if len(v) >= min_support), reverse=True)
        picked = None
        for _, _, gram in ranked:
            intent = known[support[gram][0]] or ""
            pattern = pattern_for(gram)
            if suggestion_key(intent, pattern) not in rejected:
                picked = gram, intent, pattern
                break
        if picked is None:
            break
        gram, intent, pattern = picked
        members = support[gram]
        covered.update(members)
        base = templates[intent]
        rule_id = f"suggested-{_slug(gram)}"
        while rule_id in taken_ids:
            rule_id += "-2"
        taken_ids.add(rule_id)
        rule = Rule(id=rule_id, name=f"Suggested: '{' '.join(gram)}' -> {intent}",
                    pattern=pattern, intent=intent, handler=base.handler,
                    template=base.template, priority=SUGGESTED_PRIORITY, enabled=True,
                    cache=base.cache)
        result = backtester.run(live, Router([*live.rules, rule], fragments=live.fragments),
                                focus=rule_id, cancelled=cancelled)
        found.append(Suggestion(suggestion_key(intent, pattern), rule, len(members),
                                tuple(traffic.texts[i] for i in members[:5]), result))
    return found


class RejectedSuggestions:
    """What operators turned down, kept in the engine's database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def keys(self) -> set[str]:
        return {k for (k,) in self._conn.execute("SELECT key FROM rejected_suggestions")}

    def reject(self, suggestion: Suggestion, *, author: str, at: float) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO rejected_suggestions VALUES (?, ?, ?, ?, ?)",
            (suggestion.key, suggestion.rule.pattern, suggestion.rule.intent, author, at))
