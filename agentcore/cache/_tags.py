"""Which entities an answer depends on: the tags it is stored with.

A tag names something whose change must drop the answer: `order:12345`,
`customer:42`, a domain's shared data (`shop:catalog`), and `rule:<id>` (an
edited rule drops its answers). The domain says what each handler and read tool
depends on (`Domain.cache_tags`) and announces the same names when its data
changes (`Domain.watch`). When an answer's dependencies can't be named, these
return None and the answer is not cached: a miss costs a recomputation, a wrong
tag costs a stale answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from agentcore.domain import CacheTags
from agentcore.router import Rule
from agentcore.tool_results import ToolResults


def _entity_tag(prefix: str, raw: object) -> str | None:
    """`order:12345` from an argument or a named group; None if it isn't a whole number."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return f"{prefix}:{raw}"
    if isinstance(raw, str) and raw.isdigit():
        return f"{prefix}:{int(raw)}"
    return None


def rule_tags(rule: Rule, customer_id: int | None, groups: Mapping[str, str],
              known: CacheTags) -> list[str] | None:
    """Tags for a rule's answer, or None when it must not be cached."""
    reads = known.handlers.get(rule.handler)
    if reads is None:
        return None  # a handler the domain says nothing about: never cached
    tags = [f"rule:{rule.id}", *reads.tags]
    if reads.customer:
        if customer_id is None:
            return None
        tags.append(f"{known.customer_prefix}:{customer_id}")
    for group, prefix in known.entities.items():
        raw = groups.get(group)
        if raw is None:
            continue
        tag = _entity_tag(prefix, raw)
        if tag is None:
            return None
        tags.append(tag)
    return tags


def llm_tags(tool_results: ToolResults, customer_id: int | None,
             known: CacheTags) -> list[str] | None:
    """Tags for an LLM answer from the tool calls of its loop (`LoopResult.tool_results`;
    its derived facts come from reads already listed), or None when it must not be
    cached: a write tool ran, a tool failed, or a tool whose reads can't be named was
    used."""
    tags: list[str] = []
    for call in tool_results:
        extra = known.read_tools.get(call.tool)
        if extra is None or call.error is not None:
            return None
        arguments = call.arguments or {}
        for argument, prefix in known.entities.items():
            if argument in arguments:
                tag = _entity_tag(prefix, arguments[argument])
                if tag is None:
                    return None
                tags.append(tag)
        tags.extend(extra)
    prefixes = tuple(f"{p}:" for p in known.entities.values())
    if customer_id is not None and prefixes and any(t.startswith(prefixes) for t in tags):
        tags.append(f"{known.customer_prefix}:{customer_id}")
    return list(dict.fromkeys(tags))
