"""The programs as separate processes, for tests that run them as a user would: the
mock LLM on a loopback port, and the console started far enough to show a fatal
start-up error (its message box printed instead of shown)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def mock_llm_process(*flags: str) -> Iterator[str]:
    """`python -m agentcore.mock_llm --port 0 FLAGS...`; yields its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "agentcore.mock_llm", "--port", "0", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read()
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def console_start(args: list[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """The console's `main` run with `args`, its fatal message box printed as
    `shown: <text>`, offscreen."""
    return subprocess.run(
        [sys.executable, "-c",
         "import sys; from PySide6.QtWidgets import QMessageBox;"
         "QMessageBox.critical = staticmethod(lambda *a: print('shown:', a[2]));"
         "from console.app import main; sys.exit(main(sys.argv[1:]))", *args],
        capture_output=True, text=True, cwd=REPO, env={**env, "QT_QPA_PLATFORM": "offscreen"},
        timeout=60)


async def serve_process(settings_path: Path, keyring_file: Path, *args: str,
                        latency_ms: float = 40) -> tuple[subprocess.Popen[str], str]:
    """`agentcore serve --port 0 ARGS...` as its own process (the mock LLM at
    `latency_ms`, the tests' file keyring), for a test that kills it: the process and
    the intake's base URL."""
    from tests.keyring_backend import BACKEND_NAME, FILE_VARIABLE

    env = {**os.environ, "PYTHON_KEYRING_BACKEND": BACKEND_NAME, FILE_VARIABLE: str(keyring_file),
           "PYTHONPATH": str(REPO)}
    proc = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "agentcore", "--settings", str(settings_path),
         "--mock-latency-ms", str(latency_ms), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO, env=env)
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    assert line.startswith("intake listening on http://127.0.0.1:"), line
    return proc, line.split()[3]
