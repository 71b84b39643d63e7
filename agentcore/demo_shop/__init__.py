"""The bundled demo shop: one `Domain` (agentcore.domain) among others.

Its data (`shopgen`), its corpus of requests (`corpusgen`), its tools, handlers,
intents and resources (rules, prompts, static answers) live here; the engine
reaches them only through `DemoShop`.
"""

from agentcore.demo_shop.domain import DemoShop, create

__all__ = ["DemoShop", "create"]
