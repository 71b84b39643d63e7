"""The intake bench's baseline: a bare aiohttp handler doing no work behind the same
route, in a process of its own as the intake is. Reads the body, answers a fixed
202. Prints `listening on URL` and serves until SIGTERM.

`python -m bench.bare_aiohttp`
"""

from __future__ import annotations

import asyncio
import signal

from aiohttp import web

ANSWER = {"id": "bare", "status": "accepted"}


async def _accept(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response(ANSWER, status=202)


async def serve() -> None:
    app = web.Application()
    app.router.add_post("/v1/requests", _accept)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(serve())
