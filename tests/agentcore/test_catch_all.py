"""A pattern that matches every request is refused wherever rules are checked: the
router build (apply, import, stored rules) and the editor's check as it is typed."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from agentcore.demo_shop.domain import RESOURCES
from agentcore.errors import RuleError
from agentcore.router import Router, Rule
from agentcore.rule_draft import check_pattern
from tests.routing import SHOP_HANDLERS

CATCH_ALL = [".*", "^", "$", "x*", r"\b", r"\B", "(?:)", ".", r"\w*", r"\w", r"\S", "[^\n]*",
             "a?", "(?:refund)?", "refund|", r"[a-z]|\d", ".+", r"^.{0,80}"]
ORDINARY = [  # shaped like the shipped ones: each is about something
    r"\brefund\b", r"\b(?P<order_id>\d{5})\b", r"^{greeting}where is my order\b",
    r"^{greeting}(?:{hello_word})(?:{hello_who})?[ ,.!]*$", r"{asks_shipping}",
    r"\bcancel(?:led|lation)?\b", r"^(?:hi)?$", r"{asks_password_reset}",
    r"\b(?:gift cards?|vouchers?)\b", r"[^.?!0-9]*\bopen\b", r"\d{5}", r"(?:x|y)+z",
]


def rule(pattern: str, rid: str = "broad") -> Rule:
    return Rule(id=rid, name=rid, pattern=pattern, intent="other", handler="static",
                template="An answer.")


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    path = RESOURCES / "rules.yaml"
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def fragments(shipped) -> dict[str, str]:
    return dict(shipped["fragments"])


@pytest.mark.parametrize("pattern", CATCH_ALL)
def test_a_pattern_that_matches_every_request_is_refused_naming_rule_and_pattern(pattern):
    with pytest.raises(RuleError) as err:
        Router([rule(r"\bhello\b", "fine"), rule(pattern)], SHOP_HANDLERS)
    assert err.value.rule_id == "broad"
    assert f"the pattern '{pattern}'" in err.value.reason
    assert "take over all traffic" in err.value.reason
    assert check_pattern(pattern, {}) == err.value.reason  # the editor says the same


@pytest.mark.parametrize("pattern", ["x*", "^", "(?:refund)?"])
def test_an_empty_match_is_told_to_make_a_word_required(pattern):
    assert "Make at least one word required" in (check_pattern(pattern, {}) or "")


@pytest.mark.parametrize("pattern", ORDINARY)
def test_an_ordinary_pattern_is_accepted(pattern, fragments):
    assert check_pattern(pattern, fragments) is None
    assert len(Router([rule(pattern)], SHOP_HANDLERS, fragments=fragments)) == 1


def test_a_fragment_that_makes_everything_optional_is_refused_in_the_operators_words(
        fragments):
    # {greeting} alone is all optional: expanded, it matches nothing at all.
    problem = check_pattern("^{greeting}", fragments)
    assert problem is not None and "the pattern '^{greeting}' (fragments filled in)" in problem
    assert fragments["salutation"][:20] not in problem  # never the expanded regex


def test_every_shipped_rule_passes_enabled_or_not(shipped, fragments):
    everything = [Rule.from_dict({**r, "enabled": True}) for r in shipped["rules"]]
    assert len(everything) > 10
    for shipped in everything:
        assert check_pattern(shipped.pattern, fragments) is None, shipped.id
    assert len(Router(everything, SHOP_HANDLERS, fragments=fragments)) == len(everything)


def test_a_syntax_error_points_into_the_operators_pattern_not_the_expanded_one(fragments):
    problem = check_pattern("{greeting}(", fragments)
    assert problem == "invalid pattern: missing ) at character 11"  # the "(" after {greeting}


def test_case_and_spacing_do_not_let_a_pattern_through():
    # The router matches normalised text: a pattern for "any capital letter" is
    # case-insensitive there, so it too matches every request.
    assert check_pattern(r"[A-Z]|[0-9]", {}) is not None
