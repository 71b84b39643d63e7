"""An attached station's way of answering: through a service's intake.

An operator station on the team's database (`Engine(settings, attach_to=URL)`)
answers nothing itself: `agentcore serve` instances do, behind their intake. Its
compose box sends with `POST /v1/requests` (the station's bearer token from the
keyring entry `settings.intake.token_entry`, the request's id as its
Idempotency-Key, so a send repeated after a lost reply is one request), and its
hand-backs with `POST /v1/requests/{id}/rerun` (the note is already in the
database, with the request). The outcome is read back from the shared store once
the request is finished: told by the store follower's "finished" notification, or,
since a notification can be lost, by asking the intake every `POLL_S`; bounded by
`timeout_s`. A service that can't be reached, refuses the token or never finishes
raises `IntakeUnreachable` in one sentence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx2

from agentcore.errors import IntakeUnreachable, StorageError
from agentcore.models import Outcome, Request, Route, Status
from agentcore.store_follower import stored_outcome

if TYPE_CHECKING:
    from agentcore.storage import Storage

log = logging.getLogger("agentcore.attached")

POLL_S = 1.0  # how often a request not yet heard finished is asked after
TIMEOUT_S = 120.0  # longer than any bounded answer (the loop's deadline, tool timeouts)
_SETTLED = ("answered", "escalated", "rejected")

Secret = Callable[[str], str | None]
Subscribe = Callable[[Callable[[tuple[str, ...]], None]], Callable[[], None]]


class AttachedIntake:
    """Sends an attached station's requests to the intake at `base_url` and waits for
    their outcomes in `store`. `on_finished` subscribes to the ids other processes
    finished (the store follower's); `secret(entry)` reads the keyring."""

    def __init__(self, base_url: str, store: Storage, *, token_entry: str, secret: Secret,
                 on_finished: Subscribe | None = None, timeout_s: float = TIMEOUT_S,
                 poll_s: float = POLL_S) -> None:
        self.base_url = base_url.rstrip("/")
        self._store = store
        self._token_entry = token_entry
        self._secret = secret
        self._on_finished = on_finished
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._http: httpx2.AsyncClient | None = None
        self._waiting: dict[str, asyncio.Event] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def follow(self, on_finished: Subscribe) -> None:
        """Takes the store follower's "finished" ids (once it runs)."""
        if self._unsubscribe is None:
            self._unsubscribe = on_finished(self._finished)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def submit(self, request: Request) -> Outcome:
        """The outcome of `request` answered by a service (its id there is the intake's,
        `outcome.request.id`)."""
        body: dict[str, Any] = {"text": request.text, "channel": request.channel}
        if request.customer_id is not None:
            body["customer_id"] = request.customer_id
        reply = await self._call("POST", "/v1/requests", json=body,
                                 headers={"Idempotency-Key": request.id})
        view = self._view(reply)
        if view.get("status") == "rejected" and reply.status_code in (422, 429):
            return await self._settled(view["id"]) or _rejected(request, view)
        return await self._finish(view["id"])

    async def rerun(self, request: Request) -> Outcome:
        """A hand-back: the service re-runs `request` (on disk, accepted again with its
        note) under the same id; its new outcome."""
        try:
            view = self._view(await self._call("POST", f"/v1/requests/{request.id}/rerun"))
        except IntakeUnreachable as exc:
            if not _not_taken(exc):  # it may be running there: never a second run
                raise
            # The hand-back is on disk, accepted again and this station's: no service's
            # sweep takes what a live instance holds, and a station runs nothing itself.
            # Left to nobody, the next sweep (every few seconds) takes it.
            try:
                left = await asyncio.to_thread(self._store.requests.disown, request.id)
                then = ("a service takes it up as soon as one runs" if left
                        else "a service has taken it up")
            except StorageError as lost:
                log.warning("leaving hand-back %s to the services failed: %s", request.id,
                            lost)
                then = "a service takes it up once this station is closed"
            raise IntakeUnreachable(f"{exc}; the hand-back is kept and {then}") from None
        return await self._finish(view["id"])

    # -- waiting ---------------------------------------------------------------

    def _finished(self, ids: tuple[str, ...]) -> None:
        for rid in ids:
            heard = self._waiting.get(rid)
            if heard is not None:
                heard.set()

    async def _finish(self, rid: str) -> Outcome:
        heard = self._waiting.setdefault(rid, asyncio.Event())
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._timeout_s
        try:
            while True:
                outcome = await self._settled(rid)
                if outcome is not None:
                    return outcome
                left = give_up - loop.time()
                if left <= 0:
                    raise IntakeUnreachable(
                        f"the service at {self.base_url} did not finish request {rid} "
                        f"within {self._timeout_s:g} s: it stays accepted there, and shows "
                        "in the feed once answered")
                try:
                    await asyncio.wait_for(heard.wait(), min(self._poll_s, left))
                except TimeoutError:
                    # No word: a lost notification must not hang the sender. Asking the
                    # intake also tells a service that went away from a slow one.
                    view = self._view(await self._call("GET", f"/v1/requests/{rid}"))
                    if view.get("status") not in _SETTLED:
                        continue
                heard.clear()
        finally:
            self._waiting.pop(rid, None)

    async def _settled(self, rid: str) -> Outcome | None:
        """The request's outcome once it is finished (a handed-back one keeps its old
        outcome while it is accepted again, running)."""
        return await asyncio.to_thread(_finished_outcome, self._store, rid)

    # -- HTTP --------------------------------------------------------------------

    def _client(self) -> httpx2.AsyncClient:
        if self._http is None:
            # A pasted newline is not part of the token (as the intake reads it).
            token = (self._secret(self._token_entry) or "").strip()
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            self._http = httpx2.AsyncClient(base_url=self.base_url, headers=headers,
                                            timeout=httpx2.Timeout(30.0, connect=5.0))
        return self._http

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        try:
            reply = await self._client().request(method, path, **kwargs)
        except httpx2.HTTPError as exc:
            raise IntakeUnreachable(
                f"no service answers at {self.base_url} ({type(exc).__name__}): is "
                "`agentcore serve` running there, and is the station's attach URL its "
                "intake's?") from None
        if reply.status_code == 401:
            raise IntakeUnreachable(
                f"the service at {self.base_url} refuses this station's token: store the "
                f"intake's bearer token in the keyring entry {self._token_entry!r}",
                status=401)
        return reply

    def _view(self, reply: httpx2.Response) -> dict[str, Any]:
        try:
            view = reply.json()
        except ValueError:
            view = None
        if reply.status_code in (200, 202) and isinstance(view, dict) and "id" in view:
            return view
        if reply.status_code in (422, 429) and isinstance(view, dict) and "id" in view:
            return view  # turned away by the guard: an outcome, not a fault
        error = view.get("error") if isinstance(view, dict) else None
        if reply.status_code == 503:  # its database is away: nothing was taken
            why = error or "not ready"
            raise IntakeUnreachable(
                f"the service at {self.base_url} cannot take requests now ({why}): nothing "
                "was sent, try again once it is back", status=503)
        raise IntakeUnreachable(
            f"the service at {self.base_url} refused the request (HTTP "
            f"{reply.status_code}: {error or reply.reason_phrase})", status=reply.status_code)


def _rejected(request: Request, view: dict[str, Any]) -> Outcome:
    """A rejection the intake did not keep (rate limited: the retry may be taken)."""
    sent = Request(text=request.text, customer_id=request.customer_id,
                   channel=request.channel, id=str(view["id"]),
                   received_at=float(view.get("received_at") or 0.0))
    return Outcome(sent, Route.GUARD, Status.REJECTED, answer=str(view.get("answer") or ""),
                   errors=[f"rejected: {view.get('reason') or 'refused'}"])


def _not_taken(exc: IntakeUnreachable) -> bool:
    """Whether the call surely never reached a service's engine: no connection made,
    the token refused, or the service saying it takes nothing now (503). A timeout or
    a broken reply may come after the service took the request up."""
    cause = exc.__context__
    if isinstance(cause, httpx2.ConnectError | httpx2.ConnectTimeout):
        return True
    return cause is None and exc.status in (401, 503)


def _finished_outcome(store: Storage, rid: str) -> Outcome | None:
    if store.requests.status(rid) in (None, "accepted"):
        return None
    return stored_outcome(store, rid)
