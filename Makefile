# One-command setup: every target creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ARGS ?=
# Playwright (a dev dependency) drives Debian's chromium: it must never fetch a browser of its own.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: run test lint typecheck pytest clean bench web-screenshot

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Runtime install (uvloop included); re-done when pyproject.toml changes.
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[fast]'
	touch $@

# Development install: runtime plus test, lint and type-check tools, the PostgreSQL driver
# (every store and server test runs on SQLite and on a private PostgreSQL server too) and the Redis
# client (the several-process tests run on a private Redis server).
$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[fast,postgres,redis,dev]'
	touch $@ $(VENV)/.run-installed

# Benchmark install: development plus matplotlib (the chart) and py-spy (the profile).
$(VENV)/.bench-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[fast,postgres,redis,dev,bench]'
	touch $@ $(VENV)/.dev-installed $(VENV)/.run-installed

## run: set up and start the server on the embedded SQLite database (127.0.0.1:7777)
run: $(VENV)/.run-installed
	$(BIN)/chatapp-server $(ARGS)

## web-screenshot: take docs/web-client.png again, with the browser tests' Chromium
web-screenshot: $(VENV)/.dev-installed
	CHATAPP_WEB_SCREENSHOT=1 $(BIN)/pytest -q tests/browser/test_web_app.py -k two_pages

## test: set up, lint, type-check and run every test
test: lint typecheck pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

# Test files are spread over one worker per core (pytest-xdist); a file's tests stay together, so
# the servers a module shares are started once. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= auto
pytest: $(VENV)/.dev-installed
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist

## bench: set up and run the benchmark suite, writing docs/performance.md and its chart (under 10 minutes)
bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench.run $(ARGS)
