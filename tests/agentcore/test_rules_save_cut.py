"""A rule set saved to PostgreSQL as the link to it breaks: the server committed, the
reply never came. The save is known for what it was (the engine runs the set it
stored, and the next change is taken); a save that never reached the server still
fails, saying so. The link is a real TCP proxy on loopback that drops a connection
in place of passing on the server's reply to COMMIT."""

from __future__ import annotations

import asyncio
import dataclasses
import threading

import pytest

from agentcore import Engine, Request, Route
from agentcore.database import open_storage
from agentcore.errors import StorageError
from agentcore.router import Rule
from agentcore.rulebook import RuleBook
from agentcore.settings import Settings

ZEBRA = Rule.from_dict({
    "id": "zebra", "name": "Zebra", "pattern": "^zebra crossing$", "intent": "contact",
    "handler": "static", "template": "Zebras cross here.", "priority": 90,
    "enabled": True, "cache": "never"})


class CutOnCommit:
    """A proxy to `target_port` that, while `armed`, cuts the connection whose server
    says COMMIT (its CommandComplete) instead of passing that on: once per arming."""

    def __init__(self, target_port: int) -> None:
        self.armed = False
        self.cuts = 0
        self._target = target_port
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait(5)
        self.port = self._server.sockets[0].getsockname()[1]

    def _run(self, started: threading.Event) -> None:
        async def start() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            started.set()
        self._loop.run_until_complete(start())
        self._loop.run_forever()

    async def _handle(self, client_r: asyncio.StreamReader,
                      client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", self._target)

        async def upstream() -> None:
            while data := await client_r.read(65536):
                server_w.write(data)
            server_w.close()

        async def downstream() -> None:
            # The server's side in whole messages: a type byte, then a length that
            # counts itself (no SSL or GSS answer first: the URL turns both off).
            buffer = b""
            while data := await server_r.read(65536):
                buffer += data
                passed = 0
                while len(buffer) - passed >= 5:
                    size = 1 + int.from_bytes(buffer[passed + 1:passed + 5], "big")
                    if len(buffer) - passed < size:
                        break
                    message = buffer[passed:passed + size]
                    if self.armed and message[:1] == b"C" and message[5:11] == b"COMMIT":
                        self.armed = False
                        self.cuts += 1
                        client_w.write(buffer[:passed])
                        client_w.transport.abort()
                        server_w.close()
                        return
                    passed += size
                client_w.write(buffer[:passed])
                buffer = buffer[passed:]
            client_w.close()

        try:
            await asyncio.gather(upstream(), downstream(), return_exceptions=True)
        finally:
            for writer in (client_w, server_w):
                writer.transport.abort()

    def close(self) -> None:
        async def shut() -> None:
            self._server.close()
            piping = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in piping:
                task.cancel()
            await asyncio.gather(*piping, return_exceptions=True)
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture
def cut_link(pg_settings: Settings):
    url = pg_settings.database_url
    assert url is not None
    port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
    link = CutOnCommit(port)
    pg_settings.database_url = (url.replace(f":{port}/", f":{link.port}/")
                                + "?sslmode=disable&gssencmode=disable")
    try:
        yield link
    finally:
        link.close()


async def test_a_save_whose_reply_the_link_lost_is_taken_for_what_the_server_kept(
        pg_settings: Settings, cut_link: CutOnCommit) -> None:
    engine = Engine(pg_settings)
    try:
        book = RuleBook(engine)
        cut_link.armed = True
        version = book.apply([*engine.router.rules, ZEBRA], author="ann")
        assert cut_link.cuts == 1  # the reply to its commit never came
        assert version.summary == "added zebra" and version.author == "ann"
        other = open_storage(pg_settings)
        try:
            assert other.rules.latest_version_id() == engine.rules_version == version.id
        finally:
            other.close()
        routed = await engine.submit(Request(text="zebra crossing"))
        assert routed.route is Route.RULE and routed.answer == "Zebras cross here."
        # Its next change is made on the version it runs: taken, not refused.
        quagga = dataclasses.replace(ZEBRA, id="quagga", pattern="^quagga$")
        assert book.apply([*engine.router.rules, quagga], author="ann").id > version.id
    finally:
        await engine.close()


async def test_a_save_the_server_never_got_fails_and_nothing_changes(
        pg_settings: Settings, cut_link: CutOnCommit) -> None:
    engine = Engine(pg_settings)
    try:
        book = RuleBook(engine)
        before = engine.rules_version
        live = engine.router
        engine.store.close()  # the pool gone: the save reaches no server
        with pytest.raises(StorageError):
            book.apply([*engine.router.rules, ZEBRA], author="ann")
        assert engine.router is live and engine.rules_version == before
        assert cut_link.cuts == 0
    finally:
        await engine.close()
