"""`agentcore migrate [--database URL]`: creates or upgrades either backend, says which
version it left; a PostgreSQL password comes from the keyring."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest

from agentcore import cli
from agentcore.credentials import KeyringCredentials
from agentcore.errors import SettingsError
from agentcore.settings import Settings
from agentcore.storage import SCHEMA_VERSION
from agentcore.storage._pg_schema import SCHEMA_VERSION as PG_SCHEMA_VERSION


def test_migrate_creates_the_sqlite_file_then_finds_it_up_to_date(tmp_path, capsys):
    data = tmp_path / "data"
    assert cli.main(["--data-dir", str(data), "migrate"]) == 0
    assert capsys.readouterr().out == (f"SQLite database {data / 'agent.sqlite'}: schema "
                                       f"version {SCHEMA_VERSION} (created)\n")
    with sqlite3.connect(data / "agent.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()
    assert cli.main(["--data-dir", str(data), "migrate"]) == 0
    assert capsys.readouterr().out.endswith(f"version {SCHEMA_VERSION} (up to date)\n")


def test_migrate_creates_the_postgresql_schema_with_the_keyrings_password(
        pg_url, postgres_server, capsys):
    KeyringCredentials().set("database-password", postgres_server.password)
    assert cli.main(["migrate", "--database", pg_url]) == 0
    database = pg_url.rsplit("/", 1)[1]
    assert capsys.readouterr().out == (
        f"PostgreSQL database {database!r} at 127.0.0.1:{postgres_server.port}: schema "
        f"version {PG_SCHEMA_VERSION} (created)\n")
    with psycopg.connect(pg_url, password=postgres_server.password) as conn:
        assert conn.execute("SELECT count(*) FROM escalations").fetchone() == (0,)
    assert cli.main(["migrate", "--database", pg_url]) == 0
    assert "(up to date)" in capsys.readouterr().out


def test_migrate_with_a_refused_password_says_so_in_one_line(pg_url, postgres_server,
                                                             capsys):
    KeyringCredentials().set("database-password", "stale-password-9876")
    assert cli.main(["migrate", "--database", pg_url]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert f"127.0.0.1:{postgres_server.port} refused the password" in captured.err
    assert "stale-password-9876" not in captured.err


def test_migrate_refuses_a_password_in_the_url(capsys):
    assert cli.main(["migrate", "--database", "postgresql://agent:pw-in-url@db/agent"]) == 2
    err = capsys.readouterr().err
    assert "keyring" in err and "pw-in-url" not in err


def test_the_settings_file_keeps_the_url_and_refuses_a_password_in_it(tmp_path):
    path = tmp_path / "settings.json"
    Settings(database_url="postgresql://agent@db.example.org/agent").save(path)
    assert Settings.load(path).database_url == "postgresql://agent@db.example.org/agent"
    path.write_text('{"database_url": "postgresql://agent:hunter2-pw@db/agent"}')
    with pytest.raises(SettingsError) as exc:
        Settings.load(path)
    assert "keyring" in str(exc.value) and "hunter2-pw" not in str(exc.value)
