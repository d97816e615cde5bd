# idsync — `make demo` runs the product on made-up data; `make test` runs every test.
# Both create the virtualenv .venv and install what they need into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck format bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { \
	  echo "could not create a virtualenv: install python3-venv (Debian/Ubuntu: apt install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/idsync demo

test: $(STAMP) lint
	bash scripts/install-test-deps.sh
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check schemas services tests bench
	$(BIN)/ruff format --check schemas services tests bench
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format schemas services tests bench
	$(BIN)/ruff check --fix schemas services tests bench

bench: $(STAMP)
	$(BIN)/python bench/csv_to_sqlite.py

clean:
	rm -rf $(VENV) .idsync .pytest_cache .mypy_cache .ruff_cache
