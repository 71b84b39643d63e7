"""The intake's HTTP server: aiohttp's web server on the running loop.

`IntakeServer(engine, settings, credentials, extensions=...)`: `start()` binds
(under `agentcore serve`'s asyncio.run or the console's qasync loop alike),
`close()` stops accepting, lets in-flight requests finish within the grace, and
flushes. Routes: `POST /v1/requests`, `GET /v1/requests/{id}`; extensions
(`(app, engine) -> None`) add their own before the server starts, and find the
`Intake` (idempotent submit, the outbox) as `app[INTAKE]`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from aiohttp import web

from agentcore.channels.chatwoot import CHANNEL as CHATWOOT
from agentcore.errors import IdempotencyKeyReused, SettingsError, StorageError
from agentcore.intake.outbox import Outbox
from agentcore.intake.service import Intake
from agentcore.intake.settings import IntakeSettings, is_loopback
from agentcore.intake.webhook import KIND, WebhookDeliverer
from agentcore.models import Request, Status

if TYPE_CHECKING:
    from agentcore.credentials import KeyringCredentials
    from agentcore.engine import Engine

log = logging.getLogger("agentcore.intake")

Extension = Callable[[web.Application, "Engine"], None]
INTAKE = web.AppKey("intake", Intake)
SERVER = web.AppKey("intake_server", object)  # the IntakeServer, for extensions' auth

_WAIT = re.compile(r"(?:^|[;,\s])wait\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
MAX_CLIENTS = 10_000  # client buckets kept (least recently seen dropped)
# Channels whose requests come through a route of their own, with ids and keys of their
# own (the message's): a POST into one could take a help-desk message's key first (the
# message would never be answered) or be shown that customer's request.
OWN_ROUTE_CHANNELS = frozenset({CHATWOOT})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, reason: str, *, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": reason}, status=status, headers=headers)


class IntakeServer:
    def __init__(self, engine: Engine, settings: IntakeSettings,
                 credentials: KeyringCredentials | None, *,
                 extensions: Iterable[Extension] = ()) -> None:
        self.engine = engine
        self.settings = settings
        self._credentials = credentials
        self._extensions = list(extensions)
        self._token: str | None = None
        self._runner: web.AppRunner | None = None
        self._deliverer: WebhookDeliverer | None = None
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.outbox = Outbox(engine.store.outbox, engine.clock, base_s=settings.retry_base_s,
                             cap_s=settings.retry_cap_s,
                             give_up_after_s=settings.give_up_after_s)
        self.intake = Intake(engine, outbox=self.outbox, callbacks=settings.callbacks)
        self.url: str | None = None

    # -- life ----------------------------------------------------------------

    def _secret(self, entry: str) -> str | None:
        return self._credentials.get(entry) if self._credentials is not None else None

    async def start(self) -> str:
        """Binds and serves; the base URL. SettingsError when the settings can't be
        served safely (no token for a non-loopback bind, callbacks without a secret)."""
        s = self.settings
        try:
            # Blank is none (a paste gone wrong): it would let in "Authorization: Bearer".
            # A newline pasted after the token is not part of it.
            self._token = (self._secret(s.token_entry) or "").strip() or None
        except SettingsError as exc:
            if not is_loopback(s.host) or s.require_token:
                raise
            # On loopback a token is optional: a machine without a keyring still serves.
            log.warning("no intake token (%s): loopback callers need none", exc)
            self._token = None
        if self._token is None and not is_loopback(s.host):
            raise SettingsError(
                f"the intake would listen on {s.host}, beyond this machine, with no token: "
                f"store a bearer token in the keyring entry {s.token_entry!r} first "
                "(or bind 127.0.0.1)")
        if self._token is None and s.require_token:
            raise SettingsError(f"the intake asks for a token, and the keyring entry "
                                f"{s.token_entry!r} holds none")
        if s.callbacks:
            secret = self._secret(s.callback_secret_entry)
            if secret is None:
                raise SettingsError(
                    f"callbacks are set for {', '.join(sorted(s.callbacks))} but the keyring "
                    f"entry {s.callback_secret_entry!r} holds no signing secret")
            self._deliverer = WebhookDeliverer(secret)
            self.outbox.register(KIND, self._deliverer)
        app = web.Application(client_max_size=s.max_body_bytes,
                              middlewares=[self._guard_middleware])
        app[INTAKE] = self.intake
        app[SERVER] = self
        app.router.add_post("/v1/requests", self._post)
        app.router.add_get("/v1/requests/{id}", self._get)
        for extension in self._extensions:
            extension(app, self.engine)
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=s.shutdown_grace_s)
        await runner.setup()
        site = web.TCPSite(runner, s.host, s.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise SettingsError(f"the intake cannot listen on {s.host}:{s.port}: "
                                f"{exc.strerror or exc}") from exc
        self._runner = runner
        sockets = [sock.getsockname() for sock in getattr(site._server, "sockets", ())]
        port = sockets[0][1] if sockets else s.port
        host = f"[{s.host}]" if ":" in s.host else s.host
        self.url = f"http://{host}:{port}"
        self.outbox.start()
        resumed = await self.intake.resume()
        if resumed:
            log.warning("resumed %d requests a crash left unfinished", resumed)
        log.info("intake listening on %s", self.url)
        return self.url

    async def close(self) -> None:
        """Stops accepting, lets in-flight requests finish within the grace (the rest
        stay accepted on disk, resumed next start), gives pending sends a moment, flushes."""
        grace = self.settings.shutdown_grace_s
        if self._runner is not None:
            runner, self._runner = self._runner, None
            for site in list(runner.sites):
                await site.stop()  # no new connections
            cut = await self.intake.drain(grace)
            if cut:
                log.warning("%d requests cut short by the shutdown: resumed next start", cut)
            await runner.cleanup()
        await self.intake.stop_sweeping()
        await self.outbox.close(grace_s=min(grace, 2.0))
        if self._deliverer is not None:
            await self._deliverer.close()
        self.intake.close()
        self.engine.store.flush()
        self.url = None

    # -- the pieces ----------------------------------------------------------

    def authorized(self, request: web.Request) -> bool:
        """Whether a request carries the bearer token (True when none is set)."""
        if self._token is None:
            return True
        given = request.headers.get("Authorization", "")
        scheme, _, token = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(),
                                                                  self._token.encode())

    def _client_allowed(self, client: str) -> float | None:
        """A token bucket per client address; None, or the seconds until the next token."""
        rate = self.settings.client_rate_per_minute
        now = time.monotonic()
        tokens, at = self._buckets.get(client, (float(rate), now))
        tokens = min(float(rate), tokens + (now - at) * rate / 60.0)
        self._buckets[client] = (tokens - 1.0 if tokens >= 1.0 else tokens, now)
        self._buckets.move_to_end(client)
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        return None if tokens >= 1.0 else (1.0 - tokens) * 60.0 / rate

    @web.middleware
    async def _guard_middleware(self, request: web.Request,
                                handler: Handler) -> web.StreamResponse:
        # /metrics names routes, rules, models, queue sizes and spend: behind the same
        # token as the requests. Liveness and readiness probes carry no secrets: open.
        guarded = request.path.startswith("/v1/") or request.path == "/metrics"
        if guarded and not self.authorized(request):
            return _error(401, "a bearer token is required (Authorization: Bearer ...)",
                          headers={"WWW-Authenticate": 'Bearer realm="intake"'})
        if request.path.startswith("/v1/"):
            wait = self._client_allowed(request.remote or "?")
            if wait is not None:
                return _error(429, "too many requests from this client",
                              headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, f"the body is larger than {self.settings.max_body_bytes} "
                               "bytes")
        except StorageError as exc:
            # The engine database gone (a server down mid-shift, a full disk): a request
            # is taken only once it is in the database, and a retry with the same key or
            # external id is never taken twice, so the client's retry is safe.
            log.warning("%s %s: %s", request.method, request.path, exc)
            return _error(503, f"the engine database cannot be used now ({exc}): retry "
                               "later with the same Idempotency-Key",
                          headers={"Retry-After": "5"})

    def _wait_for(self, request: web.Request) -> float | None:
        match = _WAIT.search(request.headers.get("Prefer", ""))
        if match is None:
            return None
        return min(float(match.group(1)), self.settings.max_wait_s)

    async def _post(self, request: web.Request) -> web.Response:
        if (request.content_length or 0) > self.settings.max_body_bytes:
            return _error(413, f"the body is larger than {self.settings.max_body_bytes} bytes")
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not JSON")
        except RecursionError:  # nesting deeper than the parser goes: no request of ours
            return _error(400, "the body is JSON nested too deeply")
        problem = _invalid(body)
        if problem is not None:
            return _error(400, problem)
        submitted = Request(text=body["text"], customer_id=body.get("customer_id"),
                            channel=body.get("channel") or "api")
        try:
            rid, created = await self.intake.submit(
                submitted, key=request.headers.get("Idempotency-Key") or None,
                conversation_id=body.get("conversation_id"),
                external_id=body.get("external_id"))
        except IdempotencyKeyReused as exc:
            return _error(422, str(exc))
        wait = self._wait_for(request)
        headers = {"Location": f"/v1/requests/{rid}"}
        if wait is not None:
            await self.intake.wait(rid, wait)
            headers["Preference-Applied"] = f"wait={wait:g}"
        outcome = self.intake.outcome(rid)
        if created and outcome is not None and outcome.status is Status.REJECTED:
            view = self.intake.view_of_outcome(outcome, None)
            if self.intake.rate_limited(outcome):
                headers["Retry-After"] = str(self.intake.retry_after_s())
                return web.json_response(view, status=429, headers=headers)
            return web.json_response(view, status=422, headers=headers)
        current = self.intake.view(rid)
        if current is None:  # only a request a rejection of rate freed can vanish: retry
            headers["Retry-After"] = str(self.intake.retry_after_s())
            return _error(429, "rate limited", headers=headers)
        if not created:
            headers["Idempotent-Replayed"] = "true"
            return web.json_response(current, status=200, headers=headers)
        return web.json_response(current, status=202 if current["status"] == "accepted" else 200,
                                 headers=headers)

    async def _get(self, request: web.Request) -> web.Response:
        rid = request.match_info["id"]
        wait = self._wait_for(request)
        headers = {}
        if wait is not None:
            await self.intake.wait(rid, wait)
            headers["Preference-Applied"] = f"wait={wait:g}"
        view = self.intake.view(rid)
        if view is None:
            return _error(404, f"no request {rid}")
        return web.json_response(view, headers=headers)


def _invalid(body: object) -> str | None:
    """What is wrong with a POST body's shape (the guard judges the text itself)."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    if not isinstance(body.get("text"), str):
        return "'text' is required, a string"
    extra = set(body) - {"text", "customer_id", "channel", "conversation_id", "external_id"}
    if extra:
        return f"unknown fields: {', '.join(sorted(extra))}"
    customer = body.get("customer_id")
    if customer is not None and (type(customer) is not int):
        return "'customer_id' must be an integer"
    if customer is not None and not -(2**63) <= customer < 2**63:  # what the disk stores
        return "'customer_id' is out of range (a signed 64-bit integer)"
    for name in ("channel", "conversation_id", "external_id"):
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            return f"'{name}' must be a string"
    if body.get("channel") in OWN_ROUTE_CHANNELS:
        return (f"channel {body['channel']!r} takes its requests on its own route, not "
                "through /v1/requests")
    return None


async def serve_forever(server: IntakeServer, stop: asyncio.Event) -> None:
    """Starts `server`, serves until `stop` is set, then closes it gracefully."""
    await server.start()
    try:
        await stop.wait()
    finally:
        await server.close()
