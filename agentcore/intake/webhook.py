"""Outcome callbacks: a signed JSON POST per delivery, sent from the outbox.

Headers: `X-Agent-Delivery: <delivery id>` (stable across retries: the receiver
dedupes by it) and `X-Agent-Signature: t=<unix seconds>,v1=<hex>`, where v1 is
HMAC-SHA256 with the shared secret over `t + "." + body` (the raw bytes sent).
A receiver recomputes it (`verify`), compares in constant time, and refuses a `t`
far from its clock (a replayed old delivery). Any 2xx is taken as delivered.

A permanent refusal (400, 401, 403, 404, 410, 422: the receiver will say the same
next time) raises `Undeliverable`: the outbox marks the delivery dead. Anything
else (5xx, 408, 409, 425, 429, other codes, timeouts, refused connections) is
retried with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any

from agentcore.errors import Undeliverable

if TYPE_CHECKING:
    import aiohttp

KIND = "webhook"
SIGNATURE_HEADER = "X-Agent-Signature"
DELIVERY_HEADER = "X-Agent-Delivery"
TIMEOUT_S = 10.0
# What a receiver answers the same however often it is asked: a bad body or signature,
# a URL that is not (or no longer) there, a payload it will never take.
PERMANENT = frozenset({400, 401, 403, 404, 410, 422})


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float | None = None,
           tolerance_s: float = 300.0) -> bool:
    """What a receiver checks: the MAC over the bytes it got, and a fresh timestamp."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


class WebhookDeliverer:
    """The outbox's deliverer for `KIND`: one aiohttp session, opened on first use."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, target: str, payload: dict[str, Any], delivery_id: str) -> None:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=TIMEOUT_S))
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id,
                   SIGNATURE_HEADER: signature(self._secret, int(time.time()), body)}
        async with self._session.post(target, data=body, headers=headers) as response:
            if response.status in PERMANENT:
                raise Undeliverable(f"HTTP {response.status} {response.reason or ''}"
                                    .strip() + f" from {target}")
            if not 200 <= response.status < 300:
                raise RuntimeError(f"HTTP {response.status}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
