"""Acting rules read a closed list of words: a rule whose handler writes is refused
when its pattern could take a message that asks for something else.

A rule that acts refunds, cancels or sends on the words it matched, with no LLM to
weigh the rest of the message. The write policy bounds what one write may do (the
customer's own order, what the policy allows, once per request), but not whether
the customer asked for it: an operator's `{order_id}` with the refund handler
would refund every order anyone mentions, each within policy. So the router, as
for catch-all patterns, refuses such a pattern when it is applied, in words:

- it must read the whole message (`^...$`, no top-level `|` around the anchors),
  or a quoted or negated ask in a longer message ("they said 'refund 12345' is
  impossible?") would act;
- it may not skip across words it did not name (`.`, `\\W`, `\\D`, a `[^...]` that
  takes spaces): whatever such a wildcard lets through (a damage, an amount, "but
  don't") is the LLM's. One unnamed word (`\\S+`, `[^ .?!]+`: a name after "thanks")
  is allowed;
- it may not match probe messages that ask no action, or ask the opposite: a bare
  number, a status question, "do not refund or cancel order 12345".

A pattern that passes can still be too broad; these checks stop the careless
patterns (the ones an operator types in a hurry), the policy bounds the rest.
"""

from __future__ import annotations

from functools import cache
from typing import Any

# Messages no acting rule may take: no ask for an action, or the opposite one.
PROBES: tuple[str, ...] = (
    "12345",
    "#12345",
    "order 12345",
    "order #12345?",
    "where is 12345?",
    "where is order 12345?",
    "what is the status of order 12345?",
    "is order 12345 refundable?",
    "why was order 12345 cancelled?",
    "do not refund or cancel order 12345",
    "don't refund or cancel 12345, thanks",
    "never refund or cancel anything",
)
_WILDCARD_ESCAPES = frozenset("WD")  # \\w and \\S stay within one word
_SHOWN = 60


def broad_acting_reason(regex: Any, pattern: str, expanded: str, handler: str) -> str | None:
    """Why the rule (its `pattern`, `expanded` with fragments, compiled to `regex`) must
    not act through `handler`; None when it reads a closed list of words."""
    shown = pattern if len(pattern) <= _SHOWN else pattern[:_SHOWN - 1] + "…"
    said = f"handler {handler!r} acts, and the pattern '{shown}'"
    shape = _shape_problem(expanded)
    if shape:
        return f"{said} {shape}; an acting rule names every word it takes"
    for probe in _normalised_probes():
        if regex.search(probe):
            return (f"{said} matches {probe!r}, which asks for no such action; name the "
                    "words of the ask before or after the record it acts on")
    return None


def _shape_problem(expanded: str) -> str | None:
    """The first way `expanded` can read more than the whole message by its named
    words, or None."""
    if not expanded.startswith("^") or not _ends_anchored(expanded):
        return "does not read the whole message (start it with ^ and end it with $)"
    depth, i, in_class = 0, 0, False
    while i < len(expanded):
        char = expanded[i]
        if char == "\\":
            if i + 1 < len(expanded) and expanded[i + 1] in _WILDCARD_ESCAPES:
                return f"skips words it does not name (\\{expanded[i + 1]})"
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            end = _class_end(expanded, i)
            if expanded[i + 1:i + 2] == "^" and not _keeps_out_spaces(expanded[i + 2:end]):
                return f"skips words it does not name ({expanded[i:end + 1]} takes spaces)"
            i, in_class = end, False
        elif char == ".":
            return "skips words it does not name (.)"
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return "has a top-level | (wrap the alternatives in (?:...) between ^ and $)"
        i += 1
    return None


def _class_end(expanded: str, start: int) -> int:
    """The index of the `]` closing the character class opened at `start`."""
    i = start + 1
    if expanded[i:i + 1] == "^":
        i += 1
    if expanded[i:i + 1] == "]":  # ']' first is a literal inside the class
        i += 1
    while i < len(expanded) and expanded[i] != "]":
        i += 2 if expanded[i] == "\\" else 1
    return i


def _keeps_out_spaces(negated: str) -> bool:
    """Whether a negated class's members include the space (so it stays in one word)."""
    return " " in negated or "\\s" in negated


def _ends_anchored(expanded: str) -> bool:
    """Ends in an unescaped `$` (an odd run of backslashes before it escapes it)."""
    if not expanded.endswith("$"):
        return False
    slashes = len(expanded[:-1]) - len(expanded[:-1].rstrip("\\"))
    return slashes % 2 == 0


@cache
def _normalised_probes() -> tuple[str, ...]:
    from agentcore.guard import normalise  # as catch_all: guard -> settings -> router

    return tuple(normalise(text) for text in PROBES)
