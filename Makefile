# Two commands do everything: `make run` and `make test`. Both build the virtualenv first.
# `make help` lists every target: each one carries a `## description` on its own line.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test check unit integration lint typecheck package clean terraform checkov audit

help: ## list every target
	@awk 'BEGIN {FS = ":.*## "} /^[a-z][a-z-]*:.*## / {printf "make %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Every venv installs from a lock with hashes, wheels only, so nothing unverified is downloaded or built:
# pip and setuptools first (requirements/venv-seed.txt), then the venv's own lock (docs/decisions/0021-hash-locked-dependencies.md).
PIP_INSTALL_LOCKED := -m pip install --quiet --require-hashes --only-binary :all:
# A recipe line: make the venv $(1) anew and install exactly the lock $(2) into it.
locked_venv = rm -rf $(1) && $(PYTHON) -m venv $(1) && $(1)/bin/python $(PIP_INSTALL_LOCKED) -r requirements/venv-seed.txt && $(1)/bin/python $(PIP_INSTALL_LOCKED) -r $(2)
# A tool venv's stamp is named after its lock's contents (cksum: POSIX, so macOS has it too): a changed lock
# reinstalls, a restored cache does not.
lock_stamp = $(1)/.installed-$(shell cat requirements/venv-seed.txt $(2) | cksum | cut -d " " -f 1)

$(INSTALLED): requirements.txt requirements-dev.txt requirements/venv-seed.txt
	$(call locked_venv,$(VENV),requirements-dev.txt)
	touch $@

install: $(INSTALLED) ## create .venv with the runtime and dev requirements (every other target does this first)

# checkov pins an older boto3 than the project's, so it lives in its own tool venv.
CHECKOV_VENV := .tools/checkov
CHECKOV_INSTALLED := $(call lock_stamp,$(CHECKOV_VENV),requirements/checkov.txt)

$(CHECKOV_INSTALLED):
	$(call locked_venv,$(CHECKOV_VENV),requirements/checkov.txt)
	touch $@

checkov: $(CHECKOV_INSTALLED) ## install checkov in its own tool venv (it pins an older boto3)

# pip-audit needs PyPI and the vulnerability database, so it has its own tool venv and stays out of `make test`.
AUDIT_VENV := .tools/audit
AUDIT_INSTALLED := $(call lock_stamp,$(AUDIT_VENV),requirements/pip-audit.txt)

$(AUDIT_INSTALLED):
	$(call locked_venv,$(AUDIT_VENV),requirements/pip-audit.txt)
	touch $@

audit: $(AUDIT_INSTALLED) ## pip-audit the runtime requirements (needs network; not part of make test)
	$(AUDIT_VENV)/bin/pip-audit --requirement requirements.txt --strict --progress-spinner off

# The GitHub workflow linters (`make test` runs both, offline) bring their own dependency trees: own tool venv.
WORKFLOW_LINT_VENV := .tools/workflow-lint
WORKFLOW_LINT_INSTALLED := $(call lock_stamp,$(WORKFLOW_LINT_VENV),requirements/workflow-lint.txt)

$(WORKFLOW_LINT_INSTALLED):
	$(call locked_venv,$(WORKFLOW_LINT_VENV),requirements/workflow-lint.txt)
	touch $@

# `make lock` is the one way to change a lock: edit a *.in file, run it, commit the *.txt it rewrites.
# Universal (markers for every platform, Python 3.11 and up) and with a hash for every file of every pin.
UV_VENV := .tools/uv
UV_INSTALLED := $(call lock_stamp,$(UV_VENV),requirements/uv.txt)
LOCKS := requirements.txt requirements-dev.txt $(patsubst %.in,%.txt,$(wildcard requirements/*.in))

$(UV_INSTALLED):
	$(call locked_venv,$(UV_VENV),requirements/uv.txt)
	touch $@

.PHONY: lock
lock: $(UV_INSTALLED) ## re-resolve every lock with hashes from its *.in (needs PyPI; UPGRADE=1 takes the newest allowed)
	@for lock in $(LOCKS); do \
		$(UV_VENV)/bin/uv pip compile --universal --python-version 3.11 --generate-hashes --quiet \
			$(if $(UPGRADE),--upgrade) "$${lock%.txt}.in" -o "$$lock" || exit 1; \
	done

.PHONY: workflow-lint workflows smoke
workflow-lint: $(WORKFLOW_LINT_INSTALLED) ## install zizmor and check-jsonschema in their own tool venv

workflows: install workflow-lint ## check .github/workflows: GitHub's schema, zizmor (offline, fails at medium), pins and permissions
	$(BIN)/python -m pytest -q tests/integration/test_workflows.py

# Standard library only, so a deploy runner needs no venv: any python3 runs it.
smoke: ## read-only black-box check of a stage in under 10 s: make smoke URL=https://… [EXPECT_COMMIT=sha] [EXPECT_LAMBDA_VERSION=N]
	@test -n "$(URL)" || { echo "usage: make smoke URL=https://<id>.execute-api.<region>.amazonaws.com/api" >&2; exit 2; }
	$(PYTHON) scripts/operations/smoke.py "$(URL)" $(if $(EXPECT_COMMIT),--expect-commit "$(EXPECT_COMMIT)") $(if $(EXPECT_LAMBDA_VERSION),--expect-lambda-version "$(EXPECT_LAMBDA_VERSION)")

STAGE ?= prod

terraform: install ## Terraform for STAGE (default prod) into build/terraform-STAGE (BACKEND_FILE=… copies in backend.tf); then terraform init && apply
	$(BIN)/python scripts/operations/export_terraform.py --stage $(STAGE) --out build/terraform-$(STAGE) $(if $(BACKEND_FILE),--backend-file "$(BACKEND_FILE)")
	$(if $(wildcard infra/terraform/.terraform.lock.hcl),cp infra/terraform/.terraform.lock.hcl build/terraform-$(STAGE)/)

.PHONY: deploy artifact acceptance fire-drill
# Every alarm of STAGE with actions to ALARM for HOLD seconds, then back (docs/game-days.md#fire-drill).
fire-drill: install ## set each of STAGE's alarms to ALARM for a moment and back, so the team sees each page and ticket (HOLD=10, ONLY=api-down)
	$(BIN)/python scripts/operations/fire_drill.py --stage $(STAGE) $(if $(HOLD),--hold-seconds "$(HOLD)") $(if $(ONLY),--only "$(ONLY)")

deploy: install ## after terraform apply: CodeDeploy shifts STAGE's live alias to the new version, rolls back on alarm (TARGET_VERSION=N, FORCE=1, CLEAR_WEIGHTS=1)
	$(BIN)/python scripts/operations/deploy.py --stage $(STAGE) --export-dir build/terraform-$(STAGE) $(if $(TARGET_VERSION),--target-version "$(TARGET_VERSION)") $(if $(FORCE),--force) $(if $(CLEAR_WEIGHTS),--clear-weights)

# Read-only unless a drill is asked for; writes build/acceptance-STAGE/report.{md,json} (docs/acceptance.md).
acceptance: install ## what only AWS can answer, against deployed STAGE (URL=…; ALARM_DRILL=1, ROLLBACK_DRILL=1 DRILL_VERSION=N); STAGE=local: make run's stack
	$(BIN)/python -m scripts.acceptance --stage $(STAGE) $(if $(URL),--api-url "$(URL)") $(if $(ALARM_DRILL),--alarm-drill) $(if $(ROLLBACK_DRILL),--rollback-drill) $(if $(DRILL_VERSION),--rollback-drill-version "$(DRILL_VERSION)") $(if $(OUT),--out "$(OUT)")

# What the deploy workflow builds once, without AWS credentials, and promotes from dev to prod (docs/delivery.md).
artifact: install ## the deploy artifact in build/artifact: every stage's Terraform and Lambda zip, a manifest of sha256s (PROVIDER_LOCK=…)
	$(BIN)/python scripts/operations/artifact.py build --out build/artifact $(if $(COMMIT),--commit "$(COMMIT)") $(if $(PROVIDER_LOCK),--provider-lock "$(PROVIDER_LOCK)")

run: install ## run the API on http://127.0.0.1:8000 against a local DynamoDB (moto server); Ctrl-C stops
	$(BIN)/python scripts/harness/run_local.py

# Reviewed data changes (docs/operations.md): the plan is a file, and apply writes exactly what it lists.
.PHONY: data-plan data-apply
DATA_PLAN = build/data-plan-$(STAGE).json
data-plan: install ## show what data/stages/STAGE.json (or FILE=…) would change in STAGE's table; writes build/data-plan-STAGE.{json,md} only (PRUNE=1, ALLOW_MASS_DELETE=1)
	$(BIN)/python scripts/operations/data_plan.py plan --stage $(STAGE) --out $(DATA_PLAN) $(if $(FILE),--file "$(FILE)") $(if $(PRUNE),--prune) $(if $(ALLOW_MASS_DELETE),--allow-mass-delete)

data-apply: install ## apply build/data-plan-STAGE.json (or PLAN=…) exactly; refused if the table changed since the plan
	$(BIN)/python scripts/operations/data_plan.py apply --stage $(STAGE) --plan $(if $(PLAN),"$(PLAN)",$(DATA_PLAN))

lint: install ## ruff: lint rules, import order, complexity and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install ## mypy: strict on chalicelib/, checked on app.py, scripts/ and bench/
	$(BIN)/mypy

unit: install ## the in-process tests only (tests/unit), on two workers
	$(BIN)/python -m pytest tests/unit -m unit -n 2 -q

integration: install checkov workflow-lint ## the tests that start real processes on loopback or package the app
	$(BIN)/python -m pytest -m integration

check: lint typecheck unit fmt-terraform ## the fast lane, under a minute: lint, type check, the in-process tests, terraform fmt

# The hand-written Terraform is HCL: `terraform fmt` when terraform is installed (make test does not need it).
.PHONY: fmt-terraform
fmt-terraform: ## terraform fmt -check -recursive infra/ (skipped, saying so, when terraform is not on the PATH)
	@if command -v terraform >/dev/null 2>&1; then terraform fmt -check -recursive infra/; \
	else echo "terraform not on the PATH: skipped terraform fmt -check -recursive infra/"; fi

test: lint typecheck checkov workflow-lint ## everything CI runs: lint, types, unit, integration, faults, fuzz (fixed seed), load, export, checkov, workflows, smoke
	$(BIN)/python -m pytest

# `make test` fuzzes with the fixed seed in tests/contract/test_fuzz.py, so each commit gets one answer.
# This explores instead: a fresh seed (or FUZZ_SEED) and more examples. Not part of `make test`.
FUZZ_MAX_EXAMPLES ?= 500
.PHONY: fuzz
fuzz: install ## contract fuzzing with a fresh seed and 500 examples per operation (~4 min); prints the seed to replay
	@seed="$(FUZZ_SEED)"; [ -n "$$seed" ] || seed=$$($(BIN)/python -c "import secrets; print(secrets.randbelow(2**32))"); \
	replay="make fuzz FUZZ_SEED=$$seed FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES)"; \
	echo "fuzz: seed $$seed, $(FUZZ_MAX_EXAMPLES) examples per operation; replay with: $$replay"; \
	FUZZ_SEED=$$seed FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) $(BIN)/python -m pytest tests/contract/test_fuzz.py -s; \
	status=$$?; \
	if [ $$status -eq 0 ]; then echo "fuzz: seed $$seed passed"; else echo "fuzz: seed $$seed FAILED; replay with: $$replay"; fi; \
	exit $$status

package: install ## chalice package for every stage into build/sam-STAGE
	for stage in local dev prod; do $(BIN)/chalice package --stage $$stage build/sam-$$stage || exit 1; done

.PHONY: bench cost
bench: install ## benchmark against the PoC baseline on a local moto server (~5 min); AGAINST=<git ref> adds that commit
	$(BIN)/python -m bench.run $(if $(AGAINST),--against $(AGAINST)) $(if $(QUICK),--quick)

# Mirrors the prod stage: 1024 MB arm64, REST API, X-Ray on.
cost: install ## monthly AWS bill at 1M, 100M and 2.6B requests, the biggest lever at each, and every option's price
	$(BIN)/python scripts/planning/cost_model.py --scenarios --xray

# Every request to a deployed stage is billed and counts against its throttle: load prod only in an agreed
# window (docs/load-testing.md). Users arrive over a minute and each makes 1 request/s, as docs/capacity.md
# counts them (LOAD_REQUESTS_PER_SECOND changes it; set it empty for think time instead); MINUTES may be 0.5.
.PHONY: load
load: install ## locust, headless, against a stage: make load URL=https://… [USERS=100] [MINUTES=5]; CSV and HTML in build/load/
	@test -n "$(URL)" || { echo "usage: make load URL=https://<id>.execute-api.<region>.amazonaws.com/api [USERS=100] [MINUTES=5]" >&2; exit 2; }
	@users="$(or $(USERS),100)"; seconds=$$(awk 'BEGIN { printf "%d", ("$(or $(MINUTES),5)" + 0) * 60 }'); \
	case "$$users" in ''|*[!0-9]*|0) echo "make load: USERS must be a whole number above 0" >&2; exit 2;; esac; \
	[ "$$seconds" -ge 1 ] || { echo "make load: MINUTES must be a number, at least 1/60" >&2; exit 2; }; \
	mkdir -p build/load; \
	export LOAD_REQUESTS_PER_SECOND="$${LOAD_REQUESTS_PER_SECOND-1}"; \
	set -x; $(BIN)/locust -f loadtest/locustfile.py --host "$(URL)" --headless --users "$$users" \
		--spawn-rate $$(( (users + 59) / 60 )) --run-time "$${seconds}s" --stop-timeout 10 \
		--csv build/load/load --html build/load/load.html

clean: ## remove the venv, build output and caches
	rm -rf $(VENV) build .pytest_cache .ruff_cache
