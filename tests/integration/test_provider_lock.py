"""One Terraform provider lock per run: the build job makes or checks it, and every stage's jobs install exactly it.

deploy.yml's own `run:` scripts are taken from the file and run with bash and a real terraform, as the runner
would. Providers come from a filesystem mirror holding a stand-in `hashicorp/aws` package: `terraform init`
installs a provider and checks its hashes against the lock without ever starting it, so a stand-in is enough
to show which version each job installs and that a package other than the locked one is refused. The step after
the role runs with every network route dead. Skipped without the terraform binary.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.harness.local_stack import PROJECT_ROOT
from tests.integration.workflow_support import DEPLOY, JobRunner, job_steps, mirror_config

pytestmark = pytest.mark.integration

VERSIONS_TF = PROJECT_ROOT / "infra" / "terraform" / "versions.tf"
TERRAFORM = shutil.which("terraform")
LOCK_STEP = "Lock the Terraform providers"
INSTALL_STEP = "Install the Terraform providers the build locked (before any credentials)"
STAGE_JOBS = ("plan-dev", "deploy-dev", "plan-prod", "deploy-prod")

if TERRAFORM is None:
    pytest.skip("needs the terraform binary", allow_module_level=True)


def platform() -> str:
    version = subprocess.run([TERRAFORM, "version", "-json"], capture_output=True, text=True, check=True)
    return str(json.loads(version.stdout)["platform"])


class Mirror:
    """A filesystem mirror of stand-in `hashicorp/aws` packages, and the CLI configuration that uses only it."""

    def __init__(self, root: Path, versions: tuple[str, ...]) -> None:
        self.root = root / "mirror"
        self.config = mirror_config(root / "mirror.tfrc", self.root)
        for version in versions:
            self.publish(version, f"stand-in provider {version}")

    def publish(self, version: str, content: str) -> None:
        directory = self.root / "registry.terraform.io" / "hashicorp" / "aws" / version / platform()
        directory.mkdir(parents=True, exist_ok=True)
        binary = directory / f"terraform-provider-aws_v{version}_x5"
        binary.write_text(f"#!/bin/sh\necho '{content}' >&2\nexit 1\n")
        binary.chmod(0o755)


def job(workspace: Path, mirror: Mirror, stage: str = "dev") -> JobRunner:
    """A job's runner, in a workspace holding the repository's versions.tf."""
    (workspace / "infra" / "terraform").mkdir(parents=True)
    shutil.copy(VERSIONS_TF, workspace / "infra" / "terraform" / "versions.tf")
    return JobRunner(workspace, mirror.config, stage)


def receive_artifact(runner: JobRunner, lock: Path, stage: str) -> Path:
    """What download and verify leave: the build's lock beside the stage's Terraform (a local backend here)."""
    directory = runner.workspace / "build" / "artifact" / f"terraform-{stage}"
    directory.mkdir(parents=True)
    shutil.copy(VERSIONS_TF, directory / "versions.tf")
    state = runner.workspace / "state.tfstate"
    (directory / "backend.tf").write_text(f'terraform {{\n  backend "local" {{ path = "{state}" }}\n}}\n')
    shutil.copy(lock, runner.workspace / "build" / "artifact" / "terraform.lock.hcl")
    return directory


def locked_version(lock: Path) -> str:
    (line,) = [line for line in lock.read_text().splitlines() if line.strip().startswith("version ")]
    return line.split('"')[1]


def installed_versions(stage_directory: Path) -> list[str]:
    providers = stage_directory / ".terraform" / "providers" / "registry.terraform.io" / "hashicorp" / "aws"
    return sorted(path.name for path in providers.iterdir())


@pytest.fixture
def mirror(tmp_path: Path) -> Mirror:
    return Mirror(tmp_path, ("6.22.0", "6.23.0"))


@pytest.fixture
def build_lock(tmp_path: Path, mirror: Mirror) -> Path:
    """The build job's lock step, run with no lock committed: it locks the newest version the constraints allow."""
    build = job(tmp_path / "build-job", mirror)
    build.step(job_steps("build")[LOCK_STEP], build.installing)
    lock = build.workspace / "build" / "provider-lock" / ".terraform.lock.hcl"
    assert locked_version(lock) == "6.23.0"
    assert "No committed provider lock: this run locked" in (build.workspace / "summary.md").read_text()
    return lock


def test_the_build_passes_its_lock_to_the_artifact_and_no_stage_job_makes_its_own():
    build_script = job_steps("build")["Build the artifact"]
    assert "PROVIDER_LOCK=build/provider-lock/.terraform.lock.hcl" in build_script
    workflow: dict[Any, Any] = yaml.safe_load(DEPLOY.read_text())
    for job_id in STAGE_JOBS:
        inits = [
            line.strip()
            for entry in workflow["jobs"][job_id]["steps"]
            for line in entry.get("run", "").splitlines()
            if "terraform" in line and " init" in line
        ]
        assert len(inits) == 2 and all("-lockfile=readonly" in line for line in inits), (job_id, inits)


@pytest.mark.parametrize("job_id", STAGE_JOBS)
def test_every_stage_job_installs_exactly_the_version_the_build_locked(tmp_path, mirror, build_lock, job_id):
    stage = job_id.split("-")[1]
    runner = job(tmp_path / job_id, mirror, stage)
    directory = receive_artifact(runner, build_lock, stage)
    # A newer release published after the build must not reach prod: the lock, not the registry, decides.
    mirror.publish("6.24.0", "released after the build")
    runner.step(job_steps(job_id)[INSTALL_STEP], runner.installing)
    assert installed_versions(directory) == ["6.23.0"]
    assert (directory / ".terraform.lock.hcl").read_text() == build_lock.read_text(), "the lock is not rewritten"
    # After the role: the backend is connected with only what is installed, every route to a registry dead.
    runner.step(job_steps(job_id)["terraform init"], runner.credentialed)
    assert (directory / ".terraform.lock.hcl").read_text() == build_lock.read_text()


def test_a_provider_package_other_than_the_locked_one_is_refused(tmp_path, mirror, build_lock):
    runner = job(tmp_path / "plan-prod", mirror, "prod")
    directory = receive_artifact(runner, build_lock, "prod")
    mirror.publish("6.23.0", "the same version number, other bytes")
    refused = runner.run(job_steps("plan-prod")[INSTALL_STEP], runner.installing)
    assert refused.returncode != 0
    assert "checksum" in (refused.stdout + refused.stderr).lower()
    assert not (directory / ".terraform" / "providers").exists() or installed_versions(directory) == []


def test_a_committed_lock_is_checked_and_kept_not_upgraded(tmp_path, mirror, build_lock):
    committed = build_lock.read_text().replace('version     = "6.23.0"', 'version     = "6.22.0"')
    # 6.22.0's own hash, as `terraform providers lock` would have written it when the lock was committed.
    pinned = job(tmp_path / "pin", mirror)
    (pinned.workspace / "pin.tf").write_text(
        'terraform {\n  required_providers {\n    aws = { source = "hashicorp/aws", version = "6.22.0" }\n  }\n}\n'
    )
    (pinned.workspace / "infra" / "terraform" / "versions.tf").unlink()
    pinned.step("terraform init -backend=false", pinned.installing)
    hash_of_6_22 = [
        line for line in (pinned.workspace / ".terraform.lock.hcl").read_text().splitlines() if "h1:" in line
    ]
    original_hashes = [line for line in committed.splitlines() if "h1:" in line]
    committed = committed.replace(original_hashes[0], hash_of_6_22[0])

    build = job(tmp_path / "build-with-lock", mirror)
    (build.workspace / "infra" / "terraform" / ".terraform.lock.hcl").write_text(committed)
    build.step(job_steps("build")[LOCK_STEP], build.installing)
    made = build.workspace / "build" / "provider-lock" / ".terraform.lock.hcl"
    assert made.read_text() == committed, "the committed lock is used as it is, not upgraded to 6.23.0"
    assert not (build.workspace / "summary.md").exists(), "nothing to report: the committed lock was used"

    tampered = job(tmp_path / "build-with-bad-lock", mirror)
    (tampered.workspace / "infra" / "terraform" / ".terraform.lock.hcl").write_text(
        committed.replace(hash_of_6_22[0], original_hashes[0])
    )
    refused = tampered.run(job_steps("build")[LOCK_STEP], tampered.installing)
    assert refused.returncode != 0 and "checksum" in (refused.stdout + refused.stderr).lower()
