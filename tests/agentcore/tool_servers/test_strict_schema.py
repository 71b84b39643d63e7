"""Tool input schemas as MCP servers publish them, made acceptable to strict tool calling.

The corpus is what FastMCP (pydantic) and TypeScript servers (zod-to-json-schema) really
emit; each schema is either cleaned to one strict mode accepts or declared unusable with
a reason an operator can read. `jsonschema` (Draft 2020-12) checks that nothing a server
accepted is lost: a valid call, with nulls for the optional arguments the model must now
send, fits the cleaned schema, and `restore()` turns it back into a valid call.
"""

from __future__ import annotations

from typing import Any, Literal

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from agentcore.tool_servers._strict_schema import clean_schema, strict_problems

OBJECT = {"type": "object", "properties": {}, "required": [], "additionalProperties": False}


def valid(instance: Any, schema: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


def accepted(schema: Any) -> dict[str, Any]:
    cleaned = clean_schema(schema)
    assert cleaned.usable, cleaned.problems
    assert strict_problems(cleaned.schema) == []
    return cleaned.schema


# ----------------------------------------------------------------- pydantic (FastMCP)


class Address(BaseModel):
    street: str
    postcode: str | None = None


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Card(BaseModel):
    kind: Literal["card"]
    last4: str = Field(pattern=r"^\d{4}$")


class Transfer(BaseModel):
    kind: Literal["transfer"]
    iban: str
    reference: str = "order"


class PlaceOrder(BaseModel):
    sku: str = Field(description="Product code", min_length=3)
    quantity: int = Field(default=1, ge=1, le=99)
    ship_to: Address = Field(description="Where to send it")
    bill_to: Address | None = None
    gift_note: str | None = None
    tags: list[str] = Field(default_factory=list, max_length=5)
    payment: Card | Transfer = Field(discriminator="kind")
    outline: Node | None = None


def test_a_fastmcp_schema_with_optionals_defaults_nested_models_and_a_union_is_accepted():
    original = PlaceOrder.model_json_schema()
    assert strict_problems(original)  # as published, strict mode rejects it

    cleaned = clean_schema(original)

    assert cleaned.usable and strict_problems(cleaned.schema) == []
    props = cleaned.schema["properties"]
    assert cleaned.schema["required"] == list(props)  # every argument now required ...
    assert valid(None, props["quantity"])  # ... but an optional one may be null
    assert not valid(None, props["sku"])  # and a required one may not
    # the constraints strict mode rejects are still told to the model
    assert "at least 3 characters" in props["sku"]["description"]
    assert "default 1" in props["quantity"]["description"]
    assert set(cleaned.schema["$defs"]) == {"Address", "Node", "Card", "Transfer"}


def test_restore_gives_the_server_the_call_it_would_have_got():
    cleaned = clean_schema(PlaceOrder.model_json_schema())
    from_model = {
        "sku": "ABC-1",
        "quantity": None,  # optional, made nullable: the model "left it out"
        "ship_to": {"street": "1 Main St", "postcode": None},
        "bill_to": None,
        "gift_note": None,
        "tags": None,
        "payment": {"kind": "transfer", "iban": "DE89", "reference": None},
        "outline": {"name": "a", "children": [{"name": "b", "children": None}]},
    }
    assert valid(from_model, cleaned.schema)

    call = cleaned.restore(from_model)

    assert call == {
        "sku": "ABC-1",
        "ship_to": {"street": "1 Main St", "postcode": None},
        "bill_to": None,
        "gift_note": None,
        "payment": {"kind": "transfer", "iban": "DE89"},
        "outline": {"name": "a", "children": [{"name": "b"}]},
    }
    parsed = PlaceOrder.model_validate(call)  # the server parses it, defaults and all
    assert parsed.quantity == 1 and parsed.payment.reference == "order"  # type: ignore[union-attr]


# ------------------------------------------------------- zod-to-json-schema (TypeScript)

ZOD_FETCH = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "format": "uri", "description": "Page to fetch"},
        "max_length": {"type": "number", "exclusiveMinimum": 0, "default": 5000},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "raw": {"type": "boolean", "default": False},
        "mirror": {"$ref": "#/properties/url"},
    },
    "required": ["url"],
    "additionalProperties": False,
    "$schema": "http://json-schema.org/draft-07/schema#",
}


def test_a_zod_schema_keeps_its_uri_in_words_sends_a_map_as_pairs_and_inlines_path_refs():
    cleaned = clean_schema(ZOD_FETCH)

    assert cleaned.usable and strict_problems(cleaned.schema) == []
    props = cleaned.schema["properties"]
    assert "format uri" in props["url"]["description"]
    assert "format" not in props["url"]
    assert props["headers"]["type"] == ["array", "null"]  # a map: strict mode lists names
    assert any("'headers' is a map" in p for p in cleaned.problems)
    assert props["mirror"]["type"] == ["string", "null"]  # the #/properties/url reuse
    assert "$schema" not in cleaned.schema
    from_model = {
        "url": "https://x",
        "max_length": None,
        "headers": [{"key": "Accept", "value": "text/html"}, {"key": "X-Id", "value": "7"}],
        "raw": True,
        "mirror": None,
    }
    assert valid(from_model, cleaned.schema)
    call = cleaned.restore(from_model)
    assert call == {
        "url": "https://x",
        "headers": {"Accept": "text/html", "X-Id": "7"},
        "raw": True,
    }
    assert valid(call, ZOD_FETCH)


def test_a_map_with_named_keys_keeps_the_key_pattern():
    schema = {
        "type": "object",
        "properties": {
            "env": {"type": "object", "patternProperties": {"^[A-Z_]+$": {"type": "string"}}}
        },
        "required": ["env"],
    }
    out = accepted(schema)
    entry = out["properties"]["env"]["items"]
    assert entry["properties"]["key"] == {"type": "string", "pattern": "^[A-Z_]+$"}


def test_a_required_map_with_several_kinds_of_names_makes_the_tool_unusable_and_says_which():
    schema = {
        "type": "object",
        "properties": {
            "env": {
                "type": "object",
                "patternProperties": {"^A": {"type": "string"}, "^B": {"type": "integer"}},
            }
        },
        "required": ["env"],
    }
    cleaned = clean_schema(schema)
    assert not cleaned.usable
    assert any("argument 'env'" in p and "map" in p for p in cleaned.problems)
    optional = clean_schema({**schema, "required": []})  # optional: left out, tool usable
    assert optional.usable and "env" not in optional.schema["properties"]
    assert any("'env' was left out" in p for p in optional.problems)


def test_a_which_names_rule_is_told_in_words():
    schema = {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "email": {"type": "string"}},
        "oneOf": [{"required": ["id"]}, {"required": ["email"]}],
    }
    out = accepted(schema)
    assert "give exactly one of id or email" in out["description"]


def test_extra_names_an_open_object_allowed_are_closed_off_with_a_note():
    schema = {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
        "additionalProperties": True,
    }
    cleaned = clean_schema(schema)
    assert cleaned.usable and cleaned.schema["additionalProperties"] is False
    assert any("beyond the listed ones" in p for p in cleaned.problems)


# ------------------------------------------------------- shapes strict mode can't say


def test_one_of_becomes_any_of_and_a_single_ref_all_of_is_merged():
    schema = {
        "type": "object",
        "properties": {
            "target": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "where": {"allOf": [{"$ref": "#/definitions/Box"}], "description": "Area"},
        },
        "required": ["target", "where"],
        "definitions": {
            "Box": {"type": "object", "properties": {"w": {"type": "integer"}}, "required": ["w"]}
        },
    }
    out = accepted(schema)
    assert out["properties"]["target"] == {"anyOf": [{"type": "string"}, {"type": "integer"}]}
    assert out["properties"]["where"]["anyOf"] == [{"$ref": "#/$defs/Box"}]
    assert out["properties"]["where"]["description"] == "Area"
    assert "definitions" not in out and "Box" in out["$defs"]


def test_an_all_of_of_two_objects_is_merged_into_one():
    schema = {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"type": "object", "properties": {"b": {"type": "integer"}}},
        ]
    }
    out = accepted(schema)
    assert out["required"] == ["a", "b"] and out["properties"]["b"]["type"] == ["integer", "null"]


def test_an_argument_of_any_json_is_narrowed_to_scalars_and_reported():
    out = clean_schema({"type": "object", "properties": {"filter": {}}, "required": ["filter"]})
    assert out.usable and strict_problems(out.schema) == []
    assert valid("x", out.schema["properties"]["filter"])
    assert not valid({"a": 1}, out.schema["properties"]["filter"])
    assert any("argument 'filter' accepts any JSON" in p for p in out.problems)


def test_recursion_through_defs_is_kept_but_nesting_past_ten_levels_is_unusable():
    recursive = Node.model_json_schema()
    assert accepted(recursive)["$defs"]["Node"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/Node"
    }
    deep: dict[str, Any] = {"type": "string"}
    for _ in range(11):
        deep = {"type": "object", "properties": {"x": deep}, "required": ["x"]}
    cleaned = clean_schema(deep)
    assert not cleaned.usable and any("10 levels" in p for p in cleaned.problems)
    assert any("10 levels" in p for p in strict_problems(deep))


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        (
            {
                "type": "object",
                "properties": {"p": {"$ref": "https://example.com/p.json"}},
                "required": ["p"],
            },
            "elsewhere",
        ),
        ({"anyOf": [{"type": "object"}, {"type": "object"}]}, "several argument shapes"),
        ({"type": "string"}, "not named arguments"),
        (
            {
                "type": "object",
                "properties": {
                    "pair": {"type": "array", "items": [{"type": "string"}, {"type": "integer"}]}
                },
                "required": ["pair"],
            },
            "fixed-length list",
        ),
        ("not a schema", "not a JSON object"),
    ],
)
def test_what_cannot_be_fixed_is_unusable_with_the_reason(schema: Any, reason: str):
    cleaned = clean_schema(schema)
    assert not cleaned.usable
    assert any(reason in p for p in cleaned.problems), cleaned.problems


@pytest.mark.parametrize("schema", [None, {}])
def test_a_tool_without_arguments_gets_an_empty_closed_object(schema: Any):
    cleaned = clean_schema(schema)
    assert cleaned.usable and cleaned.schema == OBJECT and cleaned.problems == ()
    assert cleaned.restore({}) == {}


@pytest.mark.parametrize(
    ("schema", "says"),
    [
        ({"type": "object", "properties": {}, "required": [], "additionalProperties": False}, None),
        (
            {**OBJECT, "properties": {"a": {"type": "string", "default": "x"}}, "required": ["a"]},
            "'default'",
        ),
        (
            {**OBJECT, "properties": {"a": {"type": "string", "format": "uri"}}, "required": ["a"]},
            "format 'uri'",
        ),
        (
            {**OBJECT, "properties": {"a": {"allOf": [{"type": "string"}]}}, "required": ["a"]},
            "'allOf'",
        ),
        ({**OBJECT, "properties": {"a": {"type": "string"}}}, "must be required"),
        ({"type": "object", "properties": {}, "required": []}, "additionalProperties"),
        (
            {**OBJECT, "properties": {"a": {"$ref": "other.json#/x"}}, "required": ["a"]},
            "not to a local",
        ),
        ({"anyOf": [OBJECT]}, "'object'"),
        (
            {
                **OBJECT,
                "properties": {f"p{i}": {"type": "string"} for i in range(5001)},
                "required": [f"p{i}" for i in range(5001)],
            },
            "5001 properties",
        ),
        (
            {
                **OBJECT,
                "properties": {"a": {"type": "integer", "enum": list(range(1001))}},
                "required": ["a"],
            },
            "1001 enum values",
        ),
    ],
)
def test_strict_problems_states_the_rules(schema: dict[str, Any], says: str | None):
    problems = strict_problems(schema)
    if says is None:
        assert problems == []
    else:
        assert any(says in p for p in problems), problems


# ----------------------------------------------------------------- properties

NAMES = st.sampled_from(["a", "b", "c", "d", "e", "filter", "limit"])
SCALARS = ["string", "pattern", "integer", "number", "boolean", "enum"]
Case = tuple[dict[str, Any], Any, Any]  # schema, an instance, that instance with the nulls


@st.composite
def cases(draw: st.DrawFn, defs: dict[str, Any], depth: int = 0) -> Case:
    """A schema of the kinds servers publish, a valid instance, and that instance as the
    model would send it under the cleaned schema (null for every optional left out)."""
    kinds = SCALARS + (
        ["nullable", "array", "map", "object", "ref", "all_of_ref", "one_of"] if depth < 3 else []
    )
    kind = draw(st.sampled_from(kinds))
    if kind == "string":
        n = draw(st.integers(0, 3))
        schema: dict[str, Any] = {"type": "string", "minLength": n, "title": "T"}
        schema |= draw(st.sampled_from([{}, {"format": "uri"}, {"format": "date-time"}]))
        value: Any = draw(st.text(min_size=n, max_size=n + 4))
        return schema, value, value
    if kind == "pattern":
        value = draw(st.from_regex(r"[a-z]{1,5}", fullmatch=True))
        return {"type": "string", "pattern": "^[a-z]{1,5}$"}, value, value
    if kind == "integer":
        value = draw(st.integers(0, 100))
        return {"type": "integer", "minimum": 0, "maximum": 100}, value, value
    if kind == "number":
        value = draw(st.floats(allow_nan=False, allow_infinity=False))
        return {"type": "number"}, value, value
    if kind == "boolean":
        value = draw(st.booleans())
        return {"type": "boolean"}, value, value
    if kind == "enum":
        value = draw(st.sampled_from(["red", "green"]))
        return {"type": "string", "enum": ["red", "green"]}, value, value
    if kind == "nullable":
        inner, value, filled = draw(cases(defs, depth + 1))
        if draw(st.booleans()):
            value = filled = None
        return {"anyOf": [inner, {"type": "null"}], "default": None}, value, filled
    if kind == "array":
        parts = draw(st.lists(cases(defs, depth + 1), max_size=3))
        inner = parts[0][0] if parts else {"type": "string"}
        same = [p for p in parts if p[0] == inner]
        return (
            {"type": "array", "items": inner, "maxItems": 3},
            [p[1] for p in same],
            [p[2] for p in same],
        )
    if kind == "map":  # dict[str, X]: the model sends [{"key", "value"}]
        entries = draw(st.dictionaries(st.text(max_size=3), cases(defs, depth + 1), max_size=3))
        first = next(iter(entries.values()), None)
        inner = first[0] if first else {"type": "string"}
        same = {k: c for k, c in entries.items() if c[0] == inner}
        return (
            {"type": "object", "additionalProperties": inner},
            {k: c[1] for k, c in same.items()},
            [{"key": k, "value": c[2]} for k, c in same.items()],
        )
    if kind == "one_of":
        a, va, fa = draw(objects(defs, depth + 1, tag="a"))
        b, vb, fb = draw(objects(defs, depth + 1, tag="b"))
        first = draw(st.booleans())
        return {"oneOf": [a, b]}, va if first else vb, fa if first else fb
    schema, value, filled = draw(objects(defs, depth + 1))
    if kind == "object":
        return schema, value, filled
    name = f"M{len(defs)}"
    defs[name] = schema
    ref = {"$ref": f"#/$defs/{name}"}
    if kind == "all_of_ref":  # pydantic 1 and some TS generators wrap a ref to describe it
        return {"allOf": [ref], "description": "a model"}, value, filled
    return ref, value, filled


@st.composite
def objects(draw: st.DrawFn, defs: dict[str, Any], depth: int, tag: str | None = None) -> Case:
    names = draw(st.lists(NAMES, unique=True, max_size=4))
    props: dict[str, Any] = {}
    required: list[str] = []
    value: dict[str, Any] = {}
    filled: dict[str, Any] = {}
    if tag is not None:
        props["kind"] = {"const": tag, "type": "string"}
        required.append("kind")
        value["kind"] = filled["kind"] = tag
    for name in names:
        sub, v, f = draw(cases(defs, depth))
        if draw(st.booleans()):
            required.append(name)
            value[name], filled[name] = v, f
        else:
            if draw(st.booleans()):
                sub = {**sub, "default": v}
            if draw(st.booleans()):
                value[name], filled[name] = v, f
            else:
                filled[name] = None
        props[name] = sub
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    opens = [{}, {"additionalProperties": False}] + (
        [{"additionalProperties": True}] if props else []
    )
    schema |= draw(st.sampled_from(opens))
    return schema, value, filled


@st.composite
def tools(draw: st.DrawFn) -> Case:
    defs: dict[str, Any] = {}
    schema, value, filled = draw(objects(defs, 1))
    if defs:
        schema["$defs"] = defs
    return schema, value, filled


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tools())
def test_a_valid_call_fits_the_cleaned_schema_and_restores_to_a_valid_call(case: Case):
    schema, value, filled = case
    assert valid(value, schema)
    cleaned = clean_schema(schema)
    assert cleaned.usable, cleaned.problems
    assert strict_problems(cleaned.schema) == []
    assert valid(filled, cleaned.schema)
    assert valid(cleaned.restore(filled), schema)


ODD = st.sampled_from(
    [
        {},
        True,
        {"type": "object", "additionalProperties": {"type": "string"}},
        {"type": "object", "patternProperties": {"^x": {"type": "integer"}}},
        {"$ref": "https://example.com/s.json"},
        {"$ref": "#/$defs/Missing"},
        {"type": "array"},
        {"type": "array", "items": [{"type": "string"}]},
        {"not": {"type": "string"}},
        {"type": "string", "if": {"minLength": 1}, "then": {"pattern": "a"}},
        {"type": "widget"},
        {"enum": []},
        {"description": "anything"},
        {"type": ["string", "integer"], "minLength": 2},
        {"anyOf": [{}, {"type": "null"}]},
        {"oneOf": [{"type": "object"}, {"$ref": "#"}]},
    ]
)


@st.composite
def odd_tools(draw: st.DrawFn) -> dict[str, Any]:
    schema, _, _ = draw(tools())
    for name in draw(st.lists(st.sampled_from(["x", "y", "z"]), unique=True, max_size=3)):
        schema["properties"][name] = draw(ODD)
        if draw(st.booleans()):
            schema["required"].append(name)
    return schema


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(odd_tools())
def test_the_cleaned_schema_is_accepted_or_the_tool_is_unusable_with_a_reason(
    schema: dict[str, Any],
):
    cleaned = clean_schema(schema)
    if cleaned.usable:
        assert strict_problems(cleaned.schema) == []
    else:
        assert cleaned.problems
