"""A broken pattern is told about in the operator's own words: their pattern as typed
(fragments unexpanded), the place at fault, never RE2's quote of the expanded regex
(which once ran to thousands of characters in a label)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from agentcore.demo_shop.domain import RESOURCES
from agentcore.errors import PatternError, RuleError
from agentcore.router import Router, Rule
from agentcore.rule_draft import pattern_pointer, pattern_problem
from tests.routing import SHOP_HANDLERS


@pytest.fixture(scope="module")
def fragments() -> dict[str, str]:
    shipped: dict[str, Any] = yaml.safe_load((RESOURCES / "rules.yaml").read_text("utf-8"))
    return dict(shipped["fragments"])


def error(pattern: str, fragments: dict[str, str]) -> PatternError:
    rule = Rule(id="r", name="r", pattern=pattern, intent="other", handler="static",
                template="An answer.")
    with pytest.raises(PatternError) as err:
        Router([rule], SHOP_HANDLERS, fragments=fragments)
    assert err.value.rule_id == "r" and err.value.pattern == pattern
    return err.value


@pytest.mark.parametrize(("pattern", "problem", "at"), [
    ("^where is (my order", "missing )", "("),
    ("^{greeting}where is (my order{signoff}$", "missing )", "("),
    ("{greeting}(a|(b)", "missing )", "(a"),  # the last "(" left open
    ("where is my order)", "unexpected )", ")"),
    ("(a[)]b", "missing )", "(a"),  # a ")" in a class closes nothing
    (r"{greeting}(a)\1", "invalid escape sequence", "\\1"),
    (r"(?<=after)x", "invalid perl operator", "(?<="),
    ("{greeting}a{3,1}", "invalid repetition size", "{3,1}"),
    ("{greeting}[abc", "missing ]", "[abc"),
    ("{greeting}**", "bad repetition operator", "**"),
    ("abc\\", "trailing \\", "\\"),
    ("{nope} and {greeting}", "unknown fragment {nope}", "{nope}"),
])
def test_each_kind_of_error_says_where_in_the_typed_pattern(fragments, pattern, problem, at):
    exc = error(pattern, fragments)
    assert problem in exc.reason
    assert exc.position == pattern.index(at)
    assert f"at character {exc.position + 1}" in exc.reason or problem.startswith("unknown")
    assert "(?:" not in exc.reason and fragments["greeting"] not in exc.reason
    assert len(exc.reason) < 300  # a line to read, not a dump of the fragment set


def test_a_fault_inside_a_fragment_names_the_fragment_and_points_at_its_name():
    exc = error("^hello {broken} there", {"broken": "(?:a|b"})
    assert "in the fragment {broken}" in exc.reason
    assert exc.position == len("^hello ")


def test_the_pointer_puts_the_caret_under_the_character_at_fault():
    problem = pattern_problem("^where is (my order", {})
    assert isinstance(problem, PatternError)
    text, caret = pattern_pointer(problem.pattern, problem.position or 0).split("\n")
    assert text == "^where is (my order"
    assert caret == " " * 10 + "^" and text[caret.index("^")] == "("


def test_a_long_pattern_is_shown_around_the_fault_with_the_caret_still_under_it():
    pattern = "a" * 1000 + "(" + "b" * 999
    problem = pattern_problem(pattern, {})
    assert isinstance(problem, PatternError) and problem.position == 1000
    text, caret = pattern_pointer(pattern, 1000).split("\n")
    assert len(text) <= 80 and text.startswith("…") and text.endswith("…")
    assert text[caret.index("^")] == "("
    tail = pattern_pointer("x" * 100 + ")", 100).split("\n")  # at the end: no trailing ellipsis
    assert tail[0].endswith(")") and tail[0][tail[1].index("^")] == ")"


def test_a_line_break_in_a_pattern_does_not_move_the_caret():
    text, caret = pattern_pointer("ab\tc(", 4).split("\n")
    assert text == "ab c(" and text[caret.index("^")] == "("


def test_an_empty_pattern_has_no_place_to_point_at():
    problem = pattern_problem("   ", {})
    assert problem is not None and not isinstance(problem, PatternError)
    assert problem.reason == "the pattern is empty"
    with pytest.raises(RuleError, match="empty"):
        Router([Rule("r", "r", "", "other", "static", "x")], SHOP_HANDLERS)
