"""Endpoint profiles: settings that suit the kind of server the LLM runs on.

A hosted API (OpenAI, a provider's gateway) serves many calls at once, answers
in seconds and charges per token. A local server (llama.cpp's server, vLLM or
Ollama on the workstation or the LAN) usually has one slot: a second call waits
behind the first, a small CPU model takes tens of seconds, a call abandoned on
timeout goes on running there, and it costs nothing per token. The hosted
defaults on such a server cascade: eight calls queue, time out, are retried
behind the abandoned ones, and the breaker opens for everyone.

`for_endpoint` applies the local profile to a local URL, touching only what the
operator has not changed from the hosted defaults, so their own choices win.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from agentcore.settings import Settings

log = logging.getLogger("agentcore.llm")

_LOCAL_NAMES = ("localhost", "host.docker.internal")
_LOCAL_SUFFIXES = (".localhost", ".local", ".lan", ".internal", ".home.arpa")


@dataclass(frozen=True, slots=True)
class LocalProfile:
    """What a local server gets unless the settings say otherwise."""

    max_in_flight: int = 1  # one slot unless the server reports more
    request_timeout_s: float = 180.0  # a small CPU model writes a few tokens a second
    request_deadline_s: float = 900.0  # waiting for the slot counts: eight requests queue
    max_attempts: int = 2  # a retry queues behind the work it repeats
    retry_timeouts: bool = False  # the abandoned call is still running there


LOCAL = LocalProfile()


def is_local(base_url: str | None) -> bool:
    """A server on this machine or the local network (not the in-process mock)."""
    if not base_url:
        return False
    host = (urlsplit(base_url).hostname or "").lower()
    if host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a public name: a hosted API
    return address.is_loopback or address.is_private or address.is_link_local


def _unset(model: BaseModel, name: str) -> bool:
    """Not chosen by the operator: never set, or still the hosted default (the console
    saves every field, so a saved file alone says nothing about a choice)."""
    if name not in model.model_fields_set:
        return True
    default = type(model).model_fields[name].get_default(call_default_factory=True)
    return bool(getattr(model, name) == default)


def for_endpoint(settings: Settings, base_url: str | None, *,
                 slots: int | None = None) -> Settings:
    """`settings` pointed at `base_url`, with the local profile where it is local.

    `slots`: how many calls the server runs at once, when it says (`server_slots`)."""
    new = settings.model_copy(deep=True)
    new.llm.base_url = base_url
    if not is_local(new.llm.base_url):
        return new
    resilience, retry = new.resilience, new.resilience.retry
    if _unset(resilience, "max_in_flight"):
        resilience.max_in_flight = slots or LOCAL.max_in_flight
    if _unset(resilience, "request_deadline_s"):
        resilience.request_deadline_s = LOCAL.request_deadline_s
    if _unset(new.llm, "request_timeout_s"):
        new.llm.request_timeout_s = LOCAL.request_timeout_s
    if _unset(retry, "max_attempts"):
        retry.max_attempts = LOCAL.max_attempts
    if _unset(retry, "retry_timeouts"):
        retry.retry_timeouts = LOCAL.retry_timeouts
    # A local model costs nothing per token: hosted prices would report spending that
    # never happened and trip the dollar ceiling on long prompts.
    for name in ("classify", "decide"):
        stage = getattr(new.llm, name)
        if stage is not None and _unset(new.llm, name):
            stage.input_per_mtok = stage.output_per_mtok = 0.0
    log.info("local endpoint %s: %s call(s) in flight, %g s per call", base_url,
             resilience.max_in_flight, new.llm.request_timeout_s)
    return new


def server_root(base_url: str) -> str:
    """The server's root URL: `base_url` without its `/v1` (or other API) path."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}"


async def server_slots(base_url: str, *, timeout_s: float = 3.0) -> int | None:
    """How many calls the server runs at once, where it says: llama.cpp's server
    answers `GET /props` with `total_slots`. None: it does not say (vLLM, Ollama,
    llama-cpp-python), or did not answer in time."""
    import httpx2

    try:
        async with httpx2.AsyncClient(timeout=timeout_s) as http:
            response = await http.get(f"{server_root(base_url)}/props")
        data: Any = response.json() if response.status_code == 200 else None
    except (httpx2.HTTPError, ValueError):
        return None
    slots = data.get("total_slots") if isinstance(data, dict) else None
    return slots if isinstance(slots, int) and not isinstance(slots, bool) and slots > 0 else None


def profile_summary(settings: Settings) -> str:
    """What the endpoint gets, in a line: "1 call in flight, 180 s per call, ...".
    `agentcore check` prints it, the settings dialog shows it under a local URL."""
    resilience, retry = settings.resilience, settings.resilience.retry
    flight = resilience.max_in_flight
    parts = [f"{flight} call{'s' * (flight != 1)} in flight" if flight
             else "no limit on calls in flight",
             f"{settings.llm.request_timeout_s:g} s per call",
             f"{resilience.request_deadline_s:g} s per request"
             if resilience.request_deadline_s else "no request deadline",
             f"{retry.max_attempts} attempt{'s' * (retry.max_attempts != 1)} per call"]
    if retry.max_attempts > 1 and not retry.retry_timeouts:
        parts.append("timeouts not retried")
    stages = [s for s in (settings.llm.classify, settings.llm.decide) if s is not None]
    if not any(s.input_per_mtok or s.output_per_mtok for s in stages):
        parts.append("no token prices")
    return ", ".join(parts)
