"""A server's MCP tool as the agent offers it: a `ToolInfo` always, a `Tool` when offered.

What the operator declared wins over what the server says: the allow list picks
the tools, `kinds` says read or write over the tool's MCP annotations, and a tool
that says nothing is a write. A write runs on the model's say-so only under the
policy declared for it: `ask` (never: the registry refuses it until an operator
approves, and the refusal becomes a pending action), `limits` on named arguments
(checked here, before the server is called: outside them the call is refused
with the arguments as the offer, for an operator to approve as asked), or
`server_policy` (the server holds itself to it; the operator vouches for that).

The schema the LLM sees is cleaned for strict tool calling; the model's arguments
are turned back (`restore`) and checked against the server's own schema before
the call. The call carries the request in `_meta`: `request_id`, and an
`idempotency_key` of the request, the tool and its arguments, so a server that
honours it never does one write twice (a retry, an approval replayed), yet does
two different writes of one request (refund order 7, then order 8).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from agentcore.errors import RecordNotFound, ToolError, WriteRefused
from agentcore.tool_servers._config import LLM_NAME, ArgumentLimit, ToolServerConfig
from agentcore.tool_servers._report import ToolInfo
from agentcore.tool_servers._strict_schema import clean_schema
from agentcore.tools import Tool, ToolContext

if TYPE_CHECKING:
    import mcp_types

    from agentcore.tool_servers._connection import CallResult

# (the tool's name on the server, arguments, _meta, timeout) -> what the server answered
Caller = Callable[[str, dict[str, Any], dict[str, Any], float], Awaitable["CallResult"]]
# The registry's own bound sits a little past the server's, so the server's timeout
# (which also tells the server to cancel) is the one that fires.
BACKSTOP_S = 1.0
_REMEMBERED_REQUESTS = 10_000  # of a write's "once per request": memory stays bounded


def adapt(config: ToolServerConfig, tool: mcp_types.Tool, call: Caller, *,
          was_write: bool = False,
          ran_for: OrderedDict[str, None] | None = None) -> tuple[ToolInfo, Tool | None]:
    """What `tool` of `config`'s server is to the agent, and the Tool to offer (None:
    not offered, `ToolInfo.problems` say why). `was_write`: the tool was a write
    before (an earlier listing said so, or it replaces a domain write): annotations
    now saying it reads don't make it one. `ran_for`: the requests a limited write
    already ran alone for, kept by the caller across listings."""
    llm_name = config.tool_prefix + tool.name
    writes, kind_from = _kind(config, tool, was_write)
    policy = config.policy_of(tool.name) if writes else None
    policy_text = None if policy is None or policy.ask else policy.describe()
    public = not writes and tool.name in config.public
    problems: list[str] = []
    offered = True
    if config.allow is not None and tool.name not in config.allow:
        problems.append("not in the server's allow list")
        offered = False
    if not LLM_NAME.fullmatch(llm_name):
        problems.append(f"the name {llm_name!r} is not one the LLM accepts (letters, digits, "
                        "'_' and '-', at most 64); give the server a shorter prefix")
        offered = False
    cleaned = clean_schema(tool.input_schema)
    problems.extend(cleaned.problems)
    usable = cleaned.usable and _valid_schema(tool.input_schema, problems)
    offered = offered and usable
    description = (tool.description or (tool.annotations.title if tool.annotations else None)
                   or tool.name).strip()
    info = ToolInfo(llm_name=llm_name, source=config.name, name=tool.name,
                    description=description, writes=writes, kind_from=kind_from,
                    policy=policy_text, public=public, problems=tuple(problems),
                    usable=usable, offered=offered)
    if not offered:
        return info, None
    limits = policy.limits if policy is not None else {}
    if ran_for is None:  # requests it ran alone for, newest last
        ran_for = OrderedDict()

    async def run(ctx: ToolContext, /, **arguments: Any) -> dict[str, Any]:
        if limits and not ctx.approved:
            _hold_to(llm_name, limits, arguments)
            # Limits bound one call, not a request: ten calls of $50 each pass a $50 limit.
            # So a write runs alone once per request (reserved before the await, so calls
            # of one turn, run together, can't both pass); any more waits for an operator.
            if ctx.request_id in ran_for:
                raise WriteRefused(f"{llm_name} already ran once for this request; another "
                                   "call waits for an operator", _limits_of(limits),
                                   dict(arguments))
            ran_for[ctx.request_id] = None
            while len(ran_for) > _REMEMBERED_REQUESTS:
                ran_for.popitem(last=False)
        result = await call(tool.name, arguments, meta_of(ctx, tool.name, arguments),
                            config.timeout_s)
        return result_of(llm_name, result)

    return info, Tool.from_schema(
        llm_name, description, tool.input_schema, run, offered=cleaned.schema,
        restore=cleaned.restore, writes=writes, public=public, policy=policy_text,
        source=config.name, timeout_s=config.timeout_s + BACKSTOP_S,
        version=tool_version(config.name, tool.name, description, tool.input_schema))


def tool_version(server: str, name: str, description: str, schema: dict[str, Any]) -> str:
    """What an approval was asked for: a server that re-lists the tool with another
    schema or description may mean another write by the same name."""
    canonical = json.dumps([server, name, description, schema], sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _kind(config: ToolServerConfig, tool: mcp_types.Tool, was_write: bool) -> tuple[bool, str]:
    said = config.kinds.get(tool.name)
    if said is not None:
        return said == "write", "operator"
    hints = tool.annotations
    if hints is not None:
        if hints.destructive_hint is True or hints.read_only_hint is False:
            return True, "annotations"
        if hints.read_only_hint is True:
            if was_write:
                # A server's hints are its own word: one re-listing a write as a read
                # (after the operator's Test showed a write) would make it run with no
                # policy. Only the operator's `kinds` makes a write a read.
                return True, "a write before: stays one"
            return False, "annotations"
    return True, "unknown: a write"


def _valid_schema(schema: dict[str, Any], problems: list[str]) -> bool:
    """The server's schema is one arguments can be checked against."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        problems.append(f"the server's input schema is not valid JSON Schema: {exc.message}")
        return False
    return True


def idempotency_key(request_id: str, tool: str, arguments: dict[str, Any]) -> str:
    """One write: the request, the tool (its name on the server) and the arguments, in a
    canonical form (so the same call asked again, or approved, has the same key)."""
    canonical = json.dumps([tool, arguments], sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, allow_nan=False)
    return f"{request_id}:{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


def meta_of(ctx: ToolContext, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """The `_meta` of a tools/call: who it is for, which write it is, and whether an
    operator stands behind it."""
    override = ctx.override
    return {"idempotency_key": idempotency_key(ctx.request_id, tool, arguments),
            "request_id": ctx.request_id,
            "customer_id": ctx.customer_id, "approved": ctx.approved,
            "override": None if override is None else {"operator": override.operator,
                                                       "reason": override.reason}}


def _hold_to(name: str, limits: dict[str, ArgumentLimit], arguments: dict[str, Any]) -> None:
    """WriteRefused unless every named argument is within its limit: the arguments as
    asked are the offer, for an operator to approve (or edit)."""
    outside = [problem for arg, limit in limits.items()
               if (problem := _outside(arg, limit, arguments)) is not None]
    if outside:
        raise WriteRefused(f"{name} is outside its policy: {'; '.join(outside)}; an operator "
                           "must approve it",
                           _limits_of(limits), dict(arguments))


def _limits_of(limits: dict[str, ArgumentLimit]) -> dict[str, Any]:
    return {arg: limit.model_dump(exclude_none=True) for arg, limit in limits.items()}


def _outside(arg: str, limit: ArgumentLimit, arguments: dict[str, Any]) -> str | None:
    if arg not in arguments or arguments[arg] is None:
        return f"{arg} is not given, so its limit can't be checked"
    value = arguments[arg]
    if limit.min is not None or limit.max is not None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"{arg} is {json.dumps(value, default=str)}, not a number"
        if limit.min is not None and value < limit.min:
            return f"{arg} {_number(value)} is below {limit.min:g}"
        if limit.max is not None and value > limit.max:
            return f"{arg} {_number(value)} is above {limit.max:g}"
    if limit.one_of is not None and not any(_same(value, allowed) for allowed in limit.one_of):
        return (f"{arg} {json.dumps(value, default=str)} is not one of "
                + ", ".join(map(str, limit.one_of)))
    if limit.max_length is not None:
        length = len(value) if isinstance(value, str | list) else len(str(value))
        if length > limit.max_length:
            return f"{arg} is {length} long, more than {limit.max_length}"
    return None


def _same(value: Any, allowed: str | int) -> bool:
    """`in` takes True for 1 (bool is an int): a flag is never one of the numbers."""
    if isinstance(value, bool) or isinstance(allowed, bool):
        return value is allowed
    return value == allowed and isinstance(value, str) == isinstance(allowed, str)


def _number(value: float) -> str:
    # A whole number too big for a float can't be :g-formatted (OverflowError).
    return f"{value:g}" if isinstance(value, float) else str(value)


def result_of(name: str, result: CallResult) -> dict[str, Any]:
    """A tools/call result as a tool's: an error raised, else a JSON object."""
    structured = result.structured
    if result.is_error:
        if isinstance(structured, dict) and structured.get("refused") is True:
            # Our convention for a write the server's own policy refused: an operator
            # may approve what it offers.
            offer = structured.get("offer")
            limits = structured.get("limits")
            raise WriteRefused(result.text or f"{name} was refused by its server's policy",
                               limits if isinstance(limits, dict) else {},
                               offer if isinstance(offer, dict) else None)
        if isinstance(structured, dict) and structured.get("not_found") is True:
            # A definite "no such record" (our convention too): an answer about the
            # request, not a failing backend, for the engine's own lookups.
            raise RecordNotFound(result.text or f"{name} found no such record")
        raise ToolError(result.text or f"{name} failed, saying nothing")
    if isinstance(structured, dict):
        return structured
    try:
        parsed = json.loads(result.text)
    except ValueError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"text": result.text}
