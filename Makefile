# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Two stamps: `make run` installs what the app needs, `make test` the dev extras on
# top. The app never runs with test-only packages it did not ask for (a keyring
# backend from a test dependency once took the operator's API key in plaintext).
APP_STAMP := $(VENV)/.installed-app
DEV_STAMP := $(VENV)/.installed-dev
# The bench's LangChain baseline: only `make bench` installs it (never `make test`).
BENCH_STAMP := $(VENV)/.installed-bench
BENCH_REQUIREMENTS := bench/requirements-langchain.txt

.PHONY: run check-system postgres-server replay test test-real lint bench data clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(APP_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $(APP_STAMP)

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP)

# The demo: the desktop console, with the mock LLM and the corpus replayed as traffic.
# The system libraries the window needs are checked first, with the system's python3
# (stdlib only) before minutes of installing: a missing one is named with the command
# that installs it. Silent when all are there, or off X11 (Wayland, offscreen).
run: check-system $(APP_STAMP)
	$(PY) -m console

check-system:
	@$(PYTHON) console/system_check.py

# The same corpus replayed headless through the engine, with a summary at the end.
replay: $(APP_STAMP)
	$(PY) -m agentcore replay data/requests.jsonl --rate 50 --concurrency 8

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check agentcore console tests bench data examples
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy agentcore console examples/library_loans/library_loans

test: lint postgres-server
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not real"

# The PostgreSQL backend's tests start a server of their own from the machine's
# binaries (tests/postgres_server.py), so the server package is installed when they are
# missing (Debian keeps them off PATH, in /usr/lib/postgresql/<major>/bin). The cluster
# the package starts is not needed: stopped again. Without root or sudo those tests
# skip, saying so (CI sets AGENTCORE_REQUIRE_POSTGRES=1: there they fail instead).
postgres-server:
	@if ! command -v initdb >/dev/null 2>&1 \
	    && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  echo "Installing PostgreSQL's server package (the PostgreSQL tests start their own)"; \
	  if command -v apt-get >/dev/null; then \
	    { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql \
	      && { $$SUDO service postgresql stop >/dev/null 2>&1 || true; }; } \
	      || echo "Could not install postgresql: its tests will skip"; \
	  elif command -v dnf >/dev/null; then \
	    $$SUDO dnf install -y -q postgresql-server \
	      || echo "Could not install postgresql-server: its tests will skip"; \
	  else echo "Install PostgreSQL's server package to run its tests"; fi; \
	fi

# The slow path against a real model: llama.cpp's server with SmolLM2-135M on a loopback
# port. Its own venv, .venv-real, is built on first use (a C/C++ compiler compiles
# llama.cpp for any x86-64 CPU: 6-11 minutes on 2 cores, each time .venv-real is built).
test-real: $(DEV_STAMP)
	$(PY) -m pytest -q -m real tests/real

$(BENCH_STAMP): $(BENCH_REQUIREMENTS) $(DEV_STAMP)
	$(PY) -m pip install --quiet -r $(BENCH_REQUIREMENTS)
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) -m bench

# Regenerates the committed corpus; the shop database is generated on demand.
data: $(APP_STAMP)
	$(PY) data/generate.py

clean:
	rm -rf $(VENV) .venv-real .venv-real-build.log .venv-real.lock .pytest_cache .ruff_cache \
		.mypy_cache
