# lobbysim: `make demo` and `make test` do all the set-up they need (.venv, redis-server).
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all venv redis-server demo test lint docs format typecheck bench clean

all: test

# The venv is rebuilt only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@PY=$$(scripts/find-python.sh) && { [ -x $(BIN)/python ] || $$PY -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	@touch $(STAMP)

venv: $(STAMP)

redis-server:
	@scripts/ensure-redis-server.sh

demo: venv
	$(BIN)/lobbysim demo

test: venv redis-server
	$(BIN)/python -m pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The docs site (mkdocs.yml, docs/): --strict fails on a broken link, a missing anchor or a
# page left out of the navigation.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: venv redis-server
	$(BIN)/python benchmarks/bench_core.py

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
