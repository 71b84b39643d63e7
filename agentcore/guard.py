"""The guard: the first stage, which every request passes or is turned away at.

It rejects what no stage should see (empty, huge, binary), rate-limits each
customer (and anonymous traffic as one shared customer), and normalises the text
the router matches (NFKC, lowercase, whitespace collapsed). Rejections carry a
reason a person can read.
"""

from __future__ import annotations

import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass

from agentcore.clock import Clock
from agentcore.settings import GuardSettings

# Control characters other than tab and newlines, C1 controls, lone surrogates and
# the replacement character: what decoded binary looks like. A fixed pattern
# (stdlib re is fine here), scanned in C rather than a Python loop.
_SURROGATE = re.compile("[\ud800-\udfff]")
_MAX_CUSTOMER_ID = 2**63  # SQLite's INTEGER range
_SUSPICIOUS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")

# Customers whose buckets are kept (some 30 MB); past it the least recently seen is
# forgotten and comes back with a full bucket. Only the least recently seen: a
# customer still sending moves to the back with every request, refused ones too, so
# forgetting one still limited takes this many other customers' requests since its
# last, and whoever sends those already holds that many full buckets.
MAX_TRACKED_CUSTOMERS = 100_000


@dataclass(frozen=True, slots=True)
class Verdict:
    text: str = ""  # normalised, for routing and the cache
    original: str = ""  # what the customer wrote (any stray surrogate replaced), for the LLM
    reason: str | None = None  # why the request was rejected, None when accepted
    message: str = ""  # what the customer is told on rejection


def _rejected(reason: str, message: str) -> Verdict:
    return Verdict(reason=reason, message=message)


class Guard:
    def __init__(self, settings: GuardSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        # customer -> (tokens, at), least recently seen first
        self._buckets: OrderedDict[int, tuple[float, float]] = OrderedDict()
        self._anonymous: tuple[float, float] | None = None  # one bucket all of them share

    @property
    def tracked_customers(self) -> int:
        """How many customers' buckets are held (at most `MAX_TRACKED_CUSTOMERS`)."""
        return len(self._buckets)

    def check(self, text: object, customer_id: int | None, *,
              rate_limited: bool = True) -> Verdict:
        """`rate_limited` False: an operator's re-run of a request that was counted when
        it arrived, and is not counted again."""
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
        throttled = self._throttled(customer_id) if rate_limited else None
        return throttled or Verdict(text=normalised, original=text.strip())

    def _throttled(self, customer_id: int | None) -> Verdict | None:
        """The rate limit's rejection, or None when a token was taken."""
        if customer_id is None:
            if self._take_anonymous_token():
                return None
            return _rejected("rate limited", "We are receiving more messages without an "
                                             "account than we can answer; please sign in "
                                             "or try again in a minute.")
        if self._take_token(customer_id):
            return None
        return _rejected("rate limited", "You are sending messages faster than we can "
                                         "answer them; please wait a minute.")

    def _take_token(self, customer_id: int) -> bool:
        """A token bucket per customer: `rate_per_minute` sustained, same-size bursts."""
        buckets = self._buckets
        taken, bucket = _take(buckets.get(customer_id), self.settings.rate_per_minute,
                              self.clock)
        buckets[customer_id] = bucket
        buckets.move_to_end(customer_id)  # a refused request counts as seen: still flooding
        if len(buckets) > MAX_TRACKED_CUSTOMERS:
            buckets.popitem(last=False)
        return taken

    def _take_anonymous_token(self) -> bool:
        """Anonymous requests can't be told apart, so they share one bucket: a flood of
        them is limited without touching any customer's."""
        taken, self._anonymous = _take(self._anonymous, self.settings.anonymous_rate_per_minute,
                                       self.clock)
        return taken


def _take(bucket: tuple[float, float] | None, rate: int,
          clock: Clock) -> tuple[bool, tuple[float, float]]:
    """Takes a token from a bucket of (tokens, at) refilling at `rate` a minute up to
    `rate` (None: one never used, full); whether it had one, and the bucket after."""
    now = clock.monotonic()
    tokens, at = bucket or (float(rate), now)
    tokens = min(float(rate), tokens + (now - at) * rate / 60.0)
    if tokens < 1.0:
        return False, (tokens, now)
    return True, (tokens - 1.0, now)


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
        # Not onto whitespace: `str.split` cuts there, so a mark after a line break stands
        # alone in `normalise` too ("\r\u0300" is just the mark).
        while end < len(text) and not text[start].isspace() and unicodedata.combining(text[end]):
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
