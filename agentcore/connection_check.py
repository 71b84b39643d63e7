"""Is the configured LLM endpoint usable? One answer an operator can act on.

The settings dialog's "Test connection" runs `check_connection` on the event
loop. It asks the endpoint for each stage's model (`GET /models/{model}`) and,
where a server does not list models, falls back to a one-token chat call.
openai's exceptions are translated here, at the boundary, into a
`ConnectionReport` whose `kind` tells the failures apart: the endpoint is
unreachable, the key was refused, a model does not exist. The API key is used
for the call and never appears in a report or a log line: it is registered with
`agentcore.redaction` before the call, and every report's text is redacted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from agentcore.credentials import KeyringCredentials
from agentcore.errors import SettingsError
from agentcore.redaction import redact, register_secret
from agentcore.settings import LLMSettings, Settings

if TYPE_CHECKING:
    import openai

log = logging.getLogger("agentcore.llm")

MAX_CHECK_TIMEOUT_S = 10.0  # an operator waiting on a button should not wait 30 s
_NO_KEY = "no-key-stored"

# (LLM settings, API key) -> client. Tests inject one backed by a scripted transport.
ClientFactory = Callable[[LLMSettings, str], "openai.AsyncOpenAI"]


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    ok: bool
    kind: str  # "ok", "unreachable", "timeout", "no_key", "auth", "forbidden",
    #            "not_found", "rate_limited", "error"
    message: str  # one sentence for the operator
    latency_ms: float | None = None  # the first round trip, when there was one


class _GivenKey(KeyringCredentials):
    """The key being tested (perhaps typed but not stored yet), in the keyring's shape."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self._key = key

    def get(self, name: str) -> str | None:
        return self._key


def default_client(llm: LLMSettings, api_key: str) -> openai.AsyncOpenAI:
    """The client the engine would build: the in-process mock when `base_url` is None."""
    from agentcore.llm import build_client

    return build_client(Settings(llm=llm), _GivenKey(api_key))


async def check_connection(llm: LLMSettings, api_key: str | None, *,
                           client_factory: ClientFactory | None = None) -> ConnectionReport:
    where = llm.base_url or "the built-in mock LLM"
    # Without a key the endpoint is still tried (with a placeholder the engine would
    # never send), so an unreachable server is reported as that, not as a missing key.
    missing_key = bool(llm.base_url) and not api_key
    timeout = min(llm.request_timeout_s, MAX_CHECK_TIMEOUT_S)
    llm = llm.model_copy(update={"request_timeout_s": timeout})
    register_secret(api_key)  # perhaps typed, not stored yet: a secret all the same
    try:
        client = (client_factory or default_client)(llm, api_key or _NO_KEY)
    except SettingsError as exc:
        return ConnectionReport(False, "error", redact(str(exc)))
    models = [llm.decide.model] + ([llm.classify.model] if llm.classify else [])
    models = list(dict.fromkeys(models))  # one check per distinct model
    started = time.perf_counter()
    latency_ms: float | None = None
    try:
        for model in models:
            missing = await _model_missing(client, model)
            if latency_ms is None:
                latency_ms = (time.perf_counter() - started) * 1000
            if missing:
                return ConnectionReport(False, "not_found",
                                        f"model {model!r} not found at {where}", latency_ms)
    except Exception as exc:
        report = _translate(exc, where, timeout, llm.api_key_name, missing_key)
        if report is None:
            raise  # not an error of the endpoint: a bug, let it show
        # An endpoint may echo the key it refused; a library may quote a header.
        report = replace(report, message=redact(report.message))
        log.info("connection check of %s failed: %s", where, report.kind)
        return report
    finally:
        await client.close()
    assert latency_ms is not None  # at least one model was checked
    if missing_key:
        return ConnectionReport(False, "no_key", (
            f"{where} answers, but no API key is stored under {llm.api_key_name!r}: type one "
            "in the API key field (a server that needs none accepts any text)"), latency_ms)
    named = ", ".join(models)
    return ConnectionReport(True, "ok", f"OK: {where} answered in {latency_ms:.0f} ms; "
                                        f"model{'s' if len(models) > 1 else ''} {named} "
                                        f"available", latency_ms)


async def _model_missing(client: openai.AsyncOpenAI, model: str) -> bool:
    import openai

    try:
        await client.models.retrieve(model)
        return False
    except openai.NotFoundError as exc:
        if exc.code == "model_not_found":
            return True
        # Some servers (local ones, proxies) have no /models route at all: a 404 here
        # says nothing about the model. A one-token chat call does.
    try:
        await client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
        return False
    except openai.NotFoundError:
        return True


def _translate(exc: Exception, where: str, timeout: float, key_name: str,
               missing_key: bool) -> ConnectionReport | None:
    """openai's error -> a report; None for anything that is not the endpoint's doing."""
    import openai

    if isinstance(exc, openai.APITimeoutError):  # a subclass of APIConnectionError
        return ConnectionReport(False, "timeout", f"no answer from {where} within {timeout:g} s")
    if isinstance(exc, openai.APIConnectionError):
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        return ConnectionReport(False, "unreachable", f"unreachable: {where} does not "
                                                      f"answer{cause}")
    if isinstance(exc, openai.AuthenticationError):
        return ConnectionReport(False, "auth", "the API key was refused (401)" + (
            f": none is stored under {key_name!r}" if missing_key else ""))
    if isinstance(exc, openai.PermissionDeniedError):
        return ConnectionReport(False, "forbidden", "the API key may not use this endpoint "
                                                    "or model (403)")
    if isinstance(exc, openai.RateLimitError):
        return ConnectionReport(False, "rate_limited", f"{where} is reachable but rate "
                                                       f"limiting this key (429); try later")
    if isinstance(exc, openai.APIStatusError):
        return ConnectionReport(False, "error", f"{where} answered HTTP {exc.status_code}: "
                                                f"{exc.message}")
    if isinstance(exc, openai.OpenAIError):
        return ConnectionReport(False, "error", f"unreadable answer from {where}: {exc}")
    return None
