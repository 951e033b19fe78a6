"""The GitHub workflows: GitHub's schema, zizmor's security audit, and the structure a reviewer would check by hand.

Both linters run offline from their own tool venv (`make workflow-lint`, which `make test`
depends on). Each gate is also run against a deliberately bad workflow, so a broken gate fails here too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.harness.local_stack import PROJECT_ROOT, free_port

pytestmark = pytest.mark.integration

WORKFLOWS = PROJECT_ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
DEPLOY = WORKFLOWS / "deploy.yml"
TOOLS = PROJECT_ROOT / ".tools" / "workflow-lint" / "bin"
MAKEFILE = PROJECT_ROOT / "Makefile"
FAILING_SEVERITIES = {"Medium", "High"}
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s+(\S+)\s+#\s+v\d+\.\d+\.\d+\s*$")
# Every permission a job here may hold; anything else (any other write) is a finding of this test.
ALLOWED_PERMISSIONS = {"contents": "read", "id-token": "write"}


@pytest.fixture(scope="module")
def tools() -> Path:
    """The pinned linters; installs them on a machine that has not run `make test` yet (a no-op otherwise)."""
    subprocess.run(["make", "--no-print-directory", "--silent", "workflow-lint"], cwd=PROJECT_ROOT, check=True)
    return TOOLS


def offline_environment() -> dict[str, str]:
    """No token, and every proxy a dead loopback port: a linter that tries the network fails instead."""
    dead = f"http://127.0.0.1:{free_port()}"
    environment = {key: value for key, value in os.environ.items() if key not in {"GH_TOKEN", "GITHUB_TOKEN"}}
    environment.update(HTTP_PROXY=dead, HTTPS_PROXY=dead, http_proxy=dead, https_proxy=dead, NO_PROXY="")
    return environment


def zizmor(tools: Path, *paths: Path) -> tuple[int, list[dict[str, Any]]]:
    # --no-config and --no-ignores: nothing in the repository can switch an audit off.
    result = subprocess.run(
        [str(tools / "zizmor"), "--offline", "--no-config", "--no-ignores", "--no-progress"]
        + ["--min-severity", "medium", "--format", "json", *map(str, paths)],
        capture_output=True,
        text=True,
        env=offline_environment(),
        timeout=120,
    )
    assert result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def check_jsonschema(tools: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
        env=offline_environment(),
        timeout=120,
    )


def load(path: Path) -> dict[Any, Any]:
    workflow: dict[Any, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def steps(workflow: dict[Any, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job_id, step) for job_id, job in workflow["jobs"].items() for step in job.get("steps", [])]


def run_lines(job: dict[str, Any]) -> list[str]:
    return [line.strip() for step in job["steps"] for line in step.get("run", "").splitlines() if line.strip()]


def step_index(job: dict[str, Any], predicate: Any) -> int:
    matches = [index for index, step in enumerate(job["steps"]) if predicate(step)]
    assert len(matches) == 1, [step.get("name") for step in job["steps"]]
    return matches[0]


# --- the linters -------------------------------------------------------------------------------------------------


def test_the_tool_venv_holds_the_versions_its_lock_input_pins(tools):
    pins = dict(
        line.split("==")
        for line in (PROJECT_ROOT / "requirements" / "workflow-lint.in").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    zizmor_out = subprocess.run([str(tools / "zizmor"), "--version"], capture_output=True, text=True, check=True)
    schema_out = subprocess.run(
        [str(tools / "check-jsonschema"), "--version"], capture_output=True, text=True, check=True
    )
    assert zizmor_out.stdout.split() == ["zizmor", pins["zizmor"]]
    assert schema_out.stdout.split()[-1] == pins["check-jsonschema"]


def test_make_test_installs_the_workflow_linters_first():
    test_target = re.search(r"^test: ([^#]*)##", MAKEFILE.read_text(), re.M)
    assert test_target and "workflow-lint" in test_target.group(1).split()
    dry_run = subprocess.run(
        ["make", "--no-print-directory", "--dry-run", "--always-make", "workflow-lint"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--require-hashes --only-binary :all: -r requirements/workflow-lint.txt" in dry_run.stdout


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=lambda path: path.name)
def test_workflow_matches_githubs_schema(tools, workflow):
    result = check_jsonschema(tools, workflow)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=lambda path: path.name)
def test_zizmor_finds_nothing_of_medium_severity_or_above(tools, workflow):
    returncode, findings = zizmor(tools, workflow)
    failing = [
        (finding["ident"], finding["determinations"]["severity"], finding["desc"])
        for finding in findings
        if finding["determinations"]["severity"] in FAILING_SEVERITIES
    ]
    assert failing == [] and returncode == 0, failing


def test_the_linters_reject_an_unsafe_invalid_workflow(tools, tmp_path):
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text(
        "name: unsafe\n"
        "on: pull_request_target\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    returncode, findings = zizmor(tools, unsafe)
    assert returncode != 0
    assert {"unpinned-uses", "template-injection", "artipacked"} <= {finding["ident"] for finding in findings}
    invalid = tmp_path / "invalid.yml"
    invalid.write_text(
        "on: push\njobs:\n  build:\n    runs-on: ubuntu-24.04\n    permissions: {contents: reed}\n"
        "    steps: [{run: make test}]\n"
    )
    result = check_jsonschema(tools, invalid)
    assert result.returncode == 1 and "reed" in result.stdout


# --- structure ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=lambda path: path.name)
def test_every_action_is_pinned_to_a_commit_sha_with_its_version(workflow):
    uses = [step["uses"] for _, step in steps(load(workflow)) if "uses" in step]
    assert uses
    assert [reference for reference in uses if not PINNED.match(reference)] == []
    commented = [match.group(1) for line in workflow.read_text().splitlines() if (match := USES_LINE.match(line))]
    assert commented == uses, "each `uses:` line ends with `# vX.Y.Z`"


def test_each_action_has_one_pin_across_workflows():
    pins: dict[str, set[str]] = {}
    for workflow in (CI, DEPLOY):
        for _, step in steps(load(workflow)):
            if "uses" in step:
                action, sha = step["uses"].split("@")
                pins.setdefault(action, set()).add(sha)
    assert {action: shas for action, shas in pins.items() if len(shas) > 1} == {}


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=lambda path: path.name)
def test_every_checkout_keeps_no_credentials(workflow):
    checkouts = [step for _, step in steps(load(workflow)) if step.get("uses", "").startswith("actions/checkout@")]
    assert checkouts and all(step.get("with", {}).get("persist-credentials") is False for step in checkouts)


@pytest.mark.parametrize("workflow", [CI, DEPLOY], ids=lambda path: path.name)
def test_no_permission_by_default_and_each_job_asks_only_for_what_it_uses(workflow):
    loaded = load(workflow)
    assert loaded["permissions"] == {}
    for job_id, job in loaded["jobs"].items():
        permissions = job["permissions"]
        assert permissions.items() <= ALLOWED_PERMISSIONS.items(), job_id
        assumes_a_role = any("configure-aws-credentials@" in step.get("uses", "") for step in job["steps"])
        assert (permissions.get("id-token") == "write") == assumes_a_role, job_id
        assert "timeout-minutes" in job, job_id


def test_no_aws_keys_are_stored_or_passed():
    for workflow in (CI, DEPLOY):
        text = workflow.read_text()
        assert "secrets." not in text and "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


STAGE_JOBS = ("plan-dev", "deploy-dev", "plan-prod", "deploy-prod")
DATA_JOBS = ("data-plan-dev", "data-apply-dev", "data-plan-prod", "data-apply-prod")
STAGE_DIR = "build/artifact/terraform-$STAGE"
# `terraform -chdir="DIR" SUBCOMMAND ARGS`, at the start of a line or inside `$(...)`.
TERRAFORM = re.compile(r'(?:^|\$\()terraform\s+-chdir="([^"]+)"\s+([a-z]+)([^)]*)')
ANY_TERRAFORM = re.compile(r"(?:^|\$\()terraform\s+[-a-z]")
# What installs software from a shell line; a `make` target is judged by what its recipe would run.
INSTALLERS = re.compile(r"\b(pip3?|pipx|uv|npm|npx|yarn|apt|apt-get|brew|curl|wget|gem|go)\s|-m\s+(pip|venv)\b")
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials@"
UPLOAD_ACTION = "actions/upload-artifact@"
DOWNLOAD_ACTION = "actions/download-artifact@"
# The artifact carries the one provider lock every stage installs (tests/integration/test_provider_lock.py runs it).
BUILD_ARTIFACT = 'make artifact COMMIT="$GITHUB_SHA" PROVIDER_LOCK=build/provider-lock/.terraform.lock.hcl'
VERIFY_ARTIFACT = (
    "python3 scripts/operations/artifact.py verify build/artifact"
    ' --manifest-sha256 "$MANIFEST_SHA256" --commit "$GITHUB_SHA"'
)


def needs(job: dict[str, Any]) -> list[str]:
    value = job.get("needs", [])
    return [value] if isinstance(value, str) else list(value)


def ancestors(jobs: dict[str, Any], job_id: str) -> set[str]:
    found: set[str] = set()
    pending = needs(jobs[job_id])
    while pending:
        parent = pending.pop()
        if parent not in found:
            found.add(parent)
            pending += needs(jobs[parent])
    return found


def terraform_commands(job: dict[str, Any]) -> list[tuple[int, str, str, str]]:
    """(step index, -chdir, subcommand, arguments) of every terraform invocation, in order."""
    commands = []
    for step_number, step in enumerate(job["steps"]):
        for line in (text.strip() for text in step.get("run", "").splitlines()):
            matches = list(TERRAFORM.finditer(line))
            assert len(matches) == len(ANY_TERRAFORM.findall(line)), f"terraform without -chdir: {line}"
            commands += [(step_number, match[1], match[2], match[3].strip()) for match in matches]
    return commands


def uses_step(job: dict[str, Any], action: str, name: str) -> int:
    return step_index(
        job, lambda step: step.get("uses", "").startswith(action) and step.get("with", {}).get("name") == name
    )


def run_step(job: dict[str, Any], line: str) -> int:
    return step_index(job, lambda step: line in [text.strip() for text in step.get("run", "").splitlines()])


def make_dry_run(arguments: list[str]) -> str:
    command = ["make", "--no-print-directory", "--dry-run", "--always-make", *arguments]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout


def test_ci_runs_make_test_on_pull_requests_with_cached_virtualenvs():
    ci = load(CI)
    assert set(ci["on"]) == {"pull_request"}, "main's commits are tested by the deploy run (its `test` job)"
    assert ci["concurrency"]["cancel-in-progress"] is True
    (job,) = ci["jobs"].values()
    assert run_lines(job)[-1] == "make test"
    cache = job["steps"][step_index(job, lambda step: step.get("uses", "").startswith("actions/cache@"))]
    assert set(cache["with"]["path"].split()) == {".venv", ".tools"}
    # Every lock decides what a venv holds, so every lock is in the key.
    assert "'requirements-dev.txt'" in cache["with"]["key"] and "'requirements/*.txt'" in cache["with"]["key"]
    assert "python-version" in cache["with"]["key"]
    assert cache["with"]["key"].startswith("venvs-") and "restore-keys" not in cache["with"]


def test_deploy_runs_on_main_and_by_dispatch_with_a_stage():
    triggers = load(DEPLOY)["on"]
    assert set(triggers) == {"push", "workflow_dispatch"} and triggers["push"]["branches"] == ["main"]
    stage = triggers["workflow_dispatch"]["inputs"]["stage"]
    assert stage["type"] == "choice" and stage["options"] == ["dev", "prod"] and stage["required"] is True


def test_nothing_deploys_unless_make_test_passed_in_the_same_run():
    """Issue 18, item 1: the deploy run starts with ci.yml's job, and every other job needs it."""
    jobs = load(DEPLOY)["jobs"]
    assert jobs["test"] == load(CI)["jobs"]["test"], "the deploy run tests exactly as CI does"
    assert run_lines(jobs["test"])[-1] == "make test"
    for job_id, job in jobs.items():
        if job_id != "test":
            assert "test" in ancestors(jobs, job_id), job_id
            # A status function would let a job run after a job it needs failed or was skipped.
            assert not re.search(r"\b(always|failure|cancelled)\(\)", str(job.get("if", ""))), job_id
    assumes_a_role = {job_id for job_id, job in jobs.items() if job["permissions"].get("id-token") == "write"}
    assert assumes_a_role == {*STAGE_JOBS, *DATA_JOBS}


def test_each_stage_plans_and_deploys_under_its_own_concurrency_group_never_cancelled():
    jobs = load(DEPLOY)["jobs"]
    assert set(jobs) == {"test", "build", *STAGE_JOBS, *DATA_JOBS}
    for job_id in STAGE_JOBS:
        stage = job_id.split("-")[1]
        assert jobs[job_id]["env"]["STAGE"] == stage
        assert jobs[job_id]["concurrency"] == {"group": f"deploy-{stage}", "cancel-in-progress": False}
    assert "concurrency" not in jobs["test"] and "concurrency" not in jobs["build"]


def test_prod_is_planned_after_dev_is_deployed_and_applied_after_the_production_reviewers_approve():
    jobs = load(DEPLOY)["jobs"]
    assert needs(jobs["plan-dev"]) == ["build"] and needs(jobs["deploy-dev"]) == ["build", "plan-dev"]
    assert needs(jobs["plan-prod"]) == ["build", "deploy-dev"] and needs(jobs["deploy-prod"]) == ["build", "plan-prod"]
    environments = {job_id: jobs[job_id]["environment"]["name"] for job_id in STAGE_JOBS}
    assert environments == {
        "plan-dev": "dev",
        "deploy-dev": "dev",
        "plan-prod": "production-plan",
        "deploy-prod": "production",
    }
    for job_id in ("plan-prod", "deploy-prod"):
        assert "refs/heads/main" in jobs[job_id]["if"] and "inputs.stage == 'prod'" in jobs[job_id]["if"]


def test_dev_and_prod_run_the_same_steps():
    jobs = load(DEPLOY)["jobs"]
    for kind in ("plan", "deploy"):
        dev, prod = jobs[f"{kind}-dev"], jobs[f"{kind}-prod"]
        assert dev["steps"] == prod["steps"], kind
        assert dev["permissions"] == prod["permissions"] and dev.get("outputs") == prod.get("outputs"), kind
        assert set(dev["env"]) == set(prod["env"]), kind


def test_reviewers_approve_a_published_plan_and_prod_applies_exactly_that_file():
    """Issue 18, item 3: the plan exists, readable, before the approval; the approved job applies that file."""
    jobs = load(DEPLOY)["jobs"]
    plan, apply = jobs["plan-prod"], jobs["deploy-prod"]
    plan_commands = [(subcommand, arguments) for _, _, subcommand, arguments in terraform_commands(plan)]
    # The plan carries the commit it deploys, which every answer then names in X-Api-Version.
    assert ("plan", '-lock-timeout=5m -var "source_commit=$GITHUB_SHA" -out=plan.bin') in plan_commands
    assert "apply" not in [subcommand for subcommand, _ in plan_commands]
    summary = plan["steps"][step_index(plan, lambda step: "show -no-color" in step.get("run", ""))]
    assert '>> "$GITHUB_STEP_SUMMARY"' in summary["run"] and "build/plan/plan.txt" in summary["run"]
    assert 'mv "build/artifact/terraform-$STAGE/plan.bin" build/plan/plan.bin' in summary["run"]
    published = plan["steps"][uses_step(plan, UPLOAD_ACTION, "plan-${{ env.STAGE }}")]
    assert published["with"]["path"] == "build/plan" and published["with"]["if-no-files-found"] == "error"
    assert plan["outputs"]["plan-sha256"] == "${{ steps.seal.outputs.plan-sha256 }}"

    assert apply["environment"]["name"] == "production" and plan["environment"]["name"] != "production"
    assert apply["env"]["PLAN_SHA256"] == "${{ needs.plan-prod.outputs.plan-sha256 }}"
    downloaded = uses_step(apply, DOWNLOAD_ACTION, "plan-${{ env.STAGE }}")
    assert apply["steps"][downloaded]["with"]["path"] == "build/plan"
    verified = run_step(
        apply,
        "python3 scripts/operations/artifact.py verify build/plan"
        ' --manifest-sha256 "$PLAN_SHA256" --commit "$GITHUB_SHA" '
        '--bound-to "$MANIFEST_SHA256"',
    )
    commands = terraform_commands(apply)
    assert [subcommand for _, _, subcommand, _ in commands] == ["init", "init", "apply", "output"]
    (applied,) = [(index, arguments) for index, _, subcommand, arguments in commands if subcommand == "apply"]
    # The saved plan, and nothing that would make terraform plan again or widen what it applies.
    assert applied[1] == '-lock-timeout=5m "$GITHUB_WORKSPACE/build/plan/plan.bin"'
    assert downloaded < verified < applied[0]


def test_no_job_installs_anything_once_it_holds_aws_credentials():
    """Issue 18, item 4: every install happens before the role is assumed; after it, only what is installed runs."""
    for job_id, job in load(DEPLOY)["jobs"].items():
        role = [index for index, step in enumerate(job["steps"]) if CREDENTIALS_ACTION in step.get("uses", "")]
        if not role:
            continue
        (role,) = role
        after = job["steps"][role + 1 :]
        assert [step["uses"] for step in after if "uses" in step and not step["uses"].startswith(UPLOAD_ACTION)] == []
        for step in after:
            for line in filter(None, (text.strip() for text in step.get("run", "").splitlines())):
                assert not INSTALLERS.search(line), (job_id, line)
                if line.startswith("make "):
                    recipe = make_dry_run(shlex.split(line)[1:])
                    assert not INSTALLERS.search(recipe), (job_id, line, recipe)
        # terraform init after the role only connects the backend: the providers were installed before it.
        inits = [
            (index, chdir, arguments)
            for index, chdir, command, arguments in terraform_commands(job)
            if command == "init"
        ]
        before = {chdir for index, chdir, arguments in inits if index < role and "-backend=false" in arguments}
        for index, chdir, arguments in inits:
            if index > role:
                # -plugin-dir: only what is installed in the directory; no download, not even a registry lookup.
                assert chdir in before and "-lockfile=readonly -plugin-dir=.terraform/providers" in arguments, (
                    job_id,
                    arguments,
                )
        if any(".venv/bin/" in line for step in after for line in step.get("run", "").splitlines()):
            assert "make install" in run_lines({"steps": job["steps"][:role]}), job_id


def test_one_job_without_credentials_builds_the_artifact_and_every_stage_verifies_and_uses_exactly_it():
    """Issue 18, item 7: built once, promoted unchanged, its checksum checked before any terraform command."""
    jobs = load(DEPLOY)["jobs"]
    build = jobs["build"]
    assert "id-token" not in build["permissions"]
    assert run_step(build, BUILD_ARTIFACT) < uses_step(build, UPLOAD_ACTION, "deploy-artifact")
    published = build["steps"][uses_step(build, UPLOAD_ACTION, "deploy-artifact")]
    assert published["with"]["path"] == "build/artifact" and published["with"]["if-no-files-found"] == "error"
    assert build["outputs"]["manifest-sha256"] == "${{ steps.build.outputs.manifest-sha256 }}"
    assert "sha256sum build/artifact/manifest.json" in build["steps"][run_step(build, BUILD_ARTIFACT)]["run"]
    rebuilds = re.compile(r"make (terraform|artifact|package|deploy)\b|export_terraform|chalice package")
    for job_id in STAGE_JOBS:
        job = jobs[job_id]
        assert "build" in needs(job) and job["env"]["MANIFEST_SHA256"] == "${{ needs.build.outputs.manifest-sha256 }}"
        downloaded = uses_step(job, DOWNLOAD_ACTION, "deploy-artifact")
        assert job["steps"][downloaded]["with"]["path"] == "build/artifact"
        verified = run_step(job, VERIFY_ARTIFACT)
        commands = terraform_commands(job)
        assert commands and {chdir for _, chdir, _, _ in commands} == {STAGE_DIR}, job_id
        assert downloaded < verified < min(index for index, _, _, _ in commands), job_id
        assert not [line for line in run_lines(job) if rebuilds.search(line)], job_id


def test_the_state_is_locked_one_way_the_s3_lockfile_in_the_workflow_and_the_docs():
    """Issue 18, item 8: use_lockfile (Terraform 1.10+) everywhere, and no DynamoDB lock table anywhere."""
    workflow = load(DEPLOY)
    version = tuple(int(part) for part in workflow["env"]["TERRAFORM_VERSION"].split("."))
    assert version >= (1, 10), "S3 native locking (use_lockfile) needs Terraform 1.10"
    for job_id in STAGE_JOBS:
        job = workflow["jobs"][job_id]
        backend = job["steps"][step_index(job, lambda step: 'backend "s3"' in step.get("run", ""))]["run"]
        assert 'key          = "llm-scores/$STAGE.tfstate"' in backend
        assert f'cat > "{STAGE_DIR}/backend.tf"' in backend
        assert re.search(r"^\s*use_lockfile\s*=\s*true$", backend, re.M) and "dynamodb_table" not in backend
        assert set(
            job["steps"][step_index(job, lambda step: 'backend "s3"' in step.get("run", ""))]["env"].values()
        ) == {
            "${{ vars.TF_STATE_BUCKET }}",
            "${{ vars.TF_STATE_REGION }}",
        }
    for document in (PROJECT_ROOT / "docs" / "deploy.md", PROJECT_ROOT / "docs" / "delivery.md"):
        text = document.read_text()
        assert re.search(r"^\s*use_lockfile\s*=\s*true\b", text, re.M), document.name
        assert not re.search(r"\bdynamodb_table\s*=", text), document.name


def test_make_terraform_copies_in_a_backend_file_for_operators():
    exported = make_dry_run(["terraform", "STAGE=dev", "BACKEND_FILE=/tmp/backend-dev.tf"]).splitlines()[-1]
    assert exported.endswith('--stage dev --out build/terraform-dev --backend-file "/tmp/backend-dev.tf"')
    assert "--backend-file" not in make_dry_run(["terraform", "STAGE=dev"])


def test_make_deploy_passes_force_and_clear_weights_to_the_script():
    forced = make_dry_run(["deploy", "STAGE=prod", "TARGET_VERSION=42", "FORCE=1"]).splitlines()[-1]
    assert forced.endswith('--target-version "42" --force ')
    cleared = make_dry_run(["deploy", "STAGE=prod", "CLEAR_WEIGHTS=1"]).splitlines()[-1]
    assert cleared.rstrip().endswith("--clear-weights") and "--force" not in cleared
    plain = make_dry_run(["deploy", "STAGE=prod"]).splitlines()[-1]
    assert "--force" not in plain and "--clear-weights" not in plain


def test_no_expression_is_expanded_inside_a_shell_script():
    # Values reach `run:` through `env:`, so no input or variable is ever pasted into shell source.
    for workflow in (CI, DEPLOY):
        for job_id, step in steps(load(workflow)):
            assert "${{" not in step.get("run", ""), (workflow.name, job_id, step.get("name"))


# --- data changes (issue 20) --------------------------------------------------------------------------------------

DATA_PLAN_COMMAND = (
    '.venv/bin/python scripts/operations/data_plan.py plan --stage "$STAGE" --prune '
    "--out build/data-plan/plan.json --markdown build/data-plan/plan.md"
)
DATA_APPLY_COMMAND = (
    '.venv/bin/python scripts/operations/data_plan.py apply --stage "$STAGE" --plan build/data-plan/plan.json'
)


def test_data_is_planned_after_the_tests_and_applied_after_its_plan_in_the_same_environments_as_code():
    jobs = load(DEPLOY)["jobs"]
    for stage in ("dev", "prod"):
        plan, apply = jobs[f"data-plan-{stage}"], jobs[f"data-apply-{stage}"]
        assert needs(plan) == ["test"] and needs(apply) == [f"data-plan-{stage}"]
        for job in (plan, apply):
            assert job["env"]["STAGE"] == stage
            assert job["concurrency"] == {"group": f"data-{stage}", "cancel-in-progress": False}
        # Only a plan that writes something reaches the apply job, and so asks the reviewers.
        assert f"needs.data-plan-{stage}.outputs.writes == 'true'" in apply["if"]
    environments = {job_id: jobs[job_id]["environment"]["name"] for job_id in DATA_JOBS}
    assert environments == {
        "data-plan-dev": "dev",
        "data-apply-dev": "dev",
        "data-plan-prod": "production-plan",
        "data-apply-prod": "production",
    }
    assert "refs/heads/main" in jobs["data-plan-prod"]["if"] and "refs/heads/main" in jobs["data-apply-prod"]["if"]


def test_dev_and_prod_data_jobs_run_the_same_steps():
    jobs = load(DEPLOY)["jobs"]
    for kind in ("data-plan", "data-apply"):
        dev, prod = jobs[f"{kind}-dev"], jobs[f"{kind}-prod"]
        assert dev["steps"] == prod["steps"], kind
        assert dev["permissions"] == prod["permissions"] and dev.get("outputs") == prod.get("outputs"), kind
        assert set(dev["env"]) == set(prod["env"]), kind


def test_the_data_plan_is_shown_published_and_applied_exactly_with_the_data_role_after_installs():
    jobs = load(DEPLOY)["jobs"]
    plan, apply = jobs["data-plan-prod"], jobs["data-apply-prod"]
    role = step_index(plan, lambda step: CREDENTIALS_ACTION in step.get("uses", ""))
    assert plan["steps"][role]["with"]["role-to-assume"] == "${{ vars.AWS_DATA_ROLE_ARN }}"
    assert run_step(plan, "make install") < role < run_step(plan, DATA_PLAN_COMMAND)
    # The plan only runs when the push changed the stage's data file.
    changed = step_index(plan, lambda step: step.get("id") == "changed")
    assert changed < role and 'git diff --quiet "$BEFORE_SHA" "$GITHUB_SHA" -- "$file"' in plan["steps"][changed]["run"]
    assert plan["env"]["BEFORE_SHA"] == "${{ github.event.before }}"
    assert plan["steps"][role]["if"] == "steps.changed.outputs.changed == 'true'"
    assert "--allow-mass-delete" not in str(plan)
    summary = plan["steps"][step_index(plan, lambda step: step.get("id") == "seal")]["run"]
    assert 'cat build/data-plan/plan.md >> "$GITHUB_STEP_SUMMARY"' in summary
    assert "sha256sum build/data-plan/plan.json" in summary
    published = plan["steps"][uses_step(plan, UPLOAD_ACTION, "data-plan-${{ env.STAGE }}")]
    assert published["with"]["path"] == "build/data-plan" and published["with"]["if-no-files-found"] == "error"
    assert plan["outputs"]["plan-sha256"] == "${{ steps.seal.outputs.plan-sha256 }}"

    assert apply["env"]["PLAN_SHA256"] == "${{ needs.data-plan-prod.outputs.plan-sha256 }}"
    downloaded = uses_step(apply, DOWNLOAD_ACTION, "data-plan-${{ env.STAGE }}")
    verified = run_step(apply, 'echo "$PLAN_SHA256  build/data-plan/plan.json" | sha256sum --check --strict')
    role = step_index(apply, lambda step: CREDENTIALS_ACTION in step.get("uses", ""))
    assert apply["steps"][role]["with"]["role-to-assume"] == "${{ vars.AWS_DATA_ROLE_ARN }}"
    applied = run_step(apply, DATA_APPLY_COMMAND)
    assert run_step(apply, "make install") < downloaded < verified < role < applied
    # Nothing in the data jobs plans again or writes any other way.
    assert [line for line in run_lines(apply) if "data_plan.py" in line] == [DATA_APPLY_COMMAND]
    assert not [line for line in run_lines(apply) if "seed_data" in line or "terraform" in line]


def test_the_workflows_data_commands_are_what_make_data_plan_and_data_apply_run():
    planned = make_dry_run(["data-plan", "STAGE=dev", "PRUNE=1"]).splitlines()[-1]
    assert "scripts/operations/data_plan.py plan --stage dev --out build/data-plan-dev.json" in planned
    assert planned.rstrip().endswith("--prune")
    applied = make_dry_run(["data-apply", "STAGE=dev"]).splitlines()[-1]
    assert applied.endswith("scripts/operations/data_plan.py apply --stage dev --plan build/data-plan-dev.json")
