"""The engine on a team's PostgreSQL database: opened from `database_url` with the
keyring's password, every table there and none in a file; a server it cannot reach,
or a refused password, stops the start in one sentence."""

from __future__ import annotations

import psycopg
import pytest

from agentcore import cli
from agentcore.credentials import KeyringCredentials
from agentcore.engine import Engine
from agentcore.errors import DatabaseUnreachable
from agentcore.models import Request, Status


async def test_an_engine_on_postgresql_answers_and_keeps_it_all_on_the_server(
        pg_settings, postgres_server):
    engine = Engine(pg_settings)
    try:
        assert engine.store.health() == []
        oid, cid = engine.domain.shop.conn.execute(
            "SELECT id, customer_id FROM orders ORDER BY id LIMIT 1").fetchone()
        text = f"where is my order {oid}?"
        outcome = await engine.submit(Request(id="pg-1", text=text, customer_id=cid))
        engine.store.flush()
    finally:
        await engine.close()
    assert outcome.status is Status.ANSWERED and str(oid) in outcome.answer
    assert not (pg_settings.data_dir / "agent.sqlite").exists()  # nothing in a file
    with psycopg.connect(pg_settings.database_url, password=postgres_server.password) as conn:
        row = conn.execute("SELECT r.text, o.status FROM requests r JOIN outcomes o "
                           "ON o.request_id = r.id WHERE r.id = 'pg-1'").fetchone()
    assert row == (text, outcome.status.value)
    # A second engine on the same database finds what the first one did.
    again = Engine(pg_settings)
    try:
        assert again.store.requests.outcome("pg-1").status is outcome.status
        assert len(again.router) == len(engine.router)  # the rule set saved by the first
    finally:
        await again.close()


async def test_a_refused_password_stops_the_engine_in_one_sentence(pg_settings):
    KeyringCredentials().set(pg_settings.database_password_name, "stale-pw-4242")
    with pytest.raises(DatabaseUnreachable) as exc:
        Engine(pg_settings)
    assert "refused the password" in str(exc.value)
    assert "stale-pw-4242" not in str(exc.value)
    assert not (pg_settings.data_dir / "agent.sqlite").exists()


def test_ask_with_database_flag_on_a_dead_port_says_nobody_answers(settings, capsys):
    code = cli.main(["--data-dir", str(settings.data_dir), "--database",
                     "postgresql://agent@127.0.0.1:9/agent", "ask", "hello"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "no PostgreSQL server answers at 127.0.0.1:9" in err


async def test_health_says_when_the_store_is_closed(pg_settings):
    engine = Engine(pg_settings)
    await engine.close()
    assert engine.store.health()[0] == "the engine database is closed"


async def test_export_and_audit_read_the_team_database(pg_settings, capsys):
    engine = Engine(pg_settings)
    try:
        await engine.submit(Request(id="pg-export-1", text="hello there", customer_id=None))
        engine.store.flush()
    finally:
        await engine.close()
    flags = ["--data-dir", str(pg_settings.data_dir), "--database", pg_settings.database_url]
    assert await _main([*flags, "export", "feed", "--format", "jsonl"]) == 0
    out = capsys.readouterr().out
    assert '"pg-export-1"' in out
    assert not (pg_settings.data_dir / "agent.sqlite").exists()
    assert await _main([*flags, "audit"]) == 0


async def _main(argv):
    import asyncio

    return await asyncio.to_thread(cli.main, argv)  # its own asyncio.run


async def test_a_text_with_nul_is_rejected_as_binary_and_recorded_on_postgresql(pg_settings):
    # PostgreSQL's text cannot hold NUL: the record must still be written, or the intake
    # would answer 503 "retry later" to a request no retry could ever get in.
    engine = Engine(pg_settings)
    try:
        outcome = await engine.submit(Request(id="nul-1", text="refund\x00\x00 me"))
        engine.store.flush()
        stored = engine.store.requests.request("nul-1")
        assert outcome.status is Status.REJECTED and "binary" in outcome.answer
        assert engine.store.requests.outcome("nul-1").status is Status.REJECTED
        assert stored is not None and stored.text == "refund\ufffd\ufffd me"
    finally:
        await engine.close()
