"""The guard: the first stage, which every request passes or is turned away at.

It rejects what no stage should see (empty, huge, binary), rate-limits each
customer, and normalises the text the router matches (NFKC, lowercase,
whitespace collapsed). Rejections carry a reason a person can read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from agentcore.clock import Clock
from agentcore.settings import GuardSettings

# Control characters other than tab and newlines, C1 controls, lone surrogates and
# the replacement character: what decoded binary looks like. A fixed pattern
# (stdlib re is fine here), scanned in C rather than a Python loop.
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_CUSTOMER_ID = 2**63  # SQLite's INTEGER range
_SUSPICIOUS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")


@dataclass(frozen=True, slots=True)
class Verdict:
    text: str = ""  # normalised, for routing and the LLM
    reason: str | None = None  # why the request was rejected, None when accepted
    message: str = ""  # what the customer is told on rejection


def _rejected(reason: str, message: str) -> Verdict:
    return Verdict(reason=reason, message=message)


class Guard:
    def __init__(self, settings: GuardSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # customer -> (tokens, at)

    def check(self, text: object, customer_id: int | None) -> Verdict:
        if not isinstance(text, str):
            return _rejected("not text", "We could only read text messages.")
        limit = self.settings.max_chars
        if len(text) > limit:
            return _rejected("too long", f"Your message is {len(text):,} characters long; "
                                         f"please keep it under {limit:,}.")
        if _looks_binary(text):
            return _rejected("binary", "Your message looks like binary data, not text.")
        if customer_id is not None and (
                type(customer_id) is not int or not 0 < customer_id < _MAX_CUSTOMER_ID):
            return _rejected("invalid customer", "We could not tell which account this is.")
        if _SURROGATE.search(text):  # a few stray ones: no regex engine or database takes them
            text = text.encode("utf-8", "replace").decode("utf-8")
        normalised = normalise(text)
        if not normalised:
            return _rejected("empty", "Your message was empty. How can we help?")
        if customer_id is not None and not self._take_token(customer_id):
            return _rejected("rate limited", "You are sending messages faster than we can "
                                             "answer them; please wait a minute.")
        return Verdict(text=normalised)

    def _take_token(self, customer_id: int) -> bool:
        """A token bucket per customer: `rate_per_minute` sustained, same-size bursts."""
        rate = self.settings.rate_per_minute
        now = self.clock.monotonic()
        tokens, at = self._buckets.get(customer_id, (float(rate), now))
        tokens = min(float(rate), tokens + (now - at) * rate / 60.0)
        if len(self._buckets) > 100_000:  # bound memory: forget idle customers
            self._buckets.clear()
        if tokens < 1.0:
            self._buckets[customer_id] = (tokens, now)
            return False
        self._buckets[customer_id] = (tokens - 1.0, now)
        return True


def normalise(text: str) -> str:
    """What the router matches: NFKC, lowercase, whitespace collapsed (backtests
    replay recorded text through this same function)."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).lower()


def normalise_with_spans(text: str) -> tuple[str, list[tuple[int, int]]] | None:
    """`normalise(text)` and, for each of its characters, the span of `text` it came
    from: what lets the rules view mark a match in the text the operator typed. None
    in the rare text where normalising piecewise differs from normalising the whole
    (a Greek final sigma, say)."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    space_from: int | None = None  # where a run of whitespace started
    start = 0
    while start < len(text):
        end = start + 1  # a base character with its combining marks, normalised together
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        for char in unicodedata.normalize("NFKC", text[start:end]).lower():
            if char.isspace():
                space_from = start if space_from is None else space_from
                continue
            if space_from is not None and out:  # a run of whitespace: one space
                out.append(" ")  # from the run, or from inside this character ("¨")
                spans.append((space_from, start if start > space_from else end))
            space_from = None
            out.append(char)
            spans.append((start, end))
        start = end
    normalised = "".join(out)
    return (normalised, spans) if normalised == normalise(text) else None


def _looks_binary(text: str) -> bool:
    """NUL, or more than 10% control characters, lone surrogates or U+FFFD."""
    if "\x00" in text:
        return True
    return len(_SUSPICIOUS.findall(text)) > max(2, len(text) // 10)
