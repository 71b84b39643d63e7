"""The cache's settings, declared once with defaults and descriptions.

`Settings.cache` holds one of these. Rules carry their own policy (`Rule.cache`);
`intent_policies` is the policy of slow-path (LLM) answers, by intent.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from agentcore.router import CachePolicy

# Same answer for everyone: nothing in it comes from a customer's records.
_SHARED = ("shipping_info", "payment_methods", "contact", "refund_policy", "technical",
           "greeting")
# Read a customer's records: keyed by the customer, dropped when the records change.
_PER_CUSTOMER = ("order_status", "refund_status", "account")
# Acted (or may act) on the shop, or belong to a person: never replayed from a cache.
_NEVER = ("refund_request", "cancel_order", "billing", "password_reset", "human_request",
          "other")


def default_intent_policies() -> dict[str, CachePolicy]:
    policies: dict[str, CachePolicy] = {}
    policies.update(dict.fromkeys(_SHARED, "shared"))
    policies.update(dict.fromkeys(_PER_CUSTOMER, "per-customer"))
    policies.update(dict.fromkeys(_NEVER, "never"))
    return policies


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
        default_factory=default_intent_policies,
        description="cache policy of LLM answers by intent; an intent not listed is 'never'")
    log_keep: int = Field(10_000, ge=100,
                          description="invalidation log rows kept for other processes' memory "
                                      "tiers; one that falls further behind clears itself")

    def policy_for_intent(self, intent: str | None) -> CachePolicy:
        return self.intent_policies.get(intent or "", "never")
