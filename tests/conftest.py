"""Shared fixtures: a demo shop generated once, a fresh engine database per test,
and a keyring backend chosen by the tests (never the developer's own keyring)."""

from __future__ import annotations

import shutil
from pathlib import Path

import keyring
import pytest

from agentcore.demo_shop.shopgen import generate_shop
from agentcore.settings import Settings
from tests.keyring_backend import FileKeyring

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
def recorded_template(tmp_path_factory: pytest.TempPathFactory, shop_template: Path) -> Path:
    """The sample corpus answered once by a real engine: recorded traffic to tune rules on."""
    from tests.recorded import record_corpus

    data = tmp_path_factory.mktemp("recorded")
    shutil.copy(shop_template, data / "shop.sqlite")
    settings = Settings(data_dir=data)
    settings.guard.rate_per_minute = 1_000_000  # every corpus request is answered, none throttled
    settings.guard.anonymous_rate_per_minute = 1_000_000
    return record_corpus(settings)


@pytest.fixture
def recorded(settings: Settings, recorded_template: Path) -> Settings:
    """`settings` whose engine database already holds the recorded corpus."""
    from tests.recorded import install_recorded

    install_recorded(recorded_template, settings)
    return settings
