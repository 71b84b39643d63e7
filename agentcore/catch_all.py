"""Catch-all patterns: a rule that would answer every request is refused.

A pattern searched anywhere in the text (the router's `Set` is unanchored)
matches every request when any part of it can match nothing at all (`x*`,
`a?`, `(?:)`, `^`), or when it asks for nothing a topic has (`.`, `\\b`,
`\\w`). Deciding "matches every text" exactly would take an automaton walk;
instead each pattern is searched in a few probe texts that share no word, no
letter and no shape: gibberish, digits, punctuation, an unrelated sentence.
A rule about something (refunds, an order number, a greeting) misses at least
one of them; a pattern that hits all of them is about nothing, and would take
over all traffic the moment it is applied.

Why not only "it matches the empty text": the guard never passes an empty
message, and `^(?:hi)?$` matches "" yet only ever answers "hi". The empty
match only shapes the advice (which part to make required).
"""

from __future__ import annotations

from functools import cache
from typing import Any

# Every probe holds an ASCII letter or digit: RE2's `\b` and `\w` are ASCII-only, so
# a probe in another script (or of punctuation alone) would let `\b` through.
PROBES: tuple[str, ...] = (
    "qzxvwbjkp",
    "90210 4471",
    "?!... #7 :-)",
    "Ça coûte combien, Señor?",
    "The committee adjourned after a lengthy debate on municipal drainage in 1987.",
)
_SHOWN = 60  # characters of the operator's pattern quoted in the message


def catch_all_reason(regex: Any, pattern: str, *, uses_fragments: bool) -> str | None:
    """Why `regex` (the compiled, fragment-expanded `pattern`) would answer every
    request, in terms of the operator's own `pattern`; None when it would not."""
    if not all(regex.search(probe) for probe in _normalised_probes()):
        return None
    shown = pattern if len(pattern) <= _SHOWN else pattern[:_SHOWN - 1] + "…"
    said = f"the pattern '{shown}'" + (" (fragments filled in)" if uses_fragments else "")
    if regex.search("") is not None:
        return (f"{said} matches without reading a single character, so it would take over "
                "all traffic. Make at least one word required (+ rather than *, no ? or "
                "empty alternative around it all)")
    return (f"{said} matches any text (gibberish, digits, punctuation, an unrelated "
            "sentence), so it would take over all traffic. Name the words a request must "
            r"contain, e.g. \brefund\b")


@cache
def _normalised_probes() -> tuple[str, ...]:
    # As the router's input is normalised (case, spacing, NFKC). Imported here: the
    # guard's settings import the router, which imports this module.
    from agentcore.guard import normalise

    return tuple(normalise(text) for text in PROBES)
