# Two commands do everything: `make run` and `make test`. Both build the virtualenv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test unit integration lint package clean terraform checkov audit

help:
	@echo "make run        run the API on http://127.0.0.1:8000 against a local DynamoDB (Ctrl-C stops)"
	@echo "make test       lint, unit, integration, fault, fuzz, load, packaging and Terraform/checkov checks"
	@echo "make package    chalice package for every stage into build/"
	@echo "make bench      benchmark the service against the PoC baseline on a local moto server (~5 min)"
	@echo "make cost       monthly AWS bill at 1M, 100M and 2.6B requests, and the biggest lever at each"
	@echo "make terraform  Terraform for STAGE (default prod) into build/terraform-STAGE: then terraform init && apply"
	@echo "make audit      pip-audit the runtime requirements (needs network; not part of make test)"

$(INSTALLED): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

# checkov pins an older boto3 than the project's, so it lives in its own tool venv.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .tools/checkov
CHECKOV_INSTALLED := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

$(CHECKOV_INSTALLED):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

checkov: $(CHECKOV_INSTALLED)

# pip-audit needs PyPI and the vulnerability database, so it has its own tool venv and stays out of `make test`.
AUDIT_VENV := .tools/audit
AUDIT_INSTALLED := $(AUDIT_VENV)/.installed

$(AUDIT_INSTALLED):
	rm -rf $(AUDIT_VENV)
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(AUDIT_VENV)/bin/python -m pip install --quiet pip-audit
	touch $@

audit: $(AUDIT_INSTALLED)
	$(AUDIT_VENV)/bin/pip-audit --requirement requirements.txt --strict --progress-spinner off

STAGE ?= prod

terraform: install
	$(BIN)/python scripts/export_terraform.py --stage $(STAGE) --out build/terraform-$(STAGE)

run: install
	$(BIN)/python scripts/run_local.py

lint: install
	$(BIN)/ruff check .

unit: install
	$(BIN)/python -m pytest tests/unit

integration: install
	$(BIN)/python -m pytest tests/integration

test: lint checkov
	$(BIN)/python -m pytest

package: install
	for stage in local dev prod; do $(BIN)/chalice package --stage $$stage build/sam-$$stage || exit 1; done

.PHONY: bench cost
bench: install
	$(BIN)/python -m bench.run

# Mirrors the prod stage: 1024 MB arm64, REST API, X-Ray on.
cost: install
	$(BIN)/python scripts/cost_model.py --scenarios --xray

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
