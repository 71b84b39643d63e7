"""The intake's settings (pydantic only: `agentcore.settings` imports this module, and
importing agentcore never imports aiohttp)."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field


class IntakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True,
                              hide_input_in_errors=True)

    enabled: bool = Field(False, description="the console hosts the intake in process")
    host: str = Field("127.0.0.1", description="address to bind; any but loopback needs a token")
    port: int = Field(8088, ge=0, le=65535, description="TCP port (0: any free one)")
    token_entry: str = Field("intake-token",
                             description="keyring entry holding the bearer token")
    require_token: bool = Field(
        False, description="ask for the token on loopback too (always asked elsewhere)")
    max_body_bytes: int = Field(64 * 1024, ge=1024, description="largest request body")
    max_wait_s: float = Field(30.0, ge=0, description="the longest `Prefer: wait=N` honoured")
    client_rate_per_minute: int = Field(
        6000, ge=1, description="requests a minute from one client address (same-size bursts)")
    callbacks: dict[str, str] = Field(
        default_factory=dict, description="channel -> webhook URL its outcomes are POSTed to")
    callback_secret_entry: str = Field(
        "intake-webhook-secret", description="keyring entry of the callbacks' HMAC secret")
    retry_base_s: float = Field(1.0, gt=0, description="first retry of a failed delivery")
    retry_cap_s: float = Field(300.0, gt=0, description="longest wait between retries")
    give_up_after_s: float = Field(
        3 * 86400.0, gt=0, description="a delivery still failing this long after it was "
        "queued is dead: kept, counted, sent again only by `agentcore outbox retry`")
    shutdown_grace_s: float = Field(10.0, ge=0,
                                    description="how long in-flight requests may finish")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
