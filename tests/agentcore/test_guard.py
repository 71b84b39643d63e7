"""The guard's rate limits, which no flood of requests or of fresh customer ids gets
past; and the router's normalisation, mapped back to what was typed: the rules view
marks matches with it, so every normalised character must point at the text it came
from."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from agentcore.clock import FakeClock
from agentcore.guard import MAX_TRACKED_CUSTOMERS, Guard, normalise, normalise_with_spans
from agentcore.settings import GuardSettings

FRESH = 10**12  # customer ids from here on are a flood's made-up ones


def accepted(guard: Guard, customer_id: int | None) -> bool:
    verdict = guard.check("where is my order?", customer_id)
    assert verdict.reason in (None, "rate limited")
    return verdict.reason is None


def test_an_anonymous_flood_is_limited_and_leaves_named_customers_alone():
    clock = FakeClock()
    guard = Guard(GuardSettings(rate_per_minute=5, anonymous_rate_per_minute=20), clock)
    anonymous = [accepted(guard, None) for _ in range(30)]
    assert anonymous.count(True) == 20 and anonymous[20:] == [False] * 10
    refused = guard.check("where is my order?", None)
    assert refused.reason == "rate limited" and "sign in" in refused.message
    assert [accepted(guard, 7) for _ in range(6)] == [True] * 5 + [False]
    clock.advance(3.0)  # 20 a minute: one more anonymous request in three seconds
    assert [accepted(guard, None) for _ in range(2)] == [True, False]


def test_a_customer_mid_flood_stays_limited_while_fresh_ids_fill_the_table():
    guard = Guard(GuardSettings(rate_per_minute=3), FakeClock())
    assert [accepted(guard, 42) for _ in range(4)] == [True, True, True, False]
    retries = []
    for n in range(2 * MAX_TRACKED_CUSTOMERS):
        assert accepted(guard, FRESH + n)  # each fresh id has a full bucket
        if n % 1000 == 0:  # the flooder keeps trying, and so stays recently seen
            retries.append(accepted(guard, 42))
    assert retries == [False] * len(retries)
    assert guard.tracked_customers == MAX_TRACKED_CUSTOMERS


def test_past_the_bound_the_least_recently_seen_customers_are_forgotten_first():
    guard = Guard(GuardSettings(rate_per_minute=1), FakeClock())  # one request empties a bucket
    total = MAX_TRACKED_CUSTOMERS + 1000
    for n in range(total):
        assert accepted(guard, FRESH + n)
    assert guard.tracked_customers == MAX_TRACKED_CUSTOMERS  # memory stays bounded
    kept = range(total - MAX_TRACKED_CUSTOMERS, total)  # the most recent: still limited
    assert not any(accepted(guard, FRESH + n) for n in kept)
    # The oldest come back with a full bucket: they were idle the longest.
    assert all(accepted(guard, FRESH + n) for n in range(total - MAX_TRACKED_CUSTOMERS))
    assert guard.tracked_customers == MAX_TRACKED_CUSTOMERS


def test_line_breaks_spaces_ligatures_and_wide_letters_map_to_what_was_typed():
    text = "Where  is\nmy ＯＲＤＥＲ? ﬁle it"
    normalised, spans = normalise_with_spans(text)
    assert normalised == normalise(text) == "where is my order? file it"
    typed = [text[a:b] for a, b in spans]
    assert typed[5] == "  " and typed[8] == "\n"  # each run of whitespace is one space
    assert typed[12:17] == list("ＯＲＤＥＲ")
    assert typed[19:21] == ["ﬁ", "ﬁ"]  # "fi" both come from the one ligature


@given(st.text(st.characters(codec="utf-8"), max_size=40))
@example("\r\u0300")  # a combining mark after whitespace: found by this test in CI
def test_every_normalised_character_comes_from_the_span_it_names(text):
    mapped = normalise_with_spans(text)
    if mapped is None:  # allowed only where piecewise normalising differs
        return
    normalised, spans = mapped
    assert normalised == normalise(text) and len(spans) == len(normalised)
    for char, (start, end) in zip(normalised, spans, strict=True):
        assert 0 <= start < end <= len(text)
        source = text[start:end]
        if char == " ":
            assert not source.strip() or " " in unicodedata.normalize("NFKC", source)
        else:
            assert char in unicodedata.normalize("NFKC", source).lower()
    assert spans == sorted(spans)  # in order: a match maps to one stretch
