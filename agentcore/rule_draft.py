"""A rule set being edited: what the rules view shows, before it is applied.

Plain Python with plain-callback events (the console's table model adapts it).
Every edit is kept, valid or not, so the operator never loses typing; `errors`
says which rules would stop an apply and why, in the words of `compile_rule`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Literal

from agentcore.errors import RuleError
from agentcore.handlers import STATIC, HandlerSpec
from agentcore.router import Router, Rule, compile_rule, expand

DraftEvent = Literal["reset", "changed", "inserted", "removed", "moved"]


class RuleDraft:
    def __init__(self, rules: Iterable[Rule], fragments: Mapping[str, str],
                 handlers: Mapping[str, HandlerSpec]) -> None:
        self.handlers = handlers  # the domain's: a rule may name only these
        self.rules: list[Rule] = list(rules)
        self.fragments: dict[str, str] = dict(fragments)
        self._base: tuple[Rule, ...] = tuple(self.rules)
        self._listeners: list[Callable[[DraftEvent, int], None]] = []

    def subscribe(self, listener: Callable[[DraftEvent, int], None]) -> None:
        self._listeners.append(listener)

    def _emit(self, event: DraftEvent, index: int) -> None:
        for listener in list(self._listeners):
            listener(event, index)

    # -- state ---------------------------------------------------------------

    @property
    def dirty(self) -> bool:
        """Differs from the rule set it was last reset to (the live one)."""
        return tuple(self.rules) != self._base

    def reset(self, rules: Iterable[Rule], fragments: Mapping[str, str]) -> None:
        self.rules = list(rules)
        self.fragments = dict(fragments)
        self._base = tuple(self.rules)
        self._emit("reset", -1)

    def rebase(self, rules: Iterable[Rule]) -> None:
        """The live set changed under unapplied edits (an accepted suggestion): they
        stay, and `dirty` now compares them with the new live set."""
        self._base = tuple(rules)

    def index_of(self, rule_id: str) -> int:
        return next((i for i, r in enumerate(self.rules) if r.id == rule_id), -1)

    def errors(self) -> dict[str, str]:
        """Rule id -> why it can't be applied (enabled rules only, as the router)."""
        found: dict[str, str] = {}
        seen: set[str] = set()
        for rule in self.rules:
            if rule.id in seen:
                found[rule.id] = "two rules share this id"
            seen.add(rule.id)
            if rule.enabled and rule.id not in found:
                problem = check_rule(rule, self.fragments, self.handlers)
                if problem:
                    found[rule.id] = problem
        return found

    def router(self) -> Router:
        """The draft compiled (RuleError if it has errors)."""
        return Router(self.rules, self.handlers, fragments=self.fragments)

    # -- edits ---------------------------------------------------------------

    def replace(self, index: int, rule: Rule) -> None:
        self.rules[index] = rule
        self._emit("changed", index)

    def add(self, rule: Rule | None = None) -> int:
        rule = rule or Rule(id=self._free_id("new-rule"), name="New rule", pattern="",
                            intent="other", handler="static", template="", priority=20)
        self.rules.append(rule)
        self._emit("inserted", len(self.rules) - 1)
        return len(self.rules) - 1

    def duplicate(self, index: int) -> int:
        rule = self.rules[index]
        copy = dataclasses.replace(rule, id=self._free_id(f"{rule.id}-copy"),
                                   name=f"{rule.name} (copy)", enabled=False)
        self.rules.insert(index + 1, copy)
        self._emit("inserted", index + 1)
        return index + 1

    def remove(self, index: int) -> None:
        del self.rules[index]
        self._emit("removed", index)

    def toggle(self, index: int) -> None:
        rule = self.rules[index]
        self.replace(index, dataclasses.replace(rule, enabled=not rule.enabled))

    def move(self, source: int, target: int) -> None:
        """Moves a rule to position `target` (the order breaks ties of priority)."""
        rule = self.rules.pop(source)
        self.rules.insert(max(0, min(target, len(self.rules))), rule)
        self._emit("moved", target)

    def _free_id(self, stem: str) -> str:
        taken = {r.id for r in self.rules}
        if stem not in taken:
            return stem
        return next(f"{stem}-{n}" for n in range(2, len(taken) + 3) if f"{stem}-{n}" not in taken)


def check_rule(rule: Rule, fragments: Mapping[str, str],
          handlers: Mapping[str, HandlerSpec]) -> str | None:
    """Why `rule` can't run, or None."""
    try:
        compile_rule(rule, handlers, fragments)
    except RuleError as exc:
        return exc.reason
    return None


def check_pattern(pattern: str, fragments: Mapping[str, str]) -> str | None:
    """Just the pattern's problem (the editor shows it beside the field)."""
    problem = pattern_problem(pattern, fragments)
    return problem.reason if problem else None


def pattern_problem(pattern: str, fragments: Mapping[str, str]) -> RuleError | None:
    """The pattern's problem as the router raises it: a PatternError says where."""
    if not pattern.strip():
        return RuleError("?", "the pattern is empty")
    try:
        compile_rule(Rule(id="?", name="", pattern=pattern, intent="?", handler="static",
                          template=""), {STATIC.name: STATIC}, fragments)
    except RuleError as exc:
        return exc
    return None


POINTER_WIDTH = 72  # characters of a long pattern shown around the caret


def pattern_pointer(pattern: str, position: int, width: int = POINTER_WIDTH) -> str:
    """Two lines for a monospace label: the operator's pattern (a window of `width`
    characters around `position` when it is longer) and a caret under `position`.
    Control characters show as spaces so the caret stays in its column."""
    shown = "".join(" " if c.isspace() or not c.isprintable() else c for c in pattern)
    position = max(0, min(position, len(shown) - 1))
    start = 0
    if len(shown) > width:
        start = max(0, min(position - width // 2, len(shown) - width))
    excerpt = shown[start:start + width]
    column = position - start
    if start > 0:
        excerpt, column = "…" + excerpt, column + 1
    if start + width < len(shown):
        excerpt += "…"
    return f"{excerpt}\n{' ' * column}^"


def expanded(pattern: str, fragments: Mapping[str, str]) -> str:
    return expand(pattern, fragments)
