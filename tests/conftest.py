"""Shared fixtures: a demo shop generated once, a fresh engine database per test,
a keyring backend chosen by the tests (never the developer's own keyring), and a
real PostgreSQL server per session with a fresh database per test."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest

from agentcore.demo_shop.shopgen import generate_shop
from agentcore.settings import Settings
from tests.keyring_backend import FileKeyring
from tests.postgres_server import REQUIRE, NoServer, Server, running_server

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shop_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop.sqlite"
    generate_shop(path)
    return path


@pytest.fixture(autouse=True)
def test_keyring(tmp_path: Path):
    """A file keyring in the test's folder, so no test touches the OS keyring."""
    backend = FileKeyring(tmp_path / "keyring.json")
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def settings(tmp_path: Path, shop_template: Path) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(shop_template, data / "shop.sqlite")
    return Settings(data_dir=data)


@pytest.fixture(scope="session")
def recorded_corpus(tmp_path_factory: pytest.TempPathFactory, shop_template: Path) -> Any:
    """The sample corpus answered by a real engine: recorded traffic to tune rules on,
    recorded once per session, and again when the local day changed since (what the
    console counts as "hits today" must be today's)."""
    from tests.recorded import RecordedCorpus

    def settings_in(data: Path) -> Settings:
        shutil.copy(shop_template, data / "shop.sqlite")
        settings = Settings(data_dir=data)
        settings.guard.rate_per_minute = 1_000_000  # every corpus request answered, none throttled
        settings.guard.anonymous_rate_per_minute = 1_000_000
        return settings

    return RecordedCorpus(lambda: settings_in(tmp_path_factory.mktemp("recorded")))


@pytest.fixture
def recorded_template(recorded_corpus: Any) -> Path:
    """The recorded corpus's database (recorded today)."""
    return recorded_corpus.today()  # type: ignore[no-any-return]


@pytest.fixture
def recorded(settings: Settings, recorded_template: Path) -> Settings:
    """`settings` whose engine database already holds the recorded corpus."""
    from tests.recorded import install_recorded

    install_recorded(recorded_template, settings)
    return settings


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Server]:
    """A PostgreSQL server of the test session's own (tests/postgres_server.py)."""
    try:
        with running_server() as server:
            yield server
    except NoServer as exc:
        if os.environ.get(REQUIRE) == "1":  # CI: a missing server is a failure, not a skip
            pytest.fail(f"{REQUIRE}=1 but {exc}")
        pytest.skip(str(exc))


_databases = itertools.count(1)


@pytest.fixture
def pg_url(postgres_server: Server) -> str:
    """A fresh, empty database on the session's server (its URL, without the password:
    that goes separately, as the keyring gives it). CREATE DATABASE copies template1
    in milliseconds, far cheaper than a server per test."""
    import psycopg

    name = f"test_{os.getpid()}_{next(_databases)}"
    with psycopg.connect(postgres_server.url(with_password=True), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.url(name)


@pytest.fixture
def pg_settings(settings: Settings, pg_url: str, postgres_server: Server) -> Settings:
    """`settings` on a fresh PostgreSQL database, its password in the test's keyring as
    an operator stores it (`keyring set agent-console database-password`)."""
    from agentcore.credentials import KeyringCredentials

    KeyringCredentials().set(settings.database_password_name, postgres_server.password)
    settings.database_url = pg_url
    return settings


@pytest.fixture
def own_server(postgres_server: Server) -> Iterator[Server]:
    """A PostgreSQL server of the test's own, with an empty database `agent`: for a test
    that stops and starts it (the session's server proves the binaries exist, or skips)."""
    import psycopg

    with running_server() as server:
        with psycopg.connect(server.url(with_password=True), autocommit=True) as conn:
            conn.execute("CREATE DATABASE agent")
        yield server
