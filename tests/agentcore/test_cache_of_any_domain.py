"""The answer cache keeps a member's records to that member in any domain, not only in
the demo shop whose tag names (`order:`, `customer:`) it happens to know."""

from __future__ import annotations

from dataclasses import replace

from agentcore.engine import Engine
from agentcore.models import Request, Route
from agentcore.settings import Settings

MEMBER, OTHER_MEMBER, LOAN = 1, 2, 1001  # loan 1001 is member 1's in the seed data


async def test_a_shared_answer_that_read_a_members_loan_is_not_served_to_others(tmp_path):
    """An operator marks the loan-status rule 'shared' (as the shop's own rules may be
    marked): the shop's cache keeps such an answer per customer, since it read one."""
    engine = Engine(Settings(data_dir=tmp_path / "data", domain="library_loans:create"))
    try:
        rules = [replace(r, cache="shared") if r.id == "loan-status" else r
                 for r in engine.router.rules]
        engine.apply_rules(rules)
        text = f"when is loan {LOAN} due?"
        own = await engine.submit(Request(text, customer_id=MEMBER))
        assert own.route is Route.RULE and "is due back" in own.answer

        other = await engine.submit(Request(text, customer_id=OTHER_MEMBER))
        anonymous = await engine.submit(Request(text, customer_id=None))
        assert own.answer not in (other.answer, anonymous.answer)
    finally:
        await engine.close()
