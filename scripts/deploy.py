"""Shifts a stage's `live` alias to the version `terraform apply` published, through CodeDeploy, and watches it.

    python scripts/deploy.py --stage prod [--export-dir build/terraform-prod] [--target-version 42]
    python scripts/deploy.py --stage prod --terraform-outputs outputs.json   # saved `terraform output -json`

`make deploy STAGE=prod` runs it after `terraform apply` in the stage's export directory. The apply
publishes a new version of the API function but leaves `live` where it is (Terraform ignores the
alias's version and weights). This script asks CodeDeploy to move `live` from the version it serves
to the new one, with the stage's deployment configuration (prod: 10% for 5 minutes, then the rest;
dev: all at once). CodeDeploy watches the stage's alarms and rolls back by itself on an alarm or a
failure; the script prints progress until the deployment succeeds, fails or rolls back.

Exit status: 0 when `live` serves the target version (or already did); 1 when the deployment failed or
was stopped (and, with automatic rollback, `live` went back); 2 when nothing was started because the
inputs are wrong; 3 when the watch timed out with the deployment still running in AWS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
LIVE_ALIAS = "live"
# `terraform output -json` names (infra/terraform/outputs.tf.json and codedeploy.tf.json).
OUTPUT_FUNCTION = "api_function_name"
OUTPUT_TARGET_VERSION = "api_function_published_version"
OUTPUT_ALIAS = "live_alias_name"
OUTPUT_APPLICATION = "codedeploy_application_name"
OUTPUT_DEPLOYMENT_GROUP = "codedeploy_deployment_group_name"
UNPUBLISHED = "$LATEST"

SUCCEEDED = "Succeeded"
FINISHED_BADLY = frozenset({"Failed", "Stopped"})

EXIT_DEPLOYED = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_TIMED_OUT = 3


class DeployError(RuntimeError):
    """Nothing was started: the stage, its outputs or AWS's view of the function do not add up."""


@dataclass(frozen=True)
class Target:
    """What to shift: the function, its alias, the CodeDeploy application and group, and the version to serve."""

    function_name: str
    alias: str
    application: str
    deployment_group: str
    target_version: str | None


@dataclass(frozen=True)
class Clients:
    lambda_: Any
    codedeploy: Any


def default_names(stage: str) -> dict[str, str]:
    """The names the export gives a stage's resources, derived as Chalice and the Terraform do.

    Used when no `terraform output` is at hand; tests/test_terraform_codedeploy.py holds the export to them.
    """
    config = json.loads(CHALICE_CONFIG.read_text())
    if stage not in config["stages"]:
        raise DeployError(f"no stage {stage!r} in .chalice/config.json")
    prefix = f"{config['app_name']}-{stage}"
    return {
        OUTPUT_FUNCTION: prefix,
        OUTPUT_ALIAS: LIVE_ALIAS,
        OUTPUT_APPLICATION: prefix,
        OUTPUT_DEPLOYMENT_GROUP: f"{prefix}-{LIVE_ALIAS}",
    }


def parse_terraform_outputs(text: str) -> dict[str, Any]:
    """`terraform output -json` ({name: {"value": ..., "type": ..., "sensitive": ...}}) as {name: value}."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise DeployError("terraform outputs: expected a JSON object")
    return {name: entry.get("value") for name, entry in document.items() if isinstance(entry, dict)}


def read_terraform_outputs(export_dir: Path, terraform: str = "terraform") -> dict[str, Any] | None:
    """The stage's outputs from its export directory, or None when there is no terraform or no directory."""
    executable = shutil.which(terraform)
    if executable is None or not export_dir.is_dir():
        return None
    result = subprocess.run(
        [executable, f"-chdir={export_dir}", "output", "-json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise DeployError(f"terraform output failed in {export_dir}:\n{result.stderr.strip()}")
    return parse_terraform_outputs(result.stdout)


def resolve_target(stage: str, outputs: Mapping[str, Any] | None, target_version: str | None) -> Target:
    """Names from the outputs where they exist, else the export's naming; the version from the flag, else outputs."""
    names = default_names(stage)
    published = None
    if outputs is not None:
        names.update({name: outputs[name] for name in names if isinstance(outputs.get(name), str)})
        published = outputs.get(OUTPUT_TARGET_VERSION)
    version = target_version or (str(published) if published is not None else None)
    return Target(
        function_name=names[OUTPUT_FUNCTION],
        alias=names[OUTPUT_ALIAS],
        application=names[OUTPUT_APPLICATION],
        deployment_group=names[OUTPUT_DEPLOYMENT_GROUP],
        target_version=version,
    )


def build_appspec(function_name: str, alias: str, current_version: str, target_version: str) -> dict[str, Any]:
    """The AppSpec that moves `alias` of `function_name` from `current_version` to `target_version`."""
    return {
        "version": 0.0,
        "Resources": [
            {
                function_name: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": function_name,
                        "Alias": alias,
                        "CurrentVersion": current_version,
                        "TargetVersion": target_version,
                    },
                }
            }
        ],
    }


def revision_for(appspec: Mapping[str, Any]) -> dict[str, Any]:
    """A CreateDeployment revision carrying the AppSpec inline; CodeDeploy checks it against the SHA-256."""
    content = json.dumps(appspec, sort_keys=True)
    return {
        "revisionType": "AppSpecContent",
        "appSpecContent": {"content": content, "sha256": hashlib.sha256(content.encode()).hexdigest()},
    }


def _client_error_code(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    code: str = response.get("Error", {}).get("Code", "")
    return code


def current_version(clients: Clients, target: Target) -> str:
    """The version `live` serves now; refuses an alias that is mid-shift (two versions with weights)."""
    try:
        alias = clients.lambda_.get_alias(FunctionName=target.function_name, Name=target.alias)
    except Exception as error:
        if _client_error_code(error) == "ResourceNotFoundException":
            raise DeployError(
                f"{target.function_name} has no alias {target.alias!r}: apply the stage with enable_live_alias first"
            ) from error
        raise
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if weights:
        shares = ", ".join(f"version {version} at {weight:.0%}" for version, weight in weights.items())
        raise DeployError(
            f"{target.alias} is mid-shift ({shares}): a deployment is running or was interrupted. "
            "Wait for it, or stop it in CodeDeploy, before starting another."
        )
    version: str = alias["FunctionVersion"]
    if not version.isdigit():
        raise DeployError(
            f"{target.alias} points at {version}: CodeDeploy shifts between published versions only. "
            "Point it at a published version first (aws lambda update-alias)."
        )
    return version


def require_published_version(clients: Clients, target: Target, version: str) -> None:
    if not version.isdigit():
        raise DeployError(f"target version must be a published version number, got {version!r}")
    try:
        clients.lambda_.get_function_configuration(FunctionName=target.function_name, Qualifier=version)
    except Exception as error:
        if _client_error_code(error) == "ResourceNotFoundException":
            raise DeployError(f"{target.function_name} has no version {version}") from error
        raise


def start_deployment(clients: Clients, target: Target, current: str, version: str) -> str:
    appspec = build_appspec(target.function_name, target.alias, current, version)
    try:
        created = clients.codedeploy.create_deployment(
            applicationName=target.application,
            deploymentGroupName=target.deployment_group,
            revision=revision_for(appspec),
            description=f"{target.function_name}:{target.alias} {current} -> {version}",
        )
    except Exception as error:
        code = _client_error_code(error)
        if code:
            raise DeployError(f"CodeDeploy refused the deployment ({code}): {error}") from error
        raise
    deployment_id: str = created["deploymentId"]
    return deployment_id


@dataclass
class Watch:
    """Polls one deployment until it ends or the deadline passes, printing what changed."""

    clients: Clients
    target: Target
    poll_seconds: float
    deadline: float
    say: Callable[[str], None]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def until_done(self, deployment_id: str, label: str = "deployment") -> dict[str, Any] | None:
        """The deployment's final GetDeployment info, or None if the deadline came first."""
        last_status = None
        last_traffic = None
        while True:
            info: dict[str, Any] = self.clients.codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            status = info["status"]
            if status != last_status:
                self.say(f"{label} {deployment_id}: {status}")
                last_status = status
            if status == SUCCEEDED or status in FINISHED_BADLY:
                return info
            traffic = self.traffic()
            if traffic and traffic != last_traffic:
                self.say(f"  traffic: {traffic}")
                last_traffic = traffic
            if self.clock() >= self.deadline:
                return None
            self.sleep(self.poll_seconds)

    def traffic(self) -> str:
        """How `live` splits requests between versions right now."""
        alias = self.clients.lambda_.get_alias(FunctionName=self.target.function_name, Name=self.target.alias)
        weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        if not weights:
            return f"version {alias['FunctionVersion']} at 100%"
        rest = 1 - sum(weights.values())
        parts = [f"version {alias['FunctionVersion']} at {rest:.0%}"]
        parts += [f"version {version} at {weight:.0%}" for version, weight in weights.items()]
        return ", ".join(parts)


def report_failure(info: Mapping[str, Any], say: Callable[[str], None]) -> str | None:
    """Prints why a deployment ended badly; returns the rollback deployment's id when CodeDeploy started one."""
    error = info.get("errorInformation") or {}
    if error:
        say(f"  reason: {error.get('code', 'unknown')}: {error.get('message', '')}".rstrip())
    rollback = info.get("rollbackInfo") or {}
    if rollback.get("rollbackMessage"):
        say(f"  rollback: {rollback['rollbackMessage']}")
    rollback_id: str | None = rollback.get("rollbackDeploymentId")
    return rollback_id


def say_now(text: str) -> None:
    """Progress goes out line by line, also when stdout is a pipe (CI)."""
    print(text, flush=True)


def deploy(
    clients: Clients,
    target: Target,
    *,
    timeout_seconds: float,
    poll_seconds: float,
    say: Callable[[str], None] = say_now,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Starts the shift and watches it; returns the exit status (see the module docstring)."""
    version = target.target_version
    if version is None:
        raise DeployError(
            "cannot tell which version to deploy: no terraform outputs (run terraform apply in the export "
            "directory, or pass --terraform-outputs) and no --target-version"
        )
    if version == UNPUBLISHED:
        say(
            f"Nothing to deploy: {target.function_name} publishes no versions (enable_live_alias is false), "
            "so API Gateway invokes $LATEST, which terraform apply already updated."
        )
        return EXIT_DEPLOYED
    current = current_version(clients, target)
    if current == version:
        say(f"Nothing to deploy: {target.function_name}:{target.alias} already serves version {version}.")
        return EXIT_DEPLOYED
    require_published_version(clients, target, version)
    direction = "back to" if int(version) < int(current) else "to"
    say(f"Shifting {target.function_name}:{target.alias} from version {current} {direction} version {version}")
    say(f"  CodeDeploy {target.application} / {target.deployment_group}")
    deployment_id = start_deployment(clients, target, current, version)
    watch = Watch(clients, target, poll_seconds, clock() + timeout_seconds, say, clock, sleep)
    info = watch.until_done(deployment_id)
    if info is None:
        say(
            f"Stopped watching after {timeout_seconds:.0f} s; deployment {deployment_id} is still running, "
            "and its alarms still guard it. Follow it with "
            f"`aws deploy get-deployment --deployment-id {deployment_id}`; stop it and roll back with "
            f"`aws deploy stop-deployment --deployment-id {deployment_id} --auto-rollback-enabled`."
        )
        return EXIT_TIMED_OUT
    if info["status"] == SUCCEEDED:
        say(f"Deployed: {target.function_name}:{target.alias} serves version {version}.")
        return EXIT_DEPLOYED
    say(f"Deployment {deployment_id} {info['status'].lower()}: {target.alias} was not moved to version {version}.")
    rollback_id = report_failure(info, say)
    if rollback_id:
        rollback = watch.until_done(rollback_id, label="rollback")
        if rollback is None:
            say(f"Rollback {rollback_id} is still running; check that {target.alias} returns to version {current}.")
        elif rollback["status"] == SUCCEEDED:
            say(f"Rolled back: {target.function_name}:{target.alias} serves version {current} again.")
        else:
            say(f"Rollback {rollback_id} {rollback['status'].lower()}: check {target.alias} by hand.")
            report_failure(rollback, say)
    else:
        say(f"No rollback was started. {target.alias} now: {watch.traffic()}")
    return EXIT_FAILED


def make_clients(region: str | None) -> Clients:
    """boto3 clients from the environment's credentials (CI: the OIDC role); AWS_ENDPOINT_URL redirects them."""
    import boto3

    session = boto3.session.Session(region_name=region)
    return Clients(lambda_=session.client("lambda"), codedeploy=session.client("codedeploy"))


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod", help="Chalice stage to deploy (default: prod)")
    parser.add_argument("--export-dir", type=Path, help="the stage's Terraform directory (build/terraform-STAGE)")
    parser.add_argument("--terraform-outputs", type=Path, help="a saved `terraform output -json` to read instead")
    parser.add_argument("--target-version", help="version to shift to (default: output api_function_published_version)")
    parser.add_argument("--timeout-seconds", type=float, default=1800, help="stop watching after this long (1800)")
    parser.add_argument("--poll-seconds", type=float, default=15, help="seconds between status checks (15)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, clients: Clients | None = None) -> int:
    arguments = parse_arguments(argv)
    try:
        if arguments.terraform_outputs is not None:
            outputs: dict[str, Any] | None = parse_terraform_outputs(arguments.terraform_outputs.read_text())
        else:
            export_dir = arguments.export_dir or ROOT / "build" / f"terraform-{arguments.stage}"
            outputs = read_terraform_outputs(export_dir)
            if outputs is None:
                print(f"No terraform outputs from {export_dir}: using the export's names for {arguments.stage!r}.")
        target = resolve_target(arguments.stage, outputs, arguments.target_version)
        return deploy(
            clients or make_clients(arguments.region),
            target,
            timeout_seconds=arguments.timeout_seconds,
            poll_seconds=arguments.poll_seconds,
        )
    except DeployError as error:
        print(f"deploy refused: {error}", file=sys.stderr)
        return EXIT_REFUSED


if __name__ == "__main__":
    sys.exit(main())
