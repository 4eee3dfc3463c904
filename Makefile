# Two commands for a fresh machine: `make run` and `make test` (see README.md); `make test-fast` skips the slow tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
FLASK  := $(BIN)/flask --app registry
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run serve test test-fast setup bench chromium clean translations

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt bench/requirements.txt
	$(BIN)/pip install -q -r requirements-test.txt
	touch $@

# Debian's chromium drives the browser tests (never `playwright install`: it downloads).
chromium:
	@command -v /usr/bin/chromium >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# Creates the database, loads the seed and builds the search index when they are missing.
setup: $(VENV)/.installed
	$(FLASK) setup

run: setup
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

# Production-style serving: gunicorn, several workers, configured from the environment.
serve: setup
	$(BIN)/gunicorn --config registry/gunicorn.conf.py "registry:create_app()"

# lint-imports checks the layer contracts in .importlinter first: a broken contract fails the build.
# --no-cache: the check takes a fraction of a second and leaves no cache directory in the tree.
LINT_IMPORTS := $(BIN)/lint-imports --no-cache

test: $(VENV)/.installed-test chromium
	$(LINT_IMPORTS)
	$(BIN)/python -m pytest -q

# Everything but the tests marked `slow` (browsers, gunicorn, subprocess faults, the bench smoke test,
# large Hypothesis runs; see pytest.ini): no browser needed.
test-fast: $(VENV)/.installed-test
	$(LINT_IMPORTS)
	$(BIN)/python -m pytest -q -m "not slow"

# Benchmarks against Datasette + FTS5 (docs/benchmarks.md); wrk if apt can get it, else a Python client.
bench: $(VENV)/.installed-test chromium
	$(BIN)/pip install -q -r bench/requirements.txt
	@command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk >/dev/null || true
	$(BIN)/python -m bench $(BENCH_ARGS)

# The French and Spanish catalogs (registry/translations/README.md): extract every message of the code and
# templates, add new ones to fr/ and es/ messages.po (translate them there), compile the .mo files.
TRANSLATIONS := registry/translations
translations: $(VENV)/.installed
	$(BIN)/pybabel -q extract -F $(TRANSLATIONS)/babel.cfg -k N_ --no-location --sort-output -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel -q update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-fuzzy-matching --ignore-obsolete -w 0
	$(BIN)/pybabel -q compile -d $(TRANSLATIONS) --statistics

clean:
	rm -rf $(VENV) instance .pytest_cache
