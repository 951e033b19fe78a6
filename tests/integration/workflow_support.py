"""deploy.yml's own `run:` scripts, run with bash in a workspace laid out like a GitHub runner's.

Shared by tests/integration/test_workflow_terraform.py and tests/integration/test_provider_lock.py: a job's
steps by name, and the two environments a step runs in, before the role is assumed (providers from a local
mirror, where GitHub would use the registry) and after it (only the registry configured, every route to it dead).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from scripts.harness.local_stack import PROJECT_ROOT, free_port

DEPLOY = PROJECT_ROOT / ".github" / "workflows" / "deploy.yml"


def job_steps(job_id: str) -> dict[str, str]:
    """Each `run:` step of a job of deploy.yml, by its name."""
    workflow: dict[Any, Any] = yaml.safe_load(DEPLOY.read_text())
    return {step["name"]: step["run"] for step in workflow["jobs"][job_id]["steps"] if "run" in step}


def mirror_config(path: Path, mirror: Path) -> Path:
    """A Terraform CLI configuration that installs providers from `mirror` only."""
    path.write_text(f'provider_installation {{\n  filesystem_mirror {{ path = "{mirror}" }}\n}}\n')
    return path


class JobRunner:
    """One job's workspace, and the environment its steps see before and after the role is assumed."""

    def __init__(self, workspace: Path, installing_config: Path, stage: str = "dev") -> None:
        self.workspace = workspace
        self.summary = workspace / "summary.md"
        workspace.mkdir(parents=True, exist_ok=True)
        registry_only = workspace / "registry-only.tfrc"
        registry_only.write_text("provider_installation {\n  direct {}\n}\n")
        base = {key: value for key, value in os.environ.items() if not key.startswith(("TF_", "AWS_"))}
        base.update(
            STAGE=stage,
            GITHUB_WORKSPACE=str(workspace),
            GITHUB_SHA="0" * 40,
            GITHUB_STEP_SUMMARY=str(self.summary),
            GITHUB_OUTPUT=str(workspace / "output.txt"),
            TF_IN_AUTOMATION="true",
            TF_INPUT="false",
            # No version check against HashiCorp's servers: the only network these steps may use is their own.
            CHECKPOINT_DISABLE="1",
        )
        # Before the role: providers come from the mirror (on GitHub, from the registry).
        self.installing = {**base, "TF_CLI_CONFIG_FILE": str(installing_config)}
        # After the role: only the registry is configured, and every route to it is dead.
        dead = f"http://127.0.0.1:{free_port()}"
        self.credentialed = {
            **base,
            "TF_CLI_CONFIG_FILE": str(registry_only),
            **{name: dead for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")},
            "NO_PROXY": "",
        }

    def run(self, script: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", script],
            cwd=self.workspace,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def step(self, script: str, environment: dict[str, str]) -> str:
        result = self.run(script, environment)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout
