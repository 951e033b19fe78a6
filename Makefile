# Two commands do everything: `make run` and `make test`. Both build the virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test unit integration lint package clean

help:
	@echo "make run        run the API on http://127.0.0.1:8000 against a local DynamoDB (Ctrl-C stops)"
	@echo "make test       lint, unit tests, integration tests and packaging checks"
	@echo "make package    chalice package for every stage into build/"

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

run: install
	$(BIN)/python scripts/run_local.py

lint: install
	$(BIN)/ruff check .

unit: install
	$(BIN)/python -m pytest tests/unit

integration: install
	$(BIN)/python -m pytest tests/integration

test: lint
	$(BIN)/python -m pytest

package: install
	for stage in local dev prod; do $(BIN)/chalice package --stage $$stage build/sam-$$stage || exit 1; done

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
