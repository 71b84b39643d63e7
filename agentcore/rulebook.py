"""The rule book: every change to the live rule set is a version, with undo and redo.

A version is the whole rule set after a change (rules and fragments), who made
it, when, and why (a summary); `diff` shows it against the one before. Versions
live in the engine's database (`rule_versions`), written in the same
transaction as the rules themselves, and the router is swapped in one
assignment after the commit (`Engine.apply_rules`): no request sees half of a
change, and the history never disagrees with what ran.

Undo semantics (the issue left them open): the log is append-only. Undo, redo
and "revert to version N" are changes too, each recorded as a new version (who
undid what, and when, is part of the audit). Undo goes back along the chain of
rule sets the operator applied, like an editor's undo: apply A, apply B, undo ->
A is live, redo -> B is live again; applying anything after an undo drops the
redo branch. A revert is an ordinary change (so it can itself be undone). The
undo and redo stacks are rebuilt from the log at start-up, so they survive a
restart, and before each undo and redo, so on a shared database they walk the
team's history. Every change is saved only on top of the version the engine runs
(`Engine.apply_rules`): one made against a set another station has replaced since
is refused (RulesChangedError), never silently undoes theirs.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from agentcore.errors import EmptyRuleSetError, RuleError
from agentcore.router import CachePolicy, Router, Rule
from agentcore.storage import StoredVersion, VersionRecord

if TYPE_CHECKING:
    from agentcore.engine import Engine

log = logging.getLogger("agentcore.rulebook")

Action = Literal["seed", "apply", "import", "revert", "undo", "redo"]


@dataclass(frozen=True, slots=True)
class VersionEntry:
    """One line of the history: a version without its rule set."""

    id: int
    created_at: float
    author: str
    action: str
    summary: str
    restores: int | None


@dataclass(frozen=True, slots=True)
class RuleVersion(VersionEntry):
    """A version with the whole rule set it made live."""

    rules: tuple[Rule, ...]
    fragments: dict[str, str]


class _RuleIn(BaseModel):
    """An imported rule, types checked (a hand-edited file may say `priority: high`)."""

    model_config = ConfigDict(extra="forbid", strict=False)
    id: str
    name: str
    pattern: str
    intent: str
    handler: str
    template: str
    priority: int = 0
    enabled: bool = True
    cache: CachePolicy = "never"


def to_yaml(rules: Iterable[Rule], fragments: dict[str, str]) -> str:
    """The rule set in the shipped file's shape (resources/rules.yaml)."""
    return yaml.safe_dump({"fragments": dict(fragments), "rules": [r.as_dict() for r in rules]},
                          sort_keys=False, allow_unicode=True, width=120)


def from_yaml(text: str) -> tuple[list[Rule], dict[str, str] | None]:
    """Parses and type-checks a rule file; every problem is a RuleError an operator reads."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError("(file)", f"not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise RuleError("(file)", "expected a mapping with a 'rules' list")
    fragments = data.get("fragments")  # None: a file of rules only, the live ones stay
    if fragments is not None and (not isinstance(fragments, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in fragments.items())):
        raise RuleError("(file)", "'fragments' must map names to patterns")
    rules = []
    for i, item in enumerate(data["rules"]):
        rid = str(item.get("id", f"#{i + 1}")) if isinstance(item, dict) else f"#{i + 1}"
        try:
            rules.append(Rule(**_RuleIn.model_validate(item).model_dump()))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "rule"
            raise RuleError(rid, f"{where}: {first['msg']}") from None
    return rules, None if fragments is None else dict(fragments)


def describe_change(old: Sequence[Rule], new: Sequence[Rule]) -> str:
    """A one-line summary: which rules were added, removed, changed or moved."""
    before = {r.id: r for r in old}
    after = {r.id: r for r in new}
    parts = [f"added {rid}" for rid in after if rid not in before]
    parts += [f"removed {rid}" for rid in before if rid not in after]
    for rid, rule in after.items():
        if rid in before and rule != before[rid]:
            fields = [k for k, v in rule.as_dict().items() if before[rid].as_dict()[k] != v]
            parts.append(f"{rid}: {', '.join(fields)}")
    common = [r for r in old if r.id in after]
    if not parts and [r.id for r in common] != [r.id for r in new if r.id in before]:
        parts.append("reordered")
    return "; ".join(parts) or "no change"


class RuleBook:
    """The live rule set's history over an engine; `apply` is the only way in."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._store = engine.store.rules
        self._past: list[int] = []  # content versions applied; [-1] is live
        self._future: list[int] = []  # undone, for redo
        self._rebuild_stacks()  # the engine recorded the first version at its first start

    # -- reading -------------------------------------------------------------

    @property
    def router(self) -> Router:
        """The router running now: what a draft starts from and is compared with."""
        return self.engine.router

    def log(self) -> list[VersionEntry]:
        """Newest first, without the rule sets: what a history list shows after every
        change. Reading and parsing every version's rules instead took 150 ms at
        1,000 versions, a stall on each apply, undo or redo."""
        return [VersionEntry(*row) for row in reversed(self._store.version_log())]

    def versions(self) -> list[RuleVersion]:
        """Newest first, each with its whole rule set."""
        return [self._version(v) for v in self._store.versions()]

    def version(self, version_id: int) -> RuleVersion:
        stored = self._store.version(version_id)
        if stored is None:
            raise RuleError("(history)", f"there is no version {version_id}")
        return self._version(stored)

    @property
    def current(self) -> RuleVersion:
        return self.version(self._latest_id())

    @property
    def can_undo(self) -> bool:
        return len(self._past) > 1

    @property
    def can_redo(self) -> bool:
        return bool(self._future)

    def diff(self, version_id: int) -> str:
        """The version against the rule set that was live before it, as a unified diff."""
        new = self.version(version_id)
        before = self._store.version_before(version_id)
        old = self._version(before) if before else None
        old_text = to_yaml(old.rules, old.fragments) if old else ""
        lines = difflib.unified_diff(old_text.splitlines(keepends=True),
                                     to_yaml(new.rules, new.fragments).splitlines(keepends=True),
                                     fromfile="before", tofile=f"version {version_id}")
        return "".join(lines)

    def export_yaml(self) -> str:
        router = self.router
        return to_yaml(router.rules, router.fragments)

    # -- changing ------------------------------------------------------------

    def apply(self, rules: Iterable[Rule], fragments: dict[str, str] | None = None, *,
              author: str, summary: str = "", action: Action = "apply") -> RuleVersion:
        """Validates, records and swaps in a whole rule set (RuleError: nothing changed)."""
        rules = tuple(rules)
        live = self.engine.router
        fragments = dict(live.fragments if fragments is None else fragments)
        Router(rules, live.handlers, fragments=fragments)  # validate before anything is written
        summary = summary or describe_change(live.rules, rules)
        self._commit(action, author, summary, None, rules, fragments)
        self._past.append(self.engine.rules_version)  # this change's: no other came between
        self._future.clear()
        return self._changed()

    def import_yaml(self, text: str, *, author: str, allow_empty: bool = False) -> RuleVersion:
        """Replaces the live rules with a file's. A file with no rule enabled would send
        every request to the LLM: EmptyRuleSetError unless `allow_empty` says it is meant
        (a truncated export or a half-written file looks just like that)."""
        rules, fragments = from_yaml(text)
        if not allow_empty and not any(rule.enabled for rule in rules):
            what = (f"all {len(rules)} of its rules are disabled" if rules
                    else "it has no rules")
            raise EmptyRuleSetError("(file)", f"{what}, so every request would leave the "
                                    "fast path for the LLM; check it is the file you meant, "
                                    "and import it with allow_empty=True if so", found=what)
        return self.apply(rules, fragments, author=author, action="import",
                          summary=f"imported: {describe_change(self.engine.router.rules, rules)}")

    def revert(self, version_id: int, *, author: str) -> RuleVersion:
        target = self.version(version_id)
        return self.apply(target.rules, target.fragments, author=author, action="revert",
                          summary=f"reverted to version {version_id}")

    def undo(self, *, author: str) -> RuleVersion:
        self._rebuild_stacks()  # the team's history: another station may have changed it
        if not self.can_undo:
            raise RuleError("(history)", "nothing to undo")
        target = self.version(self._past[-2])
        self._commit("undo", author, f"undo: back to version {target.id}", target.id,
                     target.rules, target.fragments)
        self._future.append(self._past.pop())
        return self._changed()

    def redo(self, *, author: str) -> RuleVersion:
        self._rebuild_stacks()
        if not self.can_redo:
            raise RuleError("(history)", "nothing to redo")
        target = self.version(self._future[-1])
        self._commit("redo", author, f"redo: version {target.id} again", target.id,
                     target.rules, target.fragments)
        self._past.append(self._future.pop())
        return self._changed()

    # -- internals -----------------------------------------------------------

    def _commit(self, action: str, author: str, summary: str, restores: int | None,
                rules: Sequence[Rule], fragments: dict[str, str]) -> None:
        # The version is saved in the rules' own transaction, then the router swaps.
        self.engine.apply_rules(rules, fragments, version=self._record(
            action, author, summary, restores, rules, fragments))
        log.info("rules %s by %s: %s", action, author, summary)

    def _record(self, action: str, author: str, summary: str, restores: int | None,
                rules: Sequence[Rule], fragments: dict[str, str]) -> VersionRecord:
        return VersionRecord(self.engine.clock.now(), author, action, summary, restores,
                             tuple(r.as_dict() for r in rules), dict(fragments))

    def _changed(self) -> RuleVersion:
        return self.version(self.engine.rules_version)

    def _latest_id(self) -> int:
        return self._store.latest_version_id() or 0

    def _rebuild_stacks(self) -> None:
        past: list[int] = []
        future: list[int] = []
        for vid, _created, _author, action, _summary, _restores in self._store.version_log():
            if action == "undo" and len(past) > 1:
                future.append(past.pop())
            elif action == "redo" and future:
                past.append(future.pop())
            else:
                past.append(vid)
                future.clear()
        self._past, self._future = past, future

    @staticmethod
    def _version(stored: StoredVersion) -> RuleVersion:
        return RuleVersion(stored.id, stored.created_at, stored.author, stored.action,
                           stored.summary, stored.restores,
                           tuple(Rule.from_dict(r) for r in stored.rules),
                           dict(stored.fragments))
