"""The validator: the agent's output must fit the schema and the business rules.

It trusts nothing the LLM says about money: a refund is checked against a
quote computed from the shop's own data at the moment of the write.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentcore.errors import AgentError
from agentcore.shop.policy import RefundQuote, refund_quote
from agentcore.shop.repository import Shop


class PolicyViolation(AgentError):
    def __init__(self, reason: str, allowed: dict[str, Any]) -> None:
        super().__init__(reason)
        self.allowed = allowed


class MalformedOutput(AgentError):
    """The LLM's final reply does not match the answer schema."""


class FinalAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    intent: str = Field(min_length=1, max_length=64)
    answer: str = Field(min_length=1, max_length=8000)
    confidence: float = Field(1.0, ge=0, le=1)
    handoff: str | None = None


def _strip_fences(text: str) -> str:
    """Real models often wrap JSON in a Markdown code fence."""
    text = text.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[-1].rsplit("```", 1)[0]
    return text


class Validator:
    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    def quote(self, order_id: int) -> RefundQuote | None:
        order = self.shop.get_order(order_id)
        policy = self.shop.get_refund_policy(order_id)
        if order is None or policy is None:
            return None
        return refund_quote(order, self.shop.get_payments(order_id), policy, self.shop.today)

    def check_write(self, tool: str, arguments: dict[str, Any],
                    customer_id: int | None, request_id: str) -> None:
        """Raises PolicyViolation when a write may not run without a human."""
        if customer_id is None:
            raise PolicyViolation(f"{tool} needs a known customer", {})
        if tool == "issue_refund":
            order_id = int(arguments["order_id"])
            if self.shop.has_acted(request_id, tool, f"order:{order_id}"):
                return  # done before a crash: running it again only replays the result
            quote = self.quote(order_id)
            if quote is None:
                raise PolicyViolation(f"order {order_id} has no refund policy", {})
            asked = round(float(arguments["amount"]) * 100)
            if asked > quote.allowed_cents:
                raise PolicyViolation(
                    f"refund of ${asked / 100:,.2f} on order {order_id} exceeds what the policy "
                    f"allows (${quote.allowed_dollars:,.2f}: {quote.reason})", quote.as_dict())

    def parse_final(self, content: str | None) -> FinalAnswer:
        if not content or not content.strip():
            raise MalformedOutput("the reply is empty")
        try:
            data = json.loads(_strip_fences(content))
        except json.JSONDecodeError as exc:
            raise MalformedOutput(f"the reply is not JSON ({exc.msg})") from None
        try:
            return FinalAnswer.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                 for e in exc.errors(include_url=False))
            raise MalformedOutput(f"the reply does not match the schema ({problems})") from None
