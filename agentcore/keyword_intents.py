"""Keyword scoring that names a support intent, as a cheap classifier model would.

A domain gives the keywords of its intents (`Domain.keywords`); the degradation
ladder names a request's intent with them when no model can be reached, the loop
falls back to them when the cheap model's reply is unusable, and the mock LLM
classifies with the demo shop's.

Text and keywords go through the same normalisation (lower case, accents and
punctuation stripped), so "Rückerstattung", "ruckerstattung" and
"RÜCKERSTATTUNG!" score alike. A keyword ending in `*` is a stem ("refund*"
also matches "refunded"); single words of six letters or more also match with
one typo, because real customers write "pasword" and "cancle", unless they end
in `=` ("charged=" must not match "charger").
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["KeywordClassifier", "normalise"]

def normalise(text: str) -> str:
    """Lower case, no accents, words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join("".join(c if c.isalnum() else " " for c in bare).split())


@dataclass(frozen=True, slots=True)
class _Keyword:
    text: str  # normalised
    stem: bool
    weight: float
    typos: bool

    @property
    def phrase(self) -> bool:
        return " " in self.text


def _compile(table: Mapping[str, Mapping[str, float]]) -> dict[str, list[_Keyword]]:
    return {intent: [_Keyword(normalise(w.rstrip("*=")), w.endswith("*"), weight,
                              typos=not w.endswith("="))
                     for w, weight in words.items()]
            for intent, words in table.items()}


@lru_cache(maxsize=4096)
def _within_one_edit(a: str, b: str) -> bool:
    """Levenshtein distance <= 1, counting a swap of neighbours as one edit."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diffs = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (len(diffs) == 2 and diffs[1] == diffs[0] + 1
                and a[diffs[0]] == b[diffs[1]] and a[diffs[1]] == b[diffs[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = 0
    while i < len(short) and short[i] == long[i]:
        i += 1
    return short[i:] == long[i + 1:]


def _word_matches(token: str, kw: _Keyword) -> bool:
    if token == kw.text or (kw.stem and token.startswith(kw.text)):
        return True
    # Typos only for long words: short ones collide ("truck" is one edit from "track").
    if len(kw.text) < 6 or not kw.typos:
        return False
    if _within_one_edit(token, kw.text):
        return True
    # A stem with a typo and a suffix ("refnded"): compare the token's prefixes.
    return kw.stem and any(_within_one_edit(token[:n], kw.text)
                           for n in (len(kw.text) - 1, len(kw.text), len(kw.text) + 1)
                           if n < len(token))


class KeywordClassifier:
    """Scores a text against each intent's keywords. The table's order is the
    tie-break: when two intents score the same, the earlier one wins, so specific
    intents listed first beat the catch-alls listed last. No keyword at all names
    `fallback`."""

    def __init__(self, table: Mapping[str, Mapping[str, float]], fallback: str = "other") -> None:
        self._keywords = _compile(table)
        self.fallback = fallback
        # Pure, ~1 ms a call, and traffic repeats its wording.
        self.classify = lru_cache(maxsize=8192)(self._classify)

    def scores(self, text: str) -> dict[str, float]:
        """Each intent's keyword score for `text` (every keyword counts once)."""
        norm = normalise(text)
        padded = f" {norm} "
        tokens = set(norm.split())
        result: dict[str, float] = {}
        for intent, keywords in self._keywords.items():
            total = 0.0
            for kw in keywords:
                hit = (f" {kw.text}" in padded if kw.phrase and kw.stem
                       else f" {kw.text} " in padded if kw.phrase
                       else any(_word_matches(t, kw) for t in tokens))
                if hit:
                    total += kw.weight
            result[intent] = total
        return result

    def _classify(self, text: str) -> tuple[str, float]:
        """The best intent and a confidence that grows with its score and its lead."""
        ranked = sorted(self.scores(text).items(), key=lambda kv: -kv[1])  # stable
        if not ranked or ranked[0][1] == 0:
            return self.fallback, 0.3
        best, top = ranked[0]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        confidence = 0.45 + 0.35 * (1 - math.exp(-top / 3)) + 0.15 * (top - second) / top
        return best, round(min(confidence, 0.97), 2)
