"""The demo shop's handler specs for tests that only route or validate rules: the
router checks a rule's handler, fields and groups, and no handler runs."""

from agentcore.demo_shop.handlers import shop_handlers

SHOP_HANDLERS = shop_handlers(None)  # type: ignore[arg-type]  # never called
