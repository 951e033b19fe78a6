"""The GitHub workflows: GitHub's schema, zizmor's security audit, and the structure a reviewer would check by hand.

Both linters run offline from their own tool venv (`make workflow-lint`, which `make test`
depends on). Each gate is also run against a deliberately bad workflow, so a broken gate fails here too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.local_stack import PROJECT_ROOT, free_port

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


def test_the_tool_venv_holds_the_versions_the_makefile_pins(tools):
    makefile = MAKEFILE.read_text()
    zizmor_version = re.search(r"^ZIZMOR_VERSION := (\S+)$", makefile, re.M)
    schema_version = re.search(r"^CHECK_JSONSCHEMA_VERSION := (\S+)$", makefile, re.M)
    assert zizmor_version and schema_version
    zizmor_out = subprocess.run([str(tools / "zizmor"), "--version"], capture_output=True, text=True, check=True)
    schema_out = subprocess.run(
        [str(tools / "check-jsonschema"), "--version"], capture_output=True, text=True, check=True
    )
    assert zizmor_out.stdout.split() == ["zizmor", zizmor_version.group(1)]
    assert schema_out.stdout.split()[-1] == schema_version.group(1)


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
    assert ".tools/workflow-lint" in dry_run.stdout and "zizmor==" in dry_run.stdout


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


def test_ci_runs_make_test_on_pull_requests_and_main_with_cached_virtualenvs():
    ci = load(CI)
    assert "pull_request" in ci["on"] and ci["on"]["push"]["branches"] == ["main"]
    assert ci["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"
    (job,) = ci["jobs"].values()
    assert run_lines(job)[-1] == "make test"
    cache = job["steps"][step_index(job, lambda step: step.get("uses", "").startswith("actions/cache@"))]
    assert set(cache["with"]["path"].split()) == {".venv", ".tools"}
    assert "requirements-dev.txt" in cache["with"]["key"] and "python-version" in cache["with"]["key"]
    assert cache["with"]["key"].startswith("venvs-") and "restore-keys" not in cache["with"]


def test_deploy_runs_on_main_and_by_dispatch_with_a_stage():
    triggers = load(DEPLOY)["on"]
    assert set(triggers) == {"push", "workflow_dispatch"} and triggers["push"]["branches"] == ["main"]
    stage = triggers["workflow_dispatch"]["inputs"]["stage"]
    assert stage["type"] == "choice" and stage["options"] == ["dev", "prod"] and stage["required"] is True


def test_each_stage_deploys_under_its_own_concurrency_group_never_cancelled():
    jobs = load(DEPLOY)["jobs"]
    assert set(jobs) == {"dev", "prod"}
    for stage, job in jobs.items():
        assert job["env"]["STAGE"] == stage
        assert job["concurrency"] == {"group": f"deploy-{stage}", "cancel-in-progress": False}


def test_prod_waits_for_dev_and_the_production_environments_reviewers():
    jobs = load(DEPLOY)["jobs"]
    assert jobs["prod"]["needs"] == "dev"
    assert jobs["prod"]["environment"]["name"] == "production"
    assert jobs["dev"]["environment"]["name"] == "dev"
    assert "refs/heads/main" in jobs["prod"]["if"] and "inputs.stage == 'prod'" in jobs["prod"]["if"]


def test_dev_and_prod_run_the_same_steps():
    jobs = load(DEPLOY)["jobs"]
    assert jobs["dev"]["steps"] == jobs["prod"]["steps"]


def test_each_stage_assumes_its_role_then_applies_deploys_and_smokes_in_order():
    job = load(DEPLOY)["jobs"]["prod"]
    role = step_index(job, lambda step: "configure-aws-credentials@" in step.get("uses", ""))
    credentials = job["steps"][role]["with"]
    assert set(credentials) == {"role-to-assume", "role-session-name", "aws-region"}
    order = [
        'make terraform STAGE="$STAGE" BACKEND_FILE="$RUNNER_TEMP/backend-$STAGE.tf"',
        'terraform -chdir="build/terraform-$STAGE" init',
        'terraform -chdir="build/terraform-$STAGE" plan -lock-timeout=5m -out=plan.bin',
        'terraform -chdir="build/terraform-$STAGE" apply -lock-timeout=5m plan.bin',
        'make deploy STAGE="$STAGE"',
        'url="$(terraform -chdir="build/terraform-$STAGE" output -raw EndpointURL)"',
        'make smoke URL="$url"',
    ]
    positions = [step_index(job, lambda step, line=line: line in step.get("run", "").splitlines()) for line in order]
    assert positions == sorted(positions) and role < positions[0]
    backend = job["steps"][step_index(job, lambda step: 'backend "s3"' in step.get("run", ""))]
    assert role < job["steps"].index(backend) < positions[0]
    assert 'key          = "llm-scores/$STAGE.tfstate"' in backend["run"]
    assert set(backend["env"].values()) == {"${{ vars.TF_STATE_BUCKET }}", "${{ vars.TF_STATE_REGION }}"}


def test_make_terraform_passes_the_backend_file_the_deploy_writes():
    def dry_run(*variables: str) -> str:
        command = ["make", "--no-print-directory", "--dry-run", "--always-make", "terraform", *variables]
        return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout

    exported = dry_run("STAGE=dev", "BACKEND_FILE=/runner/temp/backend-dev.tf").splitlines()[-1]
    assert exported.endswith('--stage dev --out build/terraform-dev --backend-file "/runner/temp/backend-dev.tf"')
    assert "--backend-file" not in dry_run("STAGE=dev")


def test_no_expression_is_expanded_inside_a_shell_script():
    # Values reach `run:` through `env:`, so no input or variable is ever pasted into shell source.
    for workflow in (CI, DEPLOY):
        for job_id, step in steps(load(workflow)):
            assert "${{" not in step.get("run", ""), (workflow.name, job_id, step.get("name"))
