"""The rule set a process starts with: the one stored (the database's, any station's
last apply), else the domain's shipped `rules.yaml`, seeded into the store.

A stored rule this version refuses (a catch-all an older one let through) does not
stop the start: it is switched off in the running set, said in the log, and left on
disk for the operator to mend in the Rules view.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import yaml

from agentcore.errors import RuleError, RulesChangedError
from agentcore.handlers import HandlerSpec
from agentcore.router import Router, Rule
from agentcore.storage import RuleRepository, VersionRecord

log = logging.getLogger("agentcore.engine")


def default_rules(resources: Path) -> tuple[list[Rule], dict[str, str]]:
    """The domain's shipped rule set: `rules` and the named `fragments` they share."""
    path = resources / "rules.yaml"
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return [Rule.from_dict(r) for r in data["rules"]], dict(data.get("fragments") or {})


def stored_router(rules: RuleRepository, handlers: Mapping[str, HandlerSpec]) -> Router | None:
    """A router over the stored rule set, an empty one applied on purpose too; None when
    nothing was ever stored (no rules and no history)."""
    rows = rules.load_rules()
    if not rows and rules.latest_version_id() is None:
        return None
    return startable([Rule.from_dict(r) for r in rows], handlers, rules.load_fragments())


def seeded_router(rules: RuleRepository, handlers: Mapping[str, HandlerSpec],
                  resources: Path, seed: Callable[[Router], VersionRecord],
                  ) -> tuple[Router, int | None]:
    """The stored rule set's router, else the shipped set's, stored for the next start
    with `seed(router)` as the history's first version, whose id comes back (None: the
    set returned is one stored before)."""
    router = stored_router(rules, handlers)
    if router is not None:
        return router, None
    shipped, fragments = default_rules(resources)
    router = Router(shipped, handlers, fragments=fragments)
    try:
        # Only onto an empty history: a process starting at the same moment may have
        # seeded it, and a station applied a set of its own since, between our read
        # and this save.
        saved = rules.save_rules([r.as_dict() for r in shipped], fragments, seed(router),
                                 base=0)
    except RulesChangedError:  # another's first start came first: what it stored runs
        return stored_router(rules, handlers) or router, None
    log.info("seeded %d default rules", len(shipped))
    return router, saved


def startable(rules: list[Rule], handlers: Mapping[str, HandlerSpec],
              fragments: dict[str, str]) -> Router:
    """A router over `rules`, less any this version refuses, each switched off."""
    while True:
        try:
            return Router(rules, handlers, fragments=fragments)
        except RuleError as exc:
            if not any(r.id == exc.rule_id and r.enabled for r in rules):
                raise  # about the set as a whole: nothing to switch off
            log.error("stored rule switched off until it is fixed: %s", exc)
            rules = [replace(r, enabled=False) if r.id == exc.rule_id else r
                     for r in rules]
