# Two commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv when missing and installs what it needs; re-installs when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench proto clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/parallax demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

# Regenerate protobuf/gRPC code; tests/test_generated_code.py fails when it is stale.
proto: $(STAMP)
	$(BIN)/python -m parallax.protogen

clean:
	rm -rf $(VENV) parallax-data .pytest_cache
