"""The deploy workflow's own Terraform steps, run with a real terraform on a stand-in configuration.

deploy.yml's `run:` scripts are taken from the file and run with bash, as the runner would, in a
workspace laid out like the runner's. The configuration is a stand-in: it requires the AWS provider
(so there is a provider to install) but manages only a `terraform_data` resource, and its state is a
local backend instead of S3, so no AWS account is involved. What this proves about the real steps:

- the build job locks the providers, and the steps before the role install exactly that lock; the init
  after the role installs nothing:
  it runs with every network route dead and no provider source but what is already installed;
- the deploy job applies the plan file the plan job published, without planning again;
- a plan made stale by a later change to the state is refused, and nothing plans again silently.

It needs the terraform binary and a local mirror of the AWS provider (TERRAFORM_PROVIDER_MIRROR, by
default /opt/tf-plugins) and is skipped without them. GitHub's runners have neither.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from scripts.harness.local_stack import PROJECT_ROOT
from tests.integration.workflow_support import JobRunner, job_steps, mirror_config

pytestmark = pytest.mark.integration

INSTALL_STEP = "Install the Terraform providers the build locked (before any credentials)"
MIRROR = Path(os.environ.get("TERRAFORM_PROVIDER_MIRROR", "/opt/tf-plugins"))
TERRAFORM = shutil.which("terraform")

if TERRAFORM is None or not (MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
    pytest.skip("needs terraform and a local mirror of hashicorp/aws", allow_module_level=True)

# Beside the real versions.tf, so the providers it needs are the ones the build job locks.
STAND_IN = """
variable "release" {
  type    = string
  default = "planned"
}
# The workflow passes the commit it deploys (the real export declares the same variable).
variable "source_commit" {
  type    = string
  default = "unknown"
}
resource "terraform_data" "release" {
  input = var.release
}
output "EndpointURL" {
  value = "https://example.invalid/${terraform_data.release.output}"
}
"""


def lock_providers(tmp_path: Path) -> Path:
    """The build job's lock step, run: returns the provider lock it puts in the artifact."""
    workspace = tmp_path / "build-job"
    (workspace / "infra" / "terraform").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "infra" / "terraform" / "versions.tf", workspace / "infra" / "terraform")
    runner = JobRunner(workspace, mirror_config(tmp_path / "mirror.tfrc", MIRROR))
    runner.step(job_steps("build")["Lock the Terraform providers"], runner.installing)
    return workspace / "build" / "provider-lock" / ".terraform.lock.hcl"


def lay_out(workspace: Path, state: Path, lock: Path) -> Path:
    """What download and verify leave, plus the backend the workflow writes (here local, not S3)."""
    directory = workspace / "build" / "artifact" / "terraform-dev"
    directory.mkdir(parents=True)
    shutil.copy(lock, workspace / "build" / "artifact" / "terraform.lock.hcl")
    shutil.copy(PROJECT_ROOT / "infra" / "terraform" / "versions.tf", directory)
    (directory / "main.tf").write_text(STAND_IN)
    (directory / "backend.tf").write_text(f'terraform {{\n  backend "local" {{ path = "{state}" }}\n}}\n')
    return directory


@pytest.fixture
def planned(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The build's lock and the plan job's steps, run: returns the lock, the published plan bundle and the state."""
    lock = lock_providers(tmp_path)
    state = tmp_path / "state" / "dev.tfstate"
    state.parent.mkdir()
    workspace = tmp_path / "plan-job"
    lay_out(workspace, state, lock)
    runner = JobRunner(workspace, mirror_config(tmp_path / "mirror.tfrc", MIRROR))
    steps = job_steps("plan-dev")
    runner.step(steps[INSTALL_STEP], runner.installing)
    runner.step(steps["terraform init"], runner.credentialed)
    runner.step(steps["terraform plan"], runner.credentialed)
    runner.step(steps["Show the plan in the job summary"], runner.credentialed)
    summary = runner.summary.read_text()
    assert "## terraform plan: dev" in summary and "terraform_data.release" in summary
    return lock, workspace / "build" / "plan", state


def deploy_job(tmp_path: Path, lock: Path, plan_bundle: Path, state: Path) -> tuple[JobRunner, dict[str, str]]:
    """A fresh runner for the deploy job, holding the artifact and the downloaded plan bundle."""
    workspace = tmp_path / "deploy-job"
    lay_out(workspace, state, lock)
    shutil.copytree(plan_bundle, workspace / "build" / "plan")
    runner = JobRunner(workspace, mirror_config(tmp_path / "mirror.tfrc", MIRROR))
    steps = job_steps("deploy-dev")
    runner.step(steps[INSTALL_STEP], runner.installing)
    runner.step(steps["terraform init"], runner.credentialed)
    return runner, steps


def test_the_deploy_job_applies_the_published_plan_with_nothing_installed_after_the_role(planned, tmp_path):
    lock, plan_bundle, state = planned
    assert {path.name for path in plan_bundle.iterdir()} == {"plan.bin", "plan.txt"}
    runner, steps = deploy_job(tmp_path, lock, plan_bundle, state)
    applied = runner.step(steps["Apply the plan"], runner.credentialed)
    assert "Apply complete! Resources: 1 added" in applied
    (release,) = [resource for resource in json.loads(state.read_text())["resources"] if resource["name"] == "release"]
    assert release["instances"][0]["attributes"]["output"]["value"] == "planned"


def test_a_plan_made_stale_by_a_later_state_change_is_refused_and_not_planned_again(planned, tmp_path):
    lock, plan_bundle, state = planned
    runner, steps = deploy_job(tmp_path, lock, plan_bundle, state)
    # Someone else's apply lands between the plan and the approval.
    directory = runner.workspace / "build" / "artifact" / "terraform-dev"
    runner.step(f'terraform -chdir="{directory}" apply -auto-approve -var release=other', runner.credentialed)
    serial_before = state.read_text()

    refused = runner.run(steps["Apply the plan"], runner.credentialed)

    assert refused.returncode != 0
    assert "Saved plan is stale" in refused.stdout + refused.stderr
    assert state.read_text() == serial_before, "nothing was applied"
