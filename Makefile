# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# pytest-xdist workers; browser tests stay together on one of them (tests/browser/conftest.py).
PYTEST_WORKERS ?= auto

.PHONY: install run serve test lint typecheck pytest bench soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/backoffice db upgrade
	$(BIN)/backoffice seed-demo --if-empty
	$(BIN)/backoffice run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=25 $(PYTEST_ARGS)

test: lint typecheck pytest

bench: install
	$(BIN)/python -m bench

# The fault suite in full: kill -9 with 50 waiting, Redis killed under two workers, a
# PostgreSQL outage, a burst of 200 arrivals; records counted before and after each fault.
soak: install
	BACKOFFICE_SOAK=1 $(BIN)/python -m pytest -p no:xdist tests/test_faults.py tests/test_load.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
