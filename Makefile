# idsync — `make demo` runs the product on made-up data; `make test` runs every test.
# Both create the virtualenv .venv; the demo installs idsync alone, the tests add the
# development tools (pytest, mypy, ruff…).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck format bench clean

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV) || { \
	  echo "could not create a virtualenv: install python3-venv (Debian/Ubuntu: apt install python3-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

# idsync and what it needs to run: all the demo (and the benchmarks) need.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $(STAMP)

# The development tools besides.
$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP) $(DEV)

demo: $(STAMP)
	$(BIN)/idsync demo

test: $(DEV) lint
	bash scripts/install-test-deps.sh
	$(BIN)/pytest

lint: $(DEV)
	$(BIN)/ruff check schemas core services tests bench
	$(BIN)/ruff format --check schemas core services tests bench
	$(BIN)/mypy

format: $(DEV)
	$(BIN)/ruff format schemas core services tests bench
	$(BIN)/ruff check --fix schemas core services tests bench

# Every speed and memory target in one run, each next to its reference measured in the
# same run, then a table of them all (bench/targets.py; the SQL and LDAP benches start
# their own throwaway servers, from the Debian packages scripts/install-test-deps.sh
# installs); `make bench FULL=1` at the sizes the targets are set for
# (docs/performance.md). Then the other benches, each quick.
bench: $(STAMP)
	bash scripts/install-test-deps.sh
	$(BIN)/python bench/targets.py $(if $(FULL),--full)
	$(BIN)/python bench/excel.py --rows $(if $(FULL),100000,10000)
	$(BIN)/python bench/mapping_transforms.py --people $(if $(FULL),100000,20000)
	$(BIN)/python bench/plan_million.py --records $(if $(FULL),1000000,100000)
	$(BIN)/python bench/scale_out.py --records $(if $(FULL),100000,10000)
	$(BIN)/python bench/history.py --people $(if $(FULL),100000,20000)
	$(BIN)/python bench/commands.py
	$(BIN)/python bench/portal.py --jobs 1000 --runs $(if $(FULL),5000,500) --repeat 11

clean:
	rm -rf $(VENV) .idsync .pytest_cache .mypy_cache .ruff_cache
