"""A webhook receiver on a loopback port: verifies each delivery's signature, records
its id, and refuses the first `fail_first` deliveries with `fail_status` (a flaky
receiver with 503, one that will never take them with a 4xx)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from agentcore.intake.webhook import DELIVERY_HEADER, SIGNATURE_HEADER, verify


class Receiver:
    def __init__(self, secret: str, *, fail_first: int = 0, fail_status: int = 503) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.attempts = 0
        self.bad_signatures = 0
        self.deliveries: list[tuple[str, dict[str, Any]]] = []  # (delivery id, body)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.attempts += 1
        if not verify(self.secret, request.headers.get(SIGNATURE_HEADER, ""), body):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.attempts <= self.fail_first:
            return web.Response(status=self.fail_status)
        self.deliveries.append((request.headers[DELIVERY_HEADER], json.loads(body)))
        return web.Response(status=204)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
