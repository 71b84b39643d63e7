"""Cached answers in two tiers: L1 in memory, L2 in the engine database (agentcore.storage).

`AnswerCache` is the whole interface the engine needs; `rule_tags` and
`llm_tags` name what an answer depends on, so a change to it drops the answer.
"""

from agentcore.cache._model import CachedAnswer, CacheHit, CacheStats, Tier, normalise
from agentcore.cache._settings import CacheSettings
from agentcore.cache._tags import llm_tags, rule_tags
from agentcore.cache._tiers import AnswerCache

__all__ = [
    "AnswerCache",
    "CacheHit",
    "CacheSettings",
    "CacheStats",
    "CachedAnswer",
    "Tier",
    "llm_tags",
    "normalise",
    "rule_tags",
]
