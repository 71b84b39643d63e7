"""The real-model tier: llama.cpp's server (llama-cpp-python) on a loopback port with
SmolLM2-135M from its PyPI wheel. `make test-real` runs it; `make test` leaves it out.

The server's environment, `.venv-real`, is built on first use (bench/llama_server.py:
6-11 minutes on 2 cores, for any x86-64 CPU); a build that fails fails the tests
with pip's output, it never skips them. A failing test shows the server's log.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import llama_server


@pytest.fixture(scope="session")
def llama_python() -> Path:
    try:
        return llama_server.ensure_runtime()
    except llama_server.BuildFailed as exc:
        pytest.fail(str(exc), pytrace=False)


_servers: list[llama_server.Server] = []


@pytest.fixture(scope="session")
def llama(llama_python: Path, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[llama_server.Server]:
    """SmolLM2 served with `--chat_format chatml-function-calling`, for the session."""
    model = llama_server.model(llama_python, "smollm2")
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with llama_server.llama_server(llama_python, model, log) as server:
        _servers.append(server)
        yield server
        _servers.remove(server)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.failed and _servers:
        report.sections.append(("llama.cpp server log (tail)", _servers[-1].log_text(8000)))
    return report
