"""Tool input schemas made acceptable to strict tool calling (OpenAI Structured Outputs).

MCP servers publish plain JSON Schema (pydantic's, zod-to-json-schema's, hand-written).
Strict mode accepts only a subset: every object closed (`additionalProperties: false`)
with every property required, every subschema typed, a short list of keywords, local
`$ref`s only, bounded nesting and size. About a quarter of public servers' schemas
fail it, and one bad tool fails the whole request, so each schema is cleaned here.

`strict_problems` states the rules; `clean_schema` rewrites what it can and says, in an
operator's words, what it changed or gave up. Optional arguments become required but
nullable; `CleanedSchema.restore` drops the nulls the model had to send, so the server
gets the call it would have got. An argument that cannot be expressed is left out when
it is optional (the tool stays usable without it) and makes the tool unusable when it is
required. Constraints strict mode rejects (minLength, uniqueItems, ...) are moved into the
description, so the model still sees them and the server still enforces them.

Decision: a schema of unknown type (`{}`, "any JSON") becomes "text, a number, true/false
or null" (a strict schema cannot offer arbitrary objects or lists); this is reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CleanedSchema", "clean_schema", "strict_problems"]

MAX_DEPTH = 10  # levels of object/array nesting
MAX_PROPERTIES = 5000
MAX_ENUM_VALUES = 1000  # over the whole schema
LONG_ENUM = 250  # a string enum longer than this ...
LONG_ENUM_CHARS = 15000  # ... may total at most this many characters

_TYPES = {"string", "number", "integer", "boolean", "object", "array", "null"}
_COMMON = {"type", "description", "title", "enum", "const", "anyOf", "$ref"}
_BY_TYPE: dict[str, set[str]] = {
    "string": {"pattern", "format"},
    "number": {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"},
    "integer": {"multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum"},
    "array": {"items", "minItems", "maxItems"},
    "object": {"properties", "required", "additionalProperties"},
    "boolean": set(),
    "null": set(),
}
_FORMATS = {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
# Annotations with no effect on what the model may send: dropped without a word.
_ANNOTATIONS = {
    "title",
    "$schema",
    "$id",
    "$comment",
    "$anchor",
    "examples",
    "example",
    "readOnly",
    "writeOnly",
    "deprecated",
    "contentSchema",
    "$vocabulary",
    "$dynamicAnchor",
    "discriminator",
}
# Validation the model can be told in words; the server still enforces it.
_DESCRIBED = {
    "minLength": "at least {} characters",
    "maxLength": "at most {} characters",
    "uniqueItems": "no duplicates",
    "minProperties": "at least {} entries",
    "maxProperties": "at most {} entries",
    "contentEncoding": "encoded as {}",
    "contentMediaType": "media type {}",
    "format": "format {}",
    "pattern": "pattern {}",
    "minContains": "at least {} matching items",
    "maxContains": "at most {} matching items",
}
# Rules strict mode cannot express; dropped with a note (the server still checks them).
_DROPPED = {
    "not",
    "if",
    "then",
    "else",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "propertyNames",
    "contains",
    "unevaluatedItems",
    "additionalItems",
    "unevaluatedProperties",
}
_ANY_JSON: dict[str, Any] = {
    "anyOf": [{"type": "string"}, {"type": "number"}, {"type": "boolean"}, {"type": "null"}]
}
EMPTY_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {},
    "required": [],
    "additionalProperties": False,
}

# How to undo the cleaning on the model's arguments: a tree that mirrors the cleaned
# schema ("props", "items", "any": [(schema, plan)], "ref": name, "drop_null": names).
_Plan = dict[str, Any]


@dataclass(frozen=True)
class CleanedSchema:
    schema: dict[str, Any]
    problems: tuple[str, ...]
    usable: bool
    _plan: _Plan | None = field(default=None, repr=False, compare=False)
    _def_plans: dict[str, _Plan] = field(default_factory=dict, repr=False, compare=False)

    def restore(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments without the nulls cleaning made the model send for optional ones."""
        if self._plan is None:
            return dict(arguments)
        out = self._restore(self._plan, arguments)
        return out if isinstance(out, dict) else dict(arguments)

    def _restore(self, plan: _Plan | None, value: Any) -> Any:
        while plan is not None and "ref" in plan:
            plan = self._def_plans.get(plan["ref"])
        if plan is None:
            return value
        if "any" in plan:
            for branch, sub in plan["any"]:
                if _matches(branch, value, self.schema):
                    return self._restore(sub, value)
            return value
        if isinstance(value, dict) and "props" in plan:
            drop = plan["drop_null"]
            return {
                k: self._restore(plan["props"].get(k), v)
                for k, v in value.items()
                if not (v is None and k in drop)
            }
        if isinstance(value, list) and "pairs" in plan:  # a map the model sent as pairs
            return {
                e["key"]: self._restore(plan["pairs"], e.get("value"))
                for e in value
                if isinstance(e, dict) and isinstance(e.get("key"), str)
            }
        if isinstance(value, list) and "items" in plan:
            return [self._restore(plan["items"], v) for v in value]
        return value


def _types(schema: dict[str, Any]) -> set[str]:
    t = schema.get("type")
    return (
        {t}
        if isinstance(t, str)
        else {x for x in t if isinstance(x, str)}
        if isinstance(t, list)
        else set()
    )


def _resolve(root: dict[str, Any], ref: Any) -> Any:
    """The schema a local `$ref` points to, or None."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    target: Any = root
    for part in filter(None, ref[1:].split("/")):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return None
    return target


def _matches(schema: Any, value: Any, root: dict[str, Any]) -> bool:
    """Enough of validation to pick the anyOf branch an instance took."""
    for _ in range(50):
        if not (isinstance(schema, dict) and "$ref" in schema):
            break
        schema = _resolve(root, schema["$ref"])
    if not isinstance(schema, dict):
        return False
    if "anyOf" in schema:
        return any(_matches(b, value, root) for b in schema["anyOf"])
    if "const" in schema:
        return bool(value == schema["const"])
    if "enum" in schema and value not in schema["enum"]:
        return False
    kinds = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
    }
    types = _types(schema)
    if types and not any(kinds[t] for t in types if t in kinds):
        return False
    if isinstance(value, dict) and "properties" in schema:
        return set(value) <= set(schema["properties"]) and set(schema.get("required", [])) <= set(
            value
        )
    return True


# ---------------------------------------------------------------------------- the rules


def strict_problems(schema: Any) -> list[str]:
    """What strict mode would reject in a function's `parameters`; [] means accepted."""
    if not isinstance(schema, dict):
        return ["the arguments schema is not a JSON object"]
    problems: list[str] = []
    if schema.get("type") != "object":
        problems.append("the arguments schema must be of type 'object'")
    if "anyOf" in schema:
        problems.append("the arguments schema may not be 'anyOf' at its top")
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    counts = {"properties": 0, "enum": 0}
    _check(schema, "arguments", 1, True, defs, problems, counts)
    for group in ("$defs", "definitions"):
        for name, sub in (schema.get(group) or {}).items():
            _check(sub, f"definition '{name}'", 1, False, defs, problems, counts)
    if counts["properties"] > MAX_PROPERTIES:
        problems.append(
            f"{counts['properties']} properties in all; strict mode allows {MAX_PROPERTIES}"
        )
    if counts["enum"] > MAX_ENUM_VALUES:
        problems.append(
            f"{counts['enum']} enum values in all; strict mode allows {MAX_ENUM_VALUES}"
        )
    return problems


def _check(
    s: Any,
    where: str,
    depth: int,
    root: bool,
    defs: dict[str, Any],
    problems: list[str],
    counts: dict[str, int],
) -> None:
    if not isinstance(s, dict):
        problems.append(f"{where}: a schema must be an object, not {json.dumps(s)}")
        return
    if depth > MAX_DEPTH:
        problems.append(f"{where}: nested deeper than {MAX_DEPTH} levels")
        return
    if "$ref" in s:
        ref = s["$ref"]
        name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else ""
        local = isinstance(ref, str) and (
            ref == "#" or (ref.startswith(("#/$defs/", "#/definitions/")) and name in defs)
        )
        if not local:
            problems.append(f"{where}: reference {ref!r} is not to a local definition")
        if len(s) > 1:
            problems.append(f"{where}: '$ref' may not have other keywords beside it")
        return
    if "anyOf" in s:
        branches = s["anyOf"]
        if not isinstance(branches, list) or not branches:
            problems.append(f"{where}: 'anyOf' must be a non-empty list")
            return
        for key in set(s) - {"anyOf", "description", "title", "$defs", "definitions"}:
            problems.append(f"{where}: '{key}' beside 'anyOf' is not supported")
        for i, b in enumerate(branches):
            _check(b, f"{where} (option {i + 1})", depth, False, defs, problems, counts)
        return
    types = _types(s)
    if not types and "enum" not in s and "const" not in s:
        problems.append(f"{where}: has no 'type'")
    if types - _TYPES or (isinstance(s.get("type"), list) and not s["type"]):
        problems.append(f"{where}: unknown type {s.get('type')!r}")
    allowed = _COMMON | {k for t in types & _TYPES for k in _BY_TYPE[t]}
    if root:
        allowed |= {"$defs", "definitions"}
    for key in sorted(set(s) - allowed):
        problems.append(f"{where}: '{key}' is not supported")
    if "format" in s and "string" in types and s["format"] not in _FORMATS:
        problems.append(f"{where}: format {s['format']!r} is not supported")
    if "enum" in s:
        enum = s["enum"]
        if not isinstance(enum, list) or not enum:
            problems.append(f"{where}: 'enum' must be a non-empty list")
        else:
            counts["enum"] += len(enum)
            strings = [v for v in enum if isinstance(v, str)]
            if len(enum) > LONG_ENUM and sum(map(len, strings)) > LONG_ENUM_CHARS:
                problems.append(
                    f"{where}: enum of {len(enum)} values is over {LONG_ENUM_CHARS} characters"
                )
    if "object" in types:
        props = s.get("properties", {})
        if not isinstance(props, dict):
            problems.append(f"{where}: 'properties' must be an object")
            props = {}
        if s.get("additionalProperties") is not False:
            problems.append(f"{where}: must set 'additionalProperties' to false")
        missing = set(props) - set(s.get("required") or [])
        if missing:
            problems.append(f"{where}: every property must be required, not {sorted(missing)}")
        counts["properties"] += len(props)
        for name, sub in props.items():
            _check(
                sub,
                f"argument '{name}'" if root else f"{where}.{name}",
                depth + 1,
                False,
                defs,
                problems,
                counts,
            )
    if "array" in types:
        if not isinstance(s.get("items"), dict):
            problems.append(f"{where}: a list must say what its items are ('items')")
        else:
            _check(s["items"], f"{where} items", depth + 1, False, defs, problems, counts)


# ---------------------------------------------------------------------------- cleaning


class _Unfixable(Exception):
    """This part of the schema cannot be made strict; the message is for an operator."""


def clean_schema(schema: Any) -> CleanedSchema:
    """A strict-acceptable version of a tool's input schema, and what it took."""
    if schema is None or schema == {}:
        return CleanedSchema(dict(EMPTY_PARAMETERS), (), True)
    if not isinstance(schema, dict):
        return CleanedSchema(
            dict(EMPTY_PARAMETERS), ("the arguments schema is not a JSON object",), False
        )
    cleaner = _Cleaner(schema)
    try:
        out, plan = cleaner.root()
    except _Unfixable as e:
        return CleanedSchema(dict(EMPTY_PARAMETERS), (*cleaner.notes, str(e)), False)
    left = strict_problems(out)
    if left:  # a rule the cleaner does not know how to meet: say so rather than send it
        return CleanedSchema(out, (*cleaner.notes, *left), False)
    return CleanedSchema(out, tuple(cleaner.notes), True, plan, {**cleaner.def_plans, "#": plan})


def _nullable(s: dict[str, Any]) -> dict[str, Any]:
    """`s` that also accepts null."""
    if "$ref" in s or "const" in s:
        return {"anyOf": [s, {"type": "null"}]}
    if "anyOf" in s:
        if not any(_types(b) == {"null"} for b in s["anyOf"]):
            return {**s, "anyOf": [*s["anyOf"], {"type": "null"}]}
        return s
    out = dict(s)
    types = s.get("type")
    if isinstance(types, str) and types != "null":
        out["type"] = [types, "null"]
    elif isinstance(types, list) and "null" not in types:
        out["type"] = [*types, "null"]
    if "enum" in s and None not in s["enum"]:
        out["enum"] = [*s["enum"], None]
    return out


def _accepts_null(s: Any, root: dict[str, Any]) -> bool:
    """Whether the server's own schema `s` takes null (then a null from the model is kept)."""
    if isinstance(s, dict) and "allOf" in s and isinstance(s["allOf"], list):
        return all(_accepts_null(b, root) for b in s["allOf"])
    if isinstance(s, dict) and "oneOf" in s and isinstance(s["oneOf"], list):
        return any(_accepts_null(b, root) for b in s["oneOf"])
    return _matches(s, None, root)


def _names_rule(alts: Any) -> bool:
    """Whether an anyOf/oneOf only says which names to give ("id or email"), not shapes."""
    return (
        isinstance(alts, list)
        and bool(alts)
        and all(isinstance(a, dict) and set(a) == {"required"} for a in alts)
        and all(isinstance(a["required"], list) for a in alts)
    )


def _describe(s: dict[str, Any], extra: list[str]) -> None:
    if extra:
        text = "; ".join(extra)
        s["description"] = f"{s['description']} ({text})" if s.get("description") else f"({text})"


class _Cleaner:
    def __init__(self, root: dict[str, Any]) -> None:
        self.src = root
        self.src_defs = {**(root.get("definitions") or {}), **(root.get("$defs") or {})}
        self.defs: dict[str, dict[str, Any]] = {}
        self.def_plans: dict[str, _Plan] = {}
        self.busy: set[str] = set()  # definitions being cleaned (recursion is allowed)
        self.notes: list[str] = []

    def root(self) -> tuple[dict[str, Any], _Plan]:
        s = {k: v for k, v in self.src.items() if k not in ("$defs", "definitions")}
        for _ in range(10):  # pydantic gives a recursive model as a root `$ref`
            if set(s) - {"$ref", "description"} or "$ref" not in s:
                break
            target = _resolve(self.src, s.pop("$ref"))
            if not isinstance(target, dict):
                raise _Unfixable("the tool's arguments refer to a schema that isn't there")
            s = {**target, **s}
        if "allOf" in s:
            s = self.merge_all_of(s, "arguments", keep_ref=False)
        if any(k in s and not _names_rule(s[k]) for k in ("anyOf", "oneOf")):
            raise _Unfixable("the tool takes one of several argument shapes; strict mode needs one")
        if s.get("type", "object") != "object" and not (
            isinstance(s.get("type"), list) and "object" in s["type"]
        ):
            raise _Unfixable(f"the tool's arguments are a {s.get('type')}, not named arguments")
        s["type"] = "object"
        out, plan = self.node(s, "arguments", 1)
        if "anyOf" in out or "$ref" in out:  # e.g. a root that was a lone allOf of one ref
            raise _Unfixable("the tool's arguments are not a plain set of named arguments")
        if self.defs:
            out["$defs"] = self.defs
        return out, plan

    def ref(self, ref: Any, where: str) -> tuple[dict[str, Any], _Plan]:
        if ref == "#":
            return {"$ref": "#"}, {"ref": "#"}
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise _Unfixable(
                f"{where} refers to a schema elsewhere ({ref}); only local ones can be used"
            )
        name = ref.rsplit("/", 1)[-1]
        if ref.startswith(("#/$defs/", "#/definitions/")) and name in self.src_defs:
            if name not in self.defs and name not in self.busy:
                self.busy.add(name)
                try:
                    self.defs[name], self.def_plans[name] = self.node(
                        dict(self.src_defs[name]), f"{where} ({name})", 1
                    )
                finally:
                    self.busy.discard(name)
            return {"$ref": f"#/$defs/{name}"}, {"ref": name}
        target = _resolve(self.src, ref)  # another pointer (zod-to-json-schema reuses paths)
        if target is None:
            raise _Unfixable(f"{where} refers to {ref}, which is not in the schema")
        if ref in self.busy:
            raise _Unfixable(f"{where} refers to itself through {ref}")
        self.busy.add(ref)
        try:
            return self.node(target, where, 1)
        finally:
            self.busy.discard(ref)

    def merge_all_of(self, s: dict[str, Any], where: str, keep_ref: bool = True) -> dict[str, Any]:
        """One schema for an `allOf` of plain parts (pydantic wraps a ref with a description)."""
        merged = {k: v for k, v in s.items() if k != "allOf"}
        parts = s["allOf"] if isinstance(s["allOf"], list) else [s["allOf"]]
        lone_ref = len(parts) == 1 and isinstance(parts[0], dict) and set(parts[0]) == {"$ref"}
        if keep_ref and lone_ref and not set(merged) - {"description"}:
            return {"anyOf": parts, **merged}  # keeps the definition shared, not copied
        for part in parts:
            while isinstance(part, dict) and "$ref" in part and len(part) == 1:
                name = str(part["$ref"]).rsplit("/", 1)[-1]
                if name in self.busy or name not in self.src_defs:
                    raise _Unfixable(f"{where} combines shapes ('allOf') strict mode can't express")
                part = self.src_defs[name]
            if not isinstance(part, dict):
                raise _Unfixable(f"{where} combines shapes ('allOf') strict mode can't express")
            if "allOf" in part:
                part = self.merge_all_of(part, where)
            for key, value in part.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                elif key in _ANNOTATIONS or key == "description":
                    merged.setdefault(key, value)
                elif key in merged and merged[key] != value:
                    raise _Unfixable(f"{where} combines shapes ('allOf') that disagree on '{key}'")
                else:
                    merged[key] = value
        return merged

    def node(self, s: Any, where: str, depth: int) -> tuple[dict[str, Any], _Plan]:
        if depth > MAX_DEPTH:
            raise _Unfixable(f"{where} is nested more than {MAX_DEPTH} levels deep")
        if s is True:
            s = {}
        if not isinstance(s, dict):
            raise _Unfixable(f"{where} accepts nothing (its schema is {json.dumps(s)})")
        s = {k: v for k, v in s.items() if k not in _ANNOTATIONS and not k.startswith("x-")}
        s.pop("$defs", None)
        s.pop("definitions", None)
        extra: list[str] = []
        default = s.pop("default", None)
        if default is not None:  # the model sees the server's default in words
            extra.append(f"default {json.dumps(default)}")
        if s.pop("nullable", False) is True:  # OpenAPI's spelling of "or null"
            s = _nullable(s) if "type" in s or "enum" in s else s
        if "allOf" in s:
            s = self.merge_all_of(s, where)
        if "$ref" in s:
            ref = s.pop("$ref")
            out, plan = self.ref(ref, where)
            rest = {k: v for k, v in s.items() if k != "description"}
            if rest:
                raise _Unfixable(
                    f"{where} adds rules beside a reference, which strict mode can't express"
                )
            if s.get("description") or extra:
                out = {"anyOf": [out], "description": s.get("description", "")}
                _describe(out, extra)
                plan = {"any": [(out["anyOf"][0], plan)]}
            return out, plan
        for key in ("anyOf", "oneOf"):  # "give a or b": a rule on which names, not a shape
            alts = s.get(key)
            if _names_rule(alts):
                s.pop(key)
                names = " or ".join("+".join(map(str, a["required"])) for a in alts)
                extra.append(f"give {'exactly' if key == 'oneOf' else 'at least'} one of {names}")
        if "oneOf" in s:  # exclusivity is lost; the server still checks it
            s["anyOf"] = [*s.pop("anyOf", []), *s.pop("oneOf")]
        if "anyOf" in s:
            return self.any_of(s, where, depth, extra)
        for key in sorted(set(s) & _DROPPED):
            s.pop(key)
            self.notes.append(
                f"{where}: the server's '{key}' rule is not shown to the model"
                " (the server still checks it)"
            )
        if isinstance(s.get("items"), list) or "prefixItems" in s:
            raise _Unfixable(
                f"{where} is a fixed-length list of different kinds,"
                " which strict mode can't express"
            )
        if "type" not in s and "enum" not in s and "const" not in s:
            if "properties" in s or "additionalProperties" in s or "patternProperties" in s:
                s["type"] = "object"
            elif "items" in s:
                s["type"] = "array"
        types = _types(s)
        if not types and "enum" not in s and "const" not in s:
            self.notes.append(
                f"{where} accepts any JSON; strict mode needs a type,"
                " so the model may send only text, a number, true/false or null"
            )
            out = dict(_ANY_JSON)
            for key in ("description",):
                if key in s:
                    out[key] = s[key]
            _describe(out, extra)
            return out, {"any": [(b, {}) for b in out["anyOf"]]}
        if types - _TYPES:
            raise _Unfixable(f"{where} has an unknown type {s.get('type')!r}")
        if "enum" in s and (not isinstance(s["enum"], list) or not s["enum"]):
            raise _Unfixable(f"{where} offers no allowed values (empty 'enum')")
        allowed = _COMMON | {k for t in types for k in _BY_TYPE[t]} | {"patternProperties"}
        for key in sorted(set(s) - allowed):
            value = s.pop(key)
            if key in _DESCRIBED and value is not False:
                extra.append(_DESCRIBED[key].format(value if key != "uniqueItems" else "").strip())
        if "format" in s and s["format"] not in _FORMATS:
            extra.append(f"format {s.pop('format')}")
        if types - {"null"} == {"object"} and not s.get("properties") and where != "arguments":
            entry = self.map_entry(s, where)
            if entry is not None:
                out, plan = self.pairs(s, entry, where, depth, extra)
                return (_nullable(out) if "null" in types else out), plan
        plan = {}
        if "object" in types:
            plan = self.object(s, where, depth)
        if "array" in types:
            item_where = f"{where} items"
            s["items"], plan["items"] = self.node(s.get("items", {}), item_where, depth + 1)
        _describe(s, extra)
        return s, plan

    def map_entry(self, s: dict[str, Any], where: str) -> tuple[dict[str, Any], Any] | None:
        """(key schema, value schema) of an object that is a map of free names, else None."""
        extra_ok = s.get("additionalProperties")
        pattern = s.get("patternProperties") or {}
        if extra_ok in (None, False) and not pattern:
            return None
        if len(pattern) > 1 or (pattern and extra_ok not in (None, False)):
            raise _Unfixable(
                f"{where} is a map with several kinds of names, which strict mode can't express"
            )
        if pattern:
            name_pattern, value = next(iter(pattern.items()))
            return {"type": "string", "pattern": name_pattern}, value
        return {"type": "string"}, extra_ok

    def pairs(
        self,
        s: dict[str, Any],
        entry: tuple[dict[str, Any], Any],
        where: str,
        depth: int,
        extra: list[str],
    ) -> tuple[dict[str, Any], _Plan]:
        """A map as a list of {key, value}: strict mode needs every name listed."""
        value, value_plan = self.node(entry[1], f"{where} values", depth + 2)
        out: dict[str, Any] = {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"key": entry[0], "value": value},
                "required": ["key", "value"],
                "additionalProperties": False,
            },
        }
        if s.get("description"):
            out["description"] = s["description"]
        _describe(out, [*extra, "a map, given as a list of key/value pairs"])
        self.notes.append(
            f"{where} is a map of names to values; the model sends it as key/value pairs"
        )
        return out, {"pairs": value_plan}

    def any_of(
        self, s: dict[str, Any], where: str, depth: int, extra: list[str]
    ) -> tuple[dict[str, Any], _Plan]:
        siblings = {k: v for k, v in s.items() if k not in ("anyOf", "description")}
        branches: list[tuple[dict[str, Any], _Plan]] = []
        reasons = []
        for i, b in enumerate(s["anyOf"]):
            if isinstance(b, dict) and siblings:
                b = {**siblings, **b}  # rules beside anyOf apply to every option
            try:
                out, plan = self.node(b, f"{where} (option {i + 1})", depth)
            except _Unfixable as e:
                reasons.append(str(e))
                continue
            nested = plan["any"] if "anyOf" in out and set(out) == {"anyOf"} else [(out, plan)]
            for sub, sub_plan in nested:  # anyOf inside anyOf is flattened
                if all(sub != x for x, _ in branches):
                    branches.append((sub, sub_plan))
        if not branches:
            raise _Unfixable(reasons[0] if reasons else f"{where} offers no options")
        for r in reasons:
            self.notes.append(f"{r}; that option was left out")
        if len(branches) == 1 and "$ref" not in branches[0][0]:
            out, plan = branches[0]
            out = dict(out)
            if s.get("description"):
                out["description"] = s["description"]
            _describe(out, extra)
            return out, plan
        result: dict[str, Any] = {"anyOf": [b for b, _ in branches]}
        if s.get("description"):
            result["description"] = s["description"]
        _describe(result, extra)
        return result, {"any": branches}

    def object(self, s: dict[str, Any], where: str, depth: int) -> _Plan:
        props = s.get("properties") or {}
        if not isinstance(props, dict):
            raise _Unfixable(f"{where} lists its properties wrongly")
        extra_ok = s.get("additionalProperties", False)
        pattern = s.pop("patternProperties", None)
        if not props and where == "arguments" and (extra_ok not in (False, None) or pattern):
            self.notes.append(
                "the tool takes any named arguments; the model can call it only with none"
            )
        elif not props and (extra_ok not in (False, None) or pattern):
            raise _Unfixable(
                f"{where} accepts arbitrary names and values (a map);"
                " strict mode needs every name listed"
            )
        elif extra_ok not in (False, None) or pattern:
            self.notes.append(f"{where}: names beyond the listed ones can't be sent")
        required = [r for r in (s.get("required") or []) if r in props]
        out_props: dict[str, Any] = {}
        plan: _Plan = {"props": {}, "drop_null": set()}
        for name, sub in props.items():
            sub_where = f"argument '{name}'" if where == "arguments" else f"{where}.{name}"
            try:
                cleaned, sub_plan = self.node(sub, sub_where, depth + 1)
            except _Unfixable as e:
                if name in required:
                    raise
                self.notes.append(
                    f"{e}; the optional argument '{name}' was left out, so the model can't send it"
                )
                continue
            if name not in required and not _accepts_null(sub, self.src):
                plan["drop_null"].add(name)
                cleaned = _nullable(cleaned)
                if "anyOf" in cleaned and "any" not in sub_plan:
                    sub_plan = {"any": [(b, sub_plan) for b in cleaned["anyOf"]]}
                elif "any" in sub_plan and "anyOf" in cleaned:
                    sub_plan = {"any": [*sub_plan["any"], ({"type": "null"}, {})]}
            out_props[name] = cleaned
            plan["props"][name] = sub_plan
        s["properties"] = out_props
        s["required"] = list(out_props)
        s["additionalProperties"] = False
        return plan
