"""The cache's settings, declared once with defaults and descriptions.

`Settings.cache` holds one of these. Rules carry their own policy (`Rule.cache`);
`intent_policies` overrides the domain's policy of slow-path (LLM) answers, by intent.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from agentcore.router import CachePolicy


class CacheSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(True, description="serve and store cached answers at all")
    l1_max_entries: int = Field(10_000, ge=1, description="answers held in memory")
    l1_max_bytes: int = Field(32 * 1024 * 1024, ge=1024,
                              description="estimated bytes of the answers held in memory")
    l1_ttl_s: float = Field(300.0, gt=0, description="seconds an answer lives in memory")
    l2_ttl_s: float = Field(3600.0, gt=0,
                            description="seconds an answer lives in SQLite (across restarts)")
    intent_policies: dict[str, CachePolicy] = Field(
        default_factory=dict,
        description="cache policy of LLM answers by intent, over the domain's own; an "
                    "intent neither names is 'never'")
    log_keep: int = Field(10_000, ge=100,
                          description="invalidation log rows kept for other processes' memory "
                                      "tiers; one that falls further behind clears itself")

    def policy_for_intent(self, intent: str | None,
                          defaults: Mapping[str, CachePolicy]) -> CachePolicy:
        """The policy of an LLM answer of `intent`: these settings', else the domain's."""
        key = intent or ""
        return self.intent_policies.get(key) or defaults.get(key, "never")
