"""A team on one PostgreSQL database: two `agentcore serve` instances (their own
processes) and three attached stations (each an attached Engine with a recorder on
its bus: the console's controllers without Qt). What one station does, the others
see; a rule applied at one routes both services; the live link cut is said and
resynced; a cache entry of one process goes when another invalidates it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest

from agentcore.credentials import KeyringCredentials
from agentcore.engine import Engine
from agentcore.errors import IntakeUnreachable, QueueError
from agentcore.escalation_model import EscalationState
from agentcore.events import (
    DatabaseLink,
    EscalationChanged,
    Event,
    RequestAccepted,
    RequestAnswered,
    RequestEscalated,
    RulesChanged,
)
from agentcore.models import Request, Route, Status
from agentcore.router import Rule
from agentcore.rulebook import RuleBook
from agentcore.settings import Settings
from tests.postgres_server import Server
from tests.processes import serve_process

TOKEN = "team-intake-token"
HOURS = "what are your opening hours?"
HUMAN = "I want to talk to a human please"


async def until(check: Callable[[], object], *, what: str, timeout_s: float = 30.0) -> Any:
    """Polls `check` until it is truthy (its value), bounded: never a wall-clock assert."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if loop.time() > give_up:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


@dataclass
class Station:
    engine: Engine
    events: list[Event] = field(default_factory=list)

    def finished(self, rid: str) -> Event | None:
        return next((e for e in self.events if isinstance(e, (RequestAnswered,
                     RequestEscalated)) and e.outcome.request.id == rid), None)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@dataclass
class Team:
    settings: Settings
    services: list[str]  # the intakes' base URLs
    stations: list[Station]
    database: str
    server: Server


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


@pytest.fixture
async def team(pg_settings: Settings, postgres_server: Server, tmp_path: Path,
               ) -> AsyncIterator[Team]:
    settings = pg_settings
    settings.guard.rate_per_minute = 100_000
    settings.guard.anonymous_rate_per_minute = 100_000
    settings.intake.client_rate_per_minute = 100_000
    KeyringCredentials().set(settings.intake.token_entry, TOKEN)  # the stations' and services'
    path = tmp_path / "settings.json"
    settings.save(path)
    procs: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    stations: list[Station] = []
    try:
        for _ in range(2):  # one after the other: the first migrates and seeds the rules
            proc, url = await serve_process(path, tmp_path / "keyring.json")
            procs.append(proc)
            urls.append(url)
        for i in range(3):
            engine = Engine(settings, attach_to=urls[i % 2])
            station = Station(engine)
            engine.subscribe(station.events.append)
            await engine.start()
            stations.append(station)
        yield Team(settings, urls, stations, settings.database_url.rsplit("/", 1)[1],
                   postgres_server)
    finally:
        for station in stations:
            await station.engine.close()
        for proc in procs:
            await asyncio.to_thread(_stop, proc)


async def post(base: str, text: str, customer_id: int | None = None) -> dict[str, Any]:
    """A request sent straight to one service's intake, its outcome waited for."""
    body: dict[str, Any] = {"text": text}
    if customer_id is not None:
        body["customer_id"] = customer_id
    async with httpx2.AsyncClient(base_url=base, timeout=30,
                                  headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        reply = await http.post("/v1/requests", json=body, headers={"Prefer": "wait=20"})
        assert reply.status_code in (200, 202), reply.text
        view: dict[str, Any] = reply.json()
        return view


async def test_a_request_sent_at_one_station_is_answered_by_a_service_and_seen_at_all(team):
    one, two, three = team.stations
    outcome = await one.engine.submit(Request(text=HOURS, channel="chat"))
    assert outcome.status is Status.ANSWERED
    assert outcome.route is Route.RULE and outcome.rule_id == "contact-hours"
    assert outcome.answer.startswith("Our team answers Monday to Friday")
    assert any(s.name == "route" for s in outcome.spans)  # the service's trace, read back
    rid = outcome.request.id
    for station in (one, two, three):
        seen = await until(lambda s=station: s.finished(rid), what=f"{rid} finished")
        assert isinstance(seen, RequestAnswered)
        assert seen.outcome.answer == outcome.answer and seen.outcome.request.text == HOURS
        assert any(e.request.id == rid for e in station.of(RequestAccepted))


async def test_a_claim_at_one_station_is_seen_at_the_others_and_a_second_claim_loses(team):
    one, two, three = team.stations
    outcome = await one.engine.submit(Request(text=HUMAN, customer_id=7))
    assert outcome.status is Status.ESCALATED, outcome
    item_id = one.engine.escalations.of_request(outcome.request.id)
    assert item_id is not None
    await two.engine.escalations.claim(item_id, "ann", 600)
    for station in (one, three):
        await until(lambda s=station: any(e.escalation_id == item_id
                                          for e in s.of(EscalationChanged)),
                    what="the claim told")
        item = await station.engine.escalations.get(item_id)
        assert item.state is EscalationState.CLAIMED and item.claimed_by == "ann"
    with pytest.raises(QueueError, match="ann"):
        await three.engine.escalations.claim(item_id, "bob", 600)
    assert (await one.engine.escalations.get(item_id)).claimed_by == "ann"


async def test_a_hand_back_at_a_station_is_rerun_by_a_service(team):
    one, two, _ = team.stations
    outcome = await one.engine.submit(Request(text=HUMAN, customer_id=8))
    item_id = one.engine.escalations.of_request(outcome.request.id)
    assert item_id is not None
    await two.engine.escalations.claim(item_id, "ann", 600)
    again = await two.engine.escalations.hand_back(item_id, "ann",
                                                   "tell them our opening hours")
    assert again.request.id == outcome.request.id
    assert again.request.note == "tell them our opening hours"  # the service's re-run's
    item = await one.engine.escalations.get(item_id)
    assert item.state in (EscalationState.RESOLVED, EscalationState.OPEN)


async def test_a_hand_back_whose_service_cannot_be_reached_is_taken_up_by_a_service(team):
    """The station's re-run call fails (its service is away): the hand-back stays on
    disk, and a service's sweep answers it while the station lives on."""
    import socket

    one, _, _ = team.stations
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    cut_off = Engine(team.settings, attach_to=dead)
    await cut_off.start()
    try:
        outcome = await one.engine.submit(Request(text=HUMAN, customer_id=9))
        rid = outcome.request.id
        item_id = one.engine.escalations.of_request(rid)
        await cut_off.escalations.claim(item_id, "ann", 600)
        with pytest.raises(IntakeUnreachable, match="a service takes it up"):
            await cut_off.escalations.hand_back(item_id, "ann", "tell them our opening hours")
        assert cut_off.store.requests.status(rid) == "accepted"
        await until(lambda: cut_off.store.requests.status(rid) != "accepted",
                    what="a service re-ran the hand-back")
        assert cut_off.store.requests.request(rid).note == "tell them our opening hours"
        item = await one.engine.escalations.get(item_id)
        assert item.state in (EscalationState.RESOLVED, EscalationState.OPEN)
    finally:
        await cut_off.close()


async def test_a_rule_applied_at_one_station_routes_both_services(team):
    one, two, three = team.stations
    book = RuleBook(one.engine)
    zebra = Rule.from_dict({
        "id": "zebra", "name": "Zebra", "pattern": "^{greeting}zebra crossing{signoff}$",
        "intent": "contact", "handler": "static", "template": "Zebras cross here.",
        "priority": 90, "enabled": True, "cache": "never"})
    for base in team.services:  # before: the agent answers it, no rule matches
        assert (await post(base, "zebra crossing"))["route"] != "rule"
    version = book.apply([*one.engine.router.rules, zebra], author="ann")
    for station in (two, three):
        await until(lambda s=station: any(e.version_id == version.id
                                          for e in s.of(RulesChanged)), what="rules told")
        assert any(r.id == "zebra" for r in station.engine.router.rules)
    for base in team.services:
        view = await _routed_by_rule(base, "zebra crossing")
        assert view["answer"] == "Zebras cross here."


async def _routed_by_rule(base: str, text: str, tries: int = 100) -> dict[str, Any]:
    """The first answer by a rule (the service takes up the set as it hears of it)."""
    for _ in range(tries):
        view = await post(base, text)
        if view["route"] == "rule":
            return view
        await asyncio.sleep(0.1)
    raise AssertionError(f"{base} never routed {text!r} by a rule")


def _listeners(team: Team) -> list[int]:
    with psycopg.connect(team.server.url(team.database, with_password=True),
                         autocommit=True) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'agentcore-changes'"
            " AND datname = current_database()").fetchall()]


def _cut(team: Team) -> int:
    with psycopg.connect(team.server.url(team.database, with_password=True),
                         autocommit=True) as conn:
        pids = [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'agentcore-changes'"
            " AND datname = current_database()").fetchall()]
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return len(pids)


async def test_the_live_link_cut_is_said_then_back_and_events_flow_again(team):
    one, two, three = team.stations
    assert len(_listeners(team)) == 5  # two services, three stations
    assert await asyncio.to_thread(_cut, team) == 5
    for station in team.stations:
        lost = await until(lambda s=station: s.of(DatabaseLink), what="the loss told")
        assert lost[0].up is False and "lost the live link" in (lost[0].problem or "")
        await until(lambda s=station: any(e.up for e in s.of(DatabaseLink)),
                    what="the link back")
    await until(lambda: len(_listeners(team)) == 5, what="every listener back")
    outcome = await two.engine.submit(Request(text=HOURS))
    for station in (one, three):
        await until(lambda s=station: s.finished(outcome.request.id),
                    what="an outcome after the link came back")


async def test_a_cache_entry_of_one_process_goes_when_another_invalidates_it(team):
    base = team.services[0]
    text = "where is my order 26102?"
    first = await post(base, text, customer_id=1)
    second = await post(base, text, customer_id=1)
    station = team.stations[0].engine

    async def cache_tier(rid: str) -> str | None:
        # The answer comes before the service's outcome writer commits the spans (a few
        # milliseconds after): this other process reads them once they are there.
        spans = await until(lambda: station.store.requests.spans(rid), what="the spans")
        return next((s.attributes.get("tier") for s in spans if s.name == "cache"), None)

    assert first["route"] == "rule", first
    assert await cache_tier(second["id"]) not in (None, "miss")  # served from the cache
    station.cache.invalidate(["order:26102"])  # what a write to that order tells
    third = await post(base, text, customer_id=1)
    assert await cache_tier(third["id"]) == "miss"
    assert third["answer"] == first["answer"]


async def test_an_intake_that_cannot_be_reached_or_refuses_the_token_is_said(team):
    settings = team.settings.model_copy(deep=True)
    nobody = Engine(settings, attach_to="http://127.0.0.1:9")
    try:
        with pytest.raises(IntakeUnreachable, match=r"no service answers at http://127\.0\.0\.1:9"):
            await nobody.submit(Request(text=HOURS))
    finally:
        await nobody.close()
    KeyringCredentials().set("wrong-token", "not-it")
    settings.intake.token_entry = "wrong-token"
    refused = Engine(settings, attach_to=team.services[0])
    try:
        with pytest.raises(IntakeUnreachable, match="refuses this station's token"):
            await refused.submit(Request(text=HOURS))
    finally:
        await refused.close()


async def test_a_sender_that_hears_no_notification_still_gets_its_outcome(team):
    """Notifications are not durable: without any (no follower), asking the intake
    finishes the wait."""
    from agentcore.attached import AttachedIntake

    deaf = AttachedIntake(team.services[1], team.stations[0].engine.store,
                          token_entry=team.settings.intake.token_entry,
                          secret=KeyringCredentials().get, poll_s=0.2)
    try:
        outcome = await deaf.submit(Request(text=HUMAN, customer_id=9))
    finally:
        await deaf.close()
    assert outcome.status is Status.ESCALATED
    assert outcome.request.text == HUMAN and outcome.request.customer_id == 9
