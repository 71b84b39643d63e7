"""Deterministic demo data: the shop database and the request corpus replayed against it."""

from agentcore.demo.corpusgen import generate_corpus
from agentcore.demo.shopgen import ensure_shop, generate_shop

__all__ = ["ensure_shop", "generate_corpus", "generate_shop"]
