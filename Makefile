# vulntrail — the two commands of the README, and the developer loop.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test install install-test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@if command -v npm >/dev/null; then cd tests/sso/provider && npm ci --no-audit --no-fund; else echo "*** npm not found: the single sign-on tests will be skipped ***"; fi

## run: install, then serve on SQLite at http://127.0.0.1:8080 (first start prints the admin login and token)
run: install
	$(BIN)/vulntrail serve --host $(HOST) --port $(PORT)

## test: install, then run lint, types and the whole test suite (SQLite and PostgreSQL)
test: install-test lint
	$(BIN)/pytest

lint:
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

## bench: benchmarks against their targets (BENCH_ARGS="--quick" for the 2-minute run)
bench: install-test
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
