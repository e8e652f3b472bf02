# lipsteeth: the two set-up commands are `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: run test test-all test-debug lint typecheck bench bench-quick browser clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[experiments,web]"
	touch $@

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP_RUN) $@

run: $(STAMP_RUN)
	$(BIN)/lipsteeth run baseline-2016

# Debian chromium for the dashboard's browser tests (Playwright drives /usr/bin/chromium).
browser:
	sh scripts/install_chromium.sh

# Two pytest workers (the machine has 2 cores); a test file runs whole on one worker.
PYTEST := $(BIN)/python -m pytest -n 2 --dist loadfile -q

# Tests marked `serial` run after the rest, in one pytest process without xdist: the ones
# that time the machine (a wall-time bound does not hold beside another worker's tests on
# the same 2 cores) and schemathesis's (its 17 operations share one node id, and xdist,
# which schedules by node id, would run one of them; tests/conftest.py refuses that).
SERIAL := $(BIN)/python -m pytest -p no:xdist -q

test: $(STAMP_DEV) browser
	$(PYTEST) -m "not slow and not serial"
	$(SERIAL) -m "serial and not slow"

test-all: $(STAMP_DEV) browser
	$(PYTEST) -m "not serial"
	$(SERIAL) -m serial

# Debug build (issue 17, item 4): the compiled core with every array index checked
# (NUMBA_BOUNDSCHECK=1: IndexError instead of an out-of-bounds read or write), cached apart
# from the normal build (core/jit.py), on the core's unit, mechanism and identity tests,
# the golden runs, the fast kernel fuzz and a short run of the command line.
DEBUG_TESTS := tests/test_kernel.py tests/test_mechanisms.py tests/test_core_identities.py \
	tests/test_golden.py tests/test_kernel_fuzz.py tests/test_run_horizon.py
DEBUG_OUT := $(or $(TMPDIR),/tmp)/lipsteeth-test-debug

test-debug: $(STAMP_DEV)
	NUMBA_BOUNDSCHECK=1 $(BIN)/python -m pytest -p no:xdist -q -m "not slow" $(DEBUG_TESTS)
	NUMBA_BOUNDSCHECK=1 $(BIN)/lipsteeth run baseline-2016 --years 3 --replicates 4 \
		--out $(DEBUG_OUT) --force
	NUMBA_BOUNDSCHECK=1 $(BIN)/lipsteeth run history --replicates 2 --no-facts \
		--uncertainty ranges --out $(DEBUG_OUT) --force
	rm -rf $(DEBUG_OUT)

lint: $(STAMP_DEV)
	$(BIN)/ruff check src tests reference benchmarks
	$(BIN)/ruff format --check src tests reference benchmarks
	$(BIN)/mypy src/lipsteeth/core src/lipsteeth/scenario

# The core before its redesign (issue 11) runs beside the current one: its ratio to Mesa
# in the same run is the yardstick of the change.
BENCH_BASELINE ?= f254931

bench: $(STAMP_DEV)
	$(BIN)/python benchmarks/run.py --baseline $(BENCH_BASELINE)

bench-quick: $(STAMP_DEV)
	$(BIN)/python benchmarks/run.py --quick --baseline $(BENCH_BASELINE)

clean:
	rm -rf $(VENV) results .pytest_cache
