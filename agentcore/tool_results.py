"""What the tools said in one slow-path run: each call as a typed record, and the
facts the engine derived from them (the demo shop's refund quote).

The trace, the cache's tags, an escalation's context and the operator's view all
read these. Stored as JSON in an escalation's context; a context written before
these records existed (one flat object of calls and `refund_quote:N` entries) is
read too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

CalledBy = Literal["model", "engine"]


@dataclass(slots=True)
class ToolCallRecord:
    """One call: the model's (`call_id` is its tool-call id) or the engine's own lookup
    (`engine:<tool>:<entity>`). Exactly one of `result` and `error` is set, except for
    a repeat that shares a call still failing (then both may be None)."""

    call_id: str
    tool: str
    arguments: dict[str, Any] | None
    result: dict[str, Any] | None = None
    error: str | None = None
    by: CalledBy = "model"
    repeated: bool = False  # answered from an identical earlier call, not run again

    @property
    def ok(self) -> bool:
        return self.error is None and self.result is not None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"tool": self.tool, "arguments": self.arguments}
        if self.result is not None:
            data["result"] = self.result
        if self.error is not None:
            data["error"] = self.error
        if self.by != "model":
            data["by"] = self.by
        if self.repeated:
            data["repeated"] = True
        return data

    @classmethod
    def from_dict(cls, call_id: str, data: dict[str, Any]) -> ToolCallRecord:
        by: CalledBy = "engine" if data.get("by") == "engine" else "model"
        return cls(call_id, str(data.get("tool")), data.get("arguments"), data.get("result"),
                   data.get("error"), by, bool(data.get("repeated")))


@dataclass(slots=True)
class DerivedFact:
    """A fact the engine computed from the domain's own data once a recipe's reads had
    all answered (`FactRecipe`): `kind` names the recipe, `entity` what it is about."""

    kind: str
    entity: int
    data: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.entity}"


@dataclass(slots=True)
class ToolResults:
    """The run's calls in the order they finished (a call recorded again moves last:
    the latest look at a record is the one that counts) and its derived facts."""

    _calls: dict[str, ToolCallRecord] = field(default_factory=dict)
    _facts: dict[str, DerivedFact] = field(default_factory=dict)

    @property
    def calls(self) -> list[ToolCallRecord]:
        return list(self._calls.values())

    @property
    def facts(self) -> list[DerivedFact]:
        return list(self._facts.values())

    def __bool__(self) -> bool:
        return bool(self._calls or self._facts)

    def __iter__(self) -> Iterator[ToolCallRecord]:
        return iter(self._calls.values())

    def record(self, call: ToolCallRecord) -> None:
        self._calls.pop(call.call_id, None)
        self._calls[call.call_id] = call

    def forget(self, call_id: str) -> None:
        self._calls.pop(call_id, None)

    def derive(self, fact: DerivedFact) -> None:
        self._facts.pop(fact.key, None)
        self._facts[fact.key] = fact

    def facts_of(self, kind: str) -> list[DerivedFact]:
        return [f for f in self._facts.values() if f.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        return {"calls": {k: c.as_dict() for k, c in self._calls.items()},
                "facts": [{"kind": f.kind, "entity": f.entity, "data": f.data}
                          for f in self._facts.values()]}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ToolResults:
        found = cls()
        if not isinstance(data, dict):
            return found
        if "calls" in data and isinstance(data["calls"], dict):
            for call_id, call in data["calls"].items():
                if isinstance(call, dict):
                    found.record(ToolCallRecord.from_dict(str(call_id), call))
            for fact in data.get("facts") or []:
                if isinstance(fact, dict) and "kind" in fact:
                    found.derive(DerivedFact(str(fact["kind"]), int(fact.get("entity", 0)),
                                             dict(fact.get("data") or {})))
            return found
        for key, value in data.items():  # the flat shape of older contexts
            if not isinstance(value, dict):
                continue
            if "tool" in value:
                found.record(ToolCallRecord.from_dict(str(key), value))
            elif ":" in key:
                kind, _, entity = key.partition(":")
                if entity.isdigit():
                    found.derive(DerivedFact(kind, int(entity), value))
        return found
