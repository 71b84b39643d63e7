"""One operator tuning the rules: a draft over the live rule set, its history (apply,
undo, redo, revert), import and export, and suggestions accepted or turned down.

Plain Python, no Qt: the rules view shows this and asks the questions, the logic
is here and tested headless. Every action returns a `Told`: done or not, and the
sentence for the operator (what happened, or why nothing did). What refuses a
change (a rule that does not compile, a locked database) is told, never raised,
except the one refusal that is a question: an import that leaves no rule enabled
raises EmptyRuleSetError, for the view to ask "Import anyway?".

Undo first discards unapplied edits, like a text editor's; with none, it undoes
the last applied change (a new version, so the history says who undid what).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agentcore.backtest import BacktestResult
from agentcore.change_review import apply_warnings
from agentcore.errors import EmptyRuleSetError, RuleError, StorageError
from agentcore.router import Router, Rule
from agentcore.rule_draft import RuleDraft
from agentcore.rulebook import RuleBook
from agentcore.suggest import RejectedSuggestions, Suggestion

# What a rule-set change can meet that the operator can act on: told, not raised.
_REFUSALS = (RuleError, StorageError)


@dataclass(frozen=True, slots=True)
class Told:
    """What an action did: `done` (the live rules or the draft changed) and the
    sentence to tell the operator."""

    done: bool
    text: str


@dataclass(frozen=True, slots=True)
class SessionState:
    """The draft against the live rules: one line, and which actions make sense."""

    text: str
    can_apply: bool
    can_undo: bool
    can_redo: bool


@dataclass(frozen=True, slots=True)
class Asked:
    """What a confirmation was about: an answer counts only for exactly this."""

    rules: tuple[Rule, ...]
    fragments: dict[str, str]
    live: Router


class RuleSession:
    def __init__(self, book: RuleBook, rejected: RejectedSuggestions, *,
                 now: Callable[[], float], operator: str) -> None:
        """`now`: the engine's clock (when a suggestion was rejected); `operator`: who
        the versions name (set again when the settings change it)."""
        self.book = book
        self.rejected = rejected
        self.operator = operator
        self._now = now
        live = book.router
        self.draft = RuleDraft(live.rules, live.fragments, live.handlers)

    @property
    def live(self) -> Router:
        return self.book.router

    def state(self) -> SessionState:
        errors = self.draft.errors()
        dirty = self.draft.dirty
        if errors:
            rid, why = next(iter(errors.items()))
            text = f"Cannot apply: {rid or '(no id)'}: {why}" + (
                f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
        elif dirty:
            text = "Unapplied edits: Apply (Ctrl+S) makes them live, Undo discards them."
        else:
            count = len(self.draft.rules)
            text = (f"Live: version {self.book.current.id}, {count:,} "
                    f"rule{'' if count == 1 else 's'}.")
        return SessionState(text, can_apply=dirty and not errors,
                            can_undo=dirty or self.book.can_undo,
                            can_redo=not dirty and self.book.can_redo)

    # -- going live -------------------------------------------------------------------

    def warnings(self, result: BacktestResult | None) -> list[str]:
        """What to confirm before the draft goes live, from its backtest (None: none
        could run, which is itself said first by the caller)."""
        return apply_warnings(self.draft.rules, result)

    def asked(self) -> Asked:
        return Asked(tuple(self.draft.rules), dict(self.draft.fragments), self.live)

    def apply(self, asked: Asked | None = None) -> Told:
        """Makes the draft live as a new version. With `asked`, only if neither the
        draft nor the live rules changed since the question was put."""
        if asked is not None and (asked.rules != tuple(self.draft.rules)
                                  or asked.fragments != self.draft.fragments
                                  or asked.live is not self.live):
            return Told(False, "Not applied: the edits or the live rules changed while you "
                               "were asked; press Apply again to review them.")
        try:
            version = self.book.apply(self.draft.rules, self.draft.fragments,
                                      author=self.operator)
        except _REFUSALS as exc:
            return Told(False, f"Cannot apply: {exc}")
        self.reset()
        return Told(True, f"Applied version {version.id}: {version.summary}")

    def undo(self) -> Told:
        if self.draft.dirty:
            self.reset()
            return Told(True, "Unapplied edits discarded")
        if not self.book.can_undo:
            return Told(False, "Nothing to undo")
        try:
            version = self.book.undo(author=self.operator)
        except _REFUSALS as exc:  # an old set that no longer compiles, a locked file
            return Told(False, f"Cannot undo: {exc}")
        self.reset()
        return Told(True, f"Undone: {version.summary}")

    def redo(self) -> Told:
        if self.draft.dirty or not self.book.can_redo:
            return Told(False, "Nothing to redo" if not self.draft.dirty else
                        "Apply or discard (Undo) the unapplied edits first.")
        try:
            version = self.book.redo(author=self.operator)
        except _REFUSALS as exc:
            return Told(False, f"Cannot redo: {exc}")
        self.reset()
        return Told(True, f"Redone: {version.summary}")

    def revert(self, version_id: int) -> Told:
        if self.draft.dirty:
            return Told(False, "Apply or discard (Undo) the unapplied edits first.")
        try:
            version = self.book.revert(version_id, author=self.operator)
        except _REFUSALS as exc:
            return Told(False, f"Cannot revert to version {version_id}: {exc}")
        self.reset()
        return Told(True, f"Reverted: version {version.id} restores version {version_id}")

    def import_text(self, name: str, text: str, *, allow_empty: bool = False) -> Told:
        """Replaces the live rules with a file's. EmptyRuleSetError: the file leaves no
        rule enabled, and `allow_empty` was not given (ask, then call again with it)."""
        try:
            version = self.book.import_yaml(text, author=self.operator,
                                            allow_empty=allow_empty)
        except EmptyRuleSetError:
            raise
        except _REFUSALS as exc:
            return Told(False, f"Not imported: {exc}")
        self.reset()
        return Told(True, f"Imported {name} as version {version.id}")

    def export_text(self) -> str:
        return self.book.export_yaml()

    def reset(self) -> None:
        """The draft back to the live rules, unapplied edits dropped."""
        live = self.live
        self.draft.reset(live.rules, live.fragments)

    # -- suggestions ----------------------------------------------------------------

    def rejected_keys(self) -> set[str]:
        return self.rejected.keys()

    def not_rejected(self, found: Iterable[Suggestion]) -> list[Suggestion]:
        """`found` without those rejected since the search began (it mined before)."""
        try:
            rejected = self.rejected.keys()
        except StorageError:  # a locked database: the search already left the older out
            return list(found)
        return [s for s in found if s.key not in rejected]

    def accept(self, suggestion: Suggestion) -> Told:
        """Goes live at once as its own version; unapplied edits stay in the draft,
        which gains the rule too."""
        live = self.live
        try:
            version = self.book.apply([*live.rules, suggestion.rule], live.fragments,
                                      author=self.operator,
                                      summary=f"accepted suggestion {suggestion.rule.id}")
        except _REFUSALS as exc:
            return Told(False, f"Cannot accept: {exc}")
        if self.draft.dirty:
            self.draft.add(suggestion.rule)
            self.draft.rebase(self.live.rules)
        else:
            self.reset()
        return Told(True, f"Applied version {version.id}: {version.summary}")

    def reject(self, suggestion: Suggestion) -> Told:
        try:
            self.rejected.reject(suggestion, author=self.operator, at=self._now())
        except StorageError as exc:
            return Told(False, f"Not rejected: {exc}")
        return Told(True, f"Suggestion {suggestion.rule.pattern} rejected: it is not "
                          "offered again")
