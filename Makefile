# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run replay test lint bench data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The demo: the desktop console, with the mock LLM and the corpus replayed as traffic.
run: $(STAMP)
	$(PY) -m console

# The same corpus replayed headless through the engine, with a summary at the end.
replay: $(STAMP)
	$(PY) -m agentcore replay data/requests.jsonl --rate 50 --concurrency 8

lint: $(STAMP)
	$(VENV)/bin/ruff check agentcore console tests bench data
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy agentcore console

test: lint
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench

# Regenerates the committed corpus; the shop database is generated on demand.
data: $(STAMP)
	$(PY) data/generate.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
