"""The rule set a process starts with: the one stored (the database's, any station's
last apply), else the domain's shipped `rules.yaml`, seeded into the store.

A stored rule this version refuses (a catch-all an older one let through) does not
stop the start: it is switched off in the running set, said in the log, and left on
disk for the operator to mend in the Rules view.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import yaml

from agentcore.errors import RuleError
from agentcore.handlers import HandlerSpec
from agentcore.router import Router, Rule
from agentcore.storage import RuleRepository

log = logging.getLogger("agentcore.engine")


def default_rules(resources: Path) -> tuple[list[Rule], dict[str, str]]:
    """The domain's shipped rule set: `rules` and the named `fragments` they share."""
    path = resources / "rules.yaml"
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    return [Rule.from_dict(r) for r in data["rules"]], dict(data.get("fragments") or {})


def stored_router(rules: RuleRepository, handlers: Mapping[str, HandlerSpec]) -> Router | None:
    """A router over the stored rule set; None when nothing is stored yet."""
    rows = rules.load_rules()
    if not rows:
        return None
    return startable([Rule.from_dict(r) for r in rows], handlers, rules.load_fragments())


def seeded_router(rules: RuleRepository, handlers: Mapping[str, HandlerSpec],
                  resources: Path) -> Router:
    """The stored rule set's router, else the shipped set's, stored for the next start."""
    router = stored_router(rules, handlers)
    if router is not None:
        return router
    shipped, fragments = default_rules(resources)
    router = Router(shipped, handlers, fragments=fragments)
    rules.save_rules([r.as_dict() for r in shipped], fragments)
    log.info("seeded %d default rules", len(shipped))
    return router


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
