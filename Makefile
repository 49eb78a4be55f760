# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs; re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench proto clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the suite needs: PostgreSQL for the scale-out (several writers) tests,
# Chromium and its WebDriver for the dashboard's browser test.
$(SYSTEM_STAMP): $(STAMP)
	@if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then \
		echo "installing Debian's postgresql for the scale-out tests"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		echo "installing Debian's chromium and chromium-driver for the dashboard browser test"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	fi
	touch $(SYSTEM_STAMP)

demo: $(STAMP)
	$(BIN)/parallax demo

test: $(STAMP) $(SYSTEM_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The dashboard benchmark generates its 10M-span lake once (minutes) and reuses it.
BENCH_LAKE ?= /tmp/parallax-bench-lake-10m

bench: $(STAMP)
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/collector.py
	$(BIN)/python bench/dashboard.py --path $(BENCH_LAKE)

# Regenerate protobuf/gRPC code; tests/test_generated_code.py fails when it is stale.
proto: $(STAMP)
	$(BIN)/python -m tools.protogen

clean:
	rm -rf $(VENV) parallax-data .pytest_cache
