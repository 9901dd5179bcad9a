# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SEMANTIC := $(VENV)/.semantic
WHEELS := $(VENV)/wheels

.PHONY: run test lint bench scifact screenshot clean

# The stamp depends on pyproject.toml so a changed dependency list reinstalls.
# Every dependency is fetched once as a wheel into .venv/wheels and installed from there:
# the wheel test (tests/test_wheel.py) installs the package into a fresh venv from the
# same wheels, offline.
$(STAMP): pyproject.toml
	@$(PYTHON) -m venv $(VENV) 1>&2
	@$(BIN)/python -m pip wheel -q --disable-pip-version-check -w $(WHEELS) '.[dev]' 'setuptools>=68' 1>&2
	@rm -f $(WHEELS)/corpusbot-*.whl
	@$(BIN)/python -m pip install -q --disable-pip-version-check --no-index --find-links $(WHEELS) -e '.[dev]' 1>&2
	@touch $(STAMP)

# `make test` also covers the [semantic] re-rankers with their real models (torch's CPU
# build, which pip takes from this machine's disk), installed once into the same venv:
# `make run` does not need them.
$(SEMANTIC): $(STAMP)
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,semantic]' 1>&2
	@touch $(SEMANTIC)

run: $(STAMP)
	@$(BIN)/corpusbot run

# The Xapian tests run real shard servers: xapian-tcpsrv comes from the system's
# xapian-tools, installed here when missing (apt, as root or through sudo). If that
# fails, those tests fail and say how to install it: a test that is not run proves nothing.
test: $(SEMANTIC)
	@command -v xapian-tcpsrv >/dev/null 2>&1 || { \
	  echo "make test: installing xapian-tools (xapian-tcpsrv) for the Xapian tests" 1>&2; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq xapian-tools; } 1>&2 || true; }
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

scifact: $(STAMP)
	$(BIN)/python -m retrieval.beir

# docs/images/answer.png from the bot's real answer payload, drawn by headless Chromium
# (installed here with apt when missing, as root or through sudo).
screenshot: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-color-emoji; } 1>&2 || true; }
	$(BIN)/python tools/screenshot.py

clean:
	rm -rf $(VENV) data/corpus.db data/corpus.db-wal data/corpus.db-shm
