# Quick start: `make quickstart` (install everything, migrate Chinook into the
# embedded DynamoDB Local, validate it); `make test` (lint and the test suite).
PYTHON ?= python3
CONFIG ?= config/migration.json
PIP = $(PYTHON) -m pip install --disable-pip-version-check -q

.PHONY: all setup java chromium dynamodb-local quickstart test lint format bench bench-quick bench-faults bench-report bench-validate bench-sync bench-hot bench-everyday clean

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

setup: java
	$(PIP) -e '.[test]'
	$(PYTHON) cli.py local install

dynamodb-local: setup

quickstart: setup
	$(PYTHON) cli.py -c $(CONFIG) init --source-db data/Chinook_Sqlite.sqlite --mappings mappings/chinook
	$(PYTHON) cli.py -c $(CONFIG) migrate --no-validate
	$(PYTHON) cli.py -c $(CONFIG) validate --report state/validation-report.md

# mypy cannot see engine/ as sqlite2ddb by itself: .mypy_path/sqlite2ddb links to it (git-ignored).
lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	@mkdir -p .mypy_path && ln -sfn ../engine .mypy_path/sqlite2ddb
	MYPYPATH=.mypy_path $(PYTHON) -m mypy -p sqlite2ddb

format:
	$(PYTHON) -m ruff format .
	$(PYTHON) -m ruff check --fix .

test: setup chromium lint
	$(PYTHON) -m pytest -q

bench: setup
	$(PYTHON) benchmarks/run.py

bench-quick: setup
	$(PYTHON) benchmarks/run.py --quick

bench-faults: setup
	$(PYTHON) benchmarks/faults.py

bench-report: setup
	$(PYTHON) benchmarks/report_sizes.py

bench-validate: setup
	$(PYTHON) benchmarks/validate_scale.py

bench-sync: setup
	$(PYTHON) benchmarks/sync.py

bench-hot: setup
	$(PYTHON) benchmarks/hot_partitions.py

# issue 25: migrate at x1 and x10 against the hand-written peer, fixed costs, fsyncs, the embedded default
bench-everyday: setup
	$(PYTHON) benchmarks/everyday.py

clean:
	rm -rf state/* logs/* config/migration.json .pytest_cache
	touch state/.gitkeep logs/.gitkeep
