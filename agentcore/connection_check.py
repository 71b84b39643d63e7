"""Is the configured LLM endpoint usable? One answer an operator can act on.

The settings dialog's "Test connection" and `agentcore check` both run
`check_connection`. It asks the endpoint for each stage's model
(`GET /models/{model}`) and, where a server does not list models, falls back to
a one-token chat call. openai's exceptions are translated here, at the
boundary, into a `ConnectionReport` whose `kind` tells the failures apart: the
endpoint is unreachable, answers at another path (a base URL missing `/v1`),
wants a key or refused one, a model does not exist. Its `steps` say the same
line by line (the endpoint, each model, the key), for the command line.

An API key is optional: a local server needs none. Without one the check still
runs, sending a placeholder, and confirms with a one-token chat call (servers
let anyone list their models) that the endpoint really accepts no key.

The API key is used for the call and never appears in a report or a log line:
it is registered with `agentcore.redaction` before the call, and every report's
text is redacted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from agentcore.credentials import KeyringCredentials
from agentcore.errors import SettingsError
from agentcore.redaction import redact, register_secret
from agentcore.settings import LLMSettings, Settings

if TYPE_CHECKING:
    import openai

log = logging.getLogger("agentcore.llm")

MAX_CHECK_TIMEOUT_S = 10.0  # an operator waiting on a button should not wait 30 s
_NO_KEY = "no-key-stored"  # what goes in the Authorization header when none is stored
ENDPOINT, KEY = "endpoint", "API key"  # the names of two of the steps

# (LLM settings, API key) -> client. Tests inject one backed by a scripted transport.
ClientFactory = Callable[[LLMSettings, str], "openai.AsyncOpenAI"]

# Which step a failure belongs to; the rest are the endpoint's.
_KEY_KINDS = ("auth", "forbidden")


@dataclass(frozen=True, slots=True)
class CheckStep:
    """One line of the check: the endpoint, one model, or the key."""

    what: str  # "endpoint", "model gpt-4o", "API key"
    ok: bool | None  # None: not checked, because an earlier step failed
    message: str


@dataclass(frozen=True, slots=True)
class ConnectionReport:
    ok: bool
    kind: str  # "ok", "unreachable", "timeout", "wrong_path", "auth", "forbidden",
    #            "not_found", "rate_limited", "error"
    message: str  # one sentence for the operator
    latency_ms: float | None = None  # the first round trip, when there was one
    steps: tuple[CheckStep, ...] = field(default=())


class _GivenKey(KeyringCredentials):
    """The key being tested (perhaps typed but not stored yet), in the keyring's shape."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self._key = key

    def get(self, name: str) -> str | None:
        return self._key


class _WrongPath(Exception):
    """The base URL's routes are 404s, but `{base_url}/v1` answers."""

    def __init__(self, right: str) -> None:
        super().__init__(right)
        self.right = right


def default_client(llm: LLMSettings, api_key: str) -> openai.AsyncOpenAI:
    """The client the engine would build: the in-process mock when `base_url` is None."""
    from agentcore.llm import build_client

    return build_client(Settings(llm=llm), _GivenKey(api_key))


async def check_connection(llm: LLMSettings, api_key: str | None, *,
                           client_factory: ClientFactory | None = None) -> ConnectionReport:
    where = llm.base_url or "the built-in mock LLM"
    # Without a key the endpoint is still tried, with a placeholder: a local server
    # needs none, and an unreachable one is reported as that, not as a missing key.
    missing_key = bool(llm.base_url) and not api_key
    timeout = min(llm.request_timeout_s, MAX_CHECK_TIMEOUT_S)
    llm = llm.model_copy(update={"request_timeout_s": timeout})
    register_secret(api_key)  # perhaps typed, not stored yet: a secret all the same
    try:
        client = (client_factory or default_client)(llm, api_key or _NO_KEY)
    except SettingsError as exc:
        message = redact(str(exc))
        return ConnectionReport(False, "error", message,
                                steps=(CheckStep(ENDPOINT, False, message),))
    models = [llm.decide.model] + ([llm.classify.model] if llm.classify else [])
    check = _Check(client, llm.base_url, list(dict.fromkeys(models)))  # one per model
    try:
        await check.run(confirm_no_key=missing_key)
    except _WrongPath as wrong:
        return check.report(ConnectionReport(
            False, "wrong_path", f"the server answers at {wrong.right}: add /v1 to the base "
                                 "URL"), where, missing_key, llm.api_key_name)
    except Exception as exc:
        report = _translate(exc, where, timeout, llm.api_key_name, missing_key)
        if report is None:
            raise  # not an error of the endpoint: a bug, let it show
        # An endpoint may echo the key it refused; a library may quote a header.
        report = replace(report, message=redact(report.message))
        log.info("connection check of %s failed: %s", where, report.kind)
        return check.report(report, where, missing_key, llm.api_key_name)
    finally:
        await client.close()
    missing = [m for m, found in check.found.items() if not found]
    if missing:
        named = ", ".join(repr(m) for m in missing)
        return check.report(ConnectionReport(
            False, "not_found", f"model{'s' * (len(missing) > 1)} {named} not found at {where}"),
            where, missing_key, llm.api_key_name)
    named = ", ".join(check.found)
    message = (f"OK: {where} answered in {check.latency_ms:.0f} ms; "
               f"model{'s' if len(check.found) > 1 else ''} {named} available")
    if missing_key:
        message += "; no API key is stored; the endpoint accepted none"
    return check.report(ConnectionReport(True, "ok", message), where, missing_key,
                        llm.api_key_name)


class _Check:
    """The calls of one check, and what each found out so far."""

    def __init__(self, client: openai.AsyncOpenAI, base_url: str | None,
                 models: list[str]) -> None:
        self.client = client
        self.base_url = base_url
        self.models = models
        self.found: dict[str, bool] = {}  # model -> exists, for each model checked
        self.latency_ms: float = 0.0
        self.answered = False  # some call got an HTTP answer
        self._chatted = False  # a chat call went through (it needs the key, if any)
        self._started = time.perf_counter()

    async def run(self, *, confirm_no_key: bool) -> None:
        for model in self.models:
            self.found[model] = not await self._model_missing(model)
        if confirm_no_key and not self._chatted and all(self.found.values()):
            # Listing models is public on many servers that want a key for a chat.
            await self._chat(self.models[0])

    def _answer(self) -> None:
        if not self.answered:
            self.answered = True
            self.latency_ms = (time.perf_counter() - self._started) * 1000

    async def _model_missing(self, model: str) -> bool:
        import openai

        try:
            await self.client.models.retrieve(model)
            self._answer()
            return False
        except openai.NotFoundError as exc:
            self._answer()
            if exc.code == "model_not_found":
                return True
            # Some servers (local ones, proxies) have no /models route at all: a 404
            # here says nothing about the model. A one-token chat call does. But first:
            # a base URL missing its /v1 gets a bare 404 for every route.
            await self._refuse_a_missing_v1()
        except openai.APIStatusError:
            self._answer()
            raise
        try:
            await self._chat(model)
            return False
        except openai.NotFoundError:
            return True

    async def _chat(self, model: str) -> None:
        import openai

        try:
            await self.client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "ping"}], max_tokens=1)
        except openai.APIStatusError:
            self._answer()
            raise
        self._answer()
        self._chatted = True

    async def _refuse_a_missing_v1(self) -> None:
        """Raises `_WrongPath` when `{base_url}/v1/models` answers where the base URL's
        own routes are 404s: the fix is to add /v1, not to look for the model."""
        import httpx2
        import openai

        if self.base_url is None or self.base_url.rstrip("/").endswith("/v1"):
            return
        try:
            # Relative, so it goes to the base URL plus "v1/models", with the same
            # transport, key and timeout as every other call of the check.
            await self.client.get("v1/models", cast_to=httpx2.Response)
        except (openai.AuthenticationError, openai.PermissionDeniedError):
            pass  # something is there, behind a key: the path is right all the same
        except openai.OpenAIError:
            return
        raise _WrongPath(self.base_url.rstrip("/") + "/v1")

    def report(self, report: ConnectionReport, where: str, missing_key: bool,
               key_name: str) -> ConnectionReport:
        """`report` with its steps and latency: the endpoint, each model, the key."""
        failed = None if report.ok else report.kind
        endpoint_failed = failed is not None and failed not in (*_KEY_KINDS, "not_found")
        if endpoint_failed:
            endpoint = CheckStep(ENDPOINT, False, report.message)
        else:
            endpoint = CheckStep(ENDPOINT, True, f"OK: {where} answered in "
                                                 f"{self.latency_ms:.0f} ms")
        steps = [endpoint]
        for model in self.models:
            found = self.found.get(model)
            if found is None:
                steps.append(CheckStep(f"model {model}", None, "not checked"))
            elif found:
                steps.append(CheckStep(f"model {model}", True, "OK: available"))
            else:
                steps.append(CheckStep(f"model {model}", False, f"not found at {where}"))
        steps.append(_key_step(failed, report.message, self.base_url, missing_key, key_name,
                               checked=self.answered and not endpoint_failed
                               and (failed is not None or not missing_key or self._chatted)))
        latency = self.latency_ms if self.answered else None
        return replace(report, latency_ms=latency, steps=tuple(steps))


def _key_step(failed: str | None, message: str, base_url: str | None, missing_key: bool,
              key_name: str, *, checked: bool) -> CheckStep:
    if failed in _KEY_KINDS:
        return CheckStep(KEY, False, message)
    if base_url is None:
        return CheckStep(KEY, True, "OK: the built-in mock needs none")
    if not checked:
        return CheckStep(KEY, None, "not checked" + (
            f" (no API key is stored under {key_name!r})" if missing_key else ""))
    if missing_key:
        return CheckStep(KEY, True, "OK: no API key is stored; the endpoint accepted none")
    return CheckStep(KEY, True, "OK: the endpoint accepted the key")


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
        if missing_key:
            return ConnectionReport(False, "auth", f"the endpoint wants an API key: none is "
                                                   f"stored under {key_name!r}")
        return ConnectionReport(False, "auth", "the API key was refused (401)")
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
