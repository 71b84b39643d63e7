"""The settings dialog's fields, declared once, and how their text becomes settings.

Qt-free: each field names where its value lives in `Settings`, its label, type
and group; `validated` checks what the fields describe with the same pydantic
models the engine loads and puts each refusal under its field.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from agentcore import OPERATOR_REQUIRED, Settings


@dataclass(frozen=True, slots=True)
class Field:
    path: tuple[str, ...]  # where the value lives in `Settings`
    label: str
    kind: type  # str, int or float: how the text is parsed
    group: str
    optional: bool = False  # an empty field means None
    placeholder: str = ""
    required: str = "required"  # what an emptied field is told

    @property
    def key(self) -> str:
        return ".".join(self.path)


FIELDS = (
    Field(("llm", "base_url"), "Base URL", str, "LLM endpoint", optional=True,
          placeholder="empty: the built-in mock LLM"),
    Field(("llm", "classify", "model"), "Classify model", str, "Models and prices",
          optional=True, placeholder="empty: skip the classify stage"),
    Field(("llm", "classify", "input_per_mtok"), "  $ per M input tokens", float,
          "Models and prices"),
    Field(("llm", "classify", "output_per_mtok"), "  $ per M output tokens", float,
          "Models and prices"),
    Field(("llm", "decide", "model"), "Decide model", str, "Models and prices"),
    Field(("llm", "decide", "input_per_mtok"), "  $ per M input tokens", float,
          "Models and prices"),
    Field(("llm", "decide", "output_per_mtok"), "  $ per M output tokens", float,
          "Models and prices"),
    Field(("resilience", "max_in_flight"), "Calls in flight", int, "Calls to the LLM",
          optional=True, placeholder="empty: no limit"),
    Field(("llm", "request_timeout_s"), "Timeout per call (s)", float, "Calls to the LLM"),
    Field(("resilience", "request_deadline_s"), "Request deadline (s)", float,
          "Calls to the LLM", optional=True, placeholder="empty: none"),
    Field(("loop", "max_iterations"), "Max iterations", int, "Agent loop bounds"),
    Field(("loop", "dollar_ceiling"), "Dollar ceiling per request", float,
          "Agent loop bounds"),
    Field(("loop", "tool_timeout_s"), "Tool timeout (s)", float, "Agent loop bounds"),
    Field(("cache", "l1_ttl_s"), "L1 (memory) TTL (s)", float, "Cache"),
    Field(("cache", "l2_ttl_s"), "L2 (SQLite) TTL (s)", float, "Cache"),
    Field(("resilience", "breaker", "failure_threshold"), "Failures to open", int,
          "Circuit breaker"),
    Field(("resilience", "breaker", "open_s"), "Open for (s)", float, "Circuit breaker"),
    Field(("resilience", "rate_limit", "requests_per_minute"), "Requests per minute", int,
          "LLM rate limits", optional=True, placeholder="empty: no limit"),
    Field(("resilience", "rate_limit", "tokens_per_minute"), "Tokens per minute", int,
          "LLM rate limits", optional=True, placeholder="empty: no limit"),
    Field(("escalations", "operator"), "Operator name", str, "Escalations",
          required=OPERATOR_REQUIRED),
    Field(("escalations", "lease_s"), "Claim lease (s)", float, "Escalations"),
    Field(("escalations", "waiting_target_s"), "Waiting target (s)", float, "Escalations"),
    Field(("storage", "retention_days"), "Keep finished requests (days)", float, "Storage",
          optional=True, placeholder="empty: for ever"),
    Field(("storage", "spans_max_mb"), "Traces at most (MB)", float, "Storage",
          optional=True, placeholder="empty: no cap"),
    Field(("backtest", "sample"), "Backtest over (newest requests)", int, "Storage"),
)
CLASSIFY_PRICES = ("llm.classify.input_per_mtok", "llm.classify.output_per_mtok")
# Settings' only model-level check is that the base URL carries no credentials:
# an error located at the root belongs beside that field.
ROOT_ERROR_FIELD = "llm.base_url"
COLUMNS = (("LLM endpoint", "Models and prices", "Escalations", "Storage"),
            ("Calls to the LLM", "Agent loop bounds", "Cache", "Circuit breaker",
             "LLM rate limits"))
# What the endpoint's profile sets, where the operator has not typed their own value.
PROFILE_FIELDS = ("resilience.max_in_flight", "llm.request_timeout_s",
                   "resilience.request_deadline_s", *CLASSIFY_PRICES,
                   "llm.decide.input_per_mtok", "llm.decide.output_per_mtok")

BY_KEY = {field.key: field for field in FIELDS}


def validated(data: dict[str, Any], errors: dict[str, str], general: list[str],
              fields: Collection[str]) -> Settings | None:
    """`Settings` from `data`, or None; each refusal goes to `errors` under its field
    (unless the field already has one: not even a number says more), or to `general`."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            key = ".".join(str(part) for part in err["loc"]) or ROOT_ERROR_FIELD
            message = str(err["msg"]).removeprefix("Value error, ")
            if key in fields:
                errors.setdefault(key, message)
            else:
                general.append(f"{key}: {message}")
        return None


def parse(field: Field, text: str) -> Any:
    """The field's text as its type; ValueError says what is wrong with it."""
    text = text.strip()
    if not text:
        if field.optional:
            return None
        raise ValueError(field.required)
    if field.kind is int:
        try:
            return int(text.replace("_", "").replace(",", ""))
        except ValueError:
            raise ValueError("a whole number, like 3") from None
    if field.kind is float:
        try:
            value = float(text.removeprefix("$"))
        except ValueError:
            raise ValueError("a number, like 0.05") from None
        if not math.isfinite(value):
            raise ValueError("a finite number")
        return value
    return text


def format_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def get_path(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for part in path:
        if data is None:
            return None
        data = data[part]
    return data


def put_path(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value
