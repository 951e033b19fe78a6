"""Shifts a stage's `live` alias to the version `terraform apply` published, through CodeDeploy, and watches it.

    python scripts/operations/deploy.py --stage prod [--export-dir build/terraform-prod] [--target-version 42]
    python scripts/operations/deploy.py --stage prod --terraform-outputs outputs.json   # saved `terraform output -json`

`make deploy STAGE=prod` runs it after `terraform apply` in the stage's export directory. The apply
publishes a new version of the API function but leaves `live` where it is (Terraform ignores the
alias's version and weights). This script asks CodeDeploy to move `live` from the version it serves
to the new one, with the stage's deployment configuration (prod: 10% for 5 minutes, then the rest;
dev: all at once). The AppSpec names the stage's two hook functions (chalicelib/deploy_hooks.py):
BeforeAllowTraffic checks and warms the new version before any traffic reaches it, AfterAllowTraffic
checks the public URL once it serves. CodeDeploy watches the stage's alarms and rolls back by itself on
an alarm, a hook's Failed or any other failure; the script prints progress until the deployment
succeeds, fails or rolls back.

A rollback sticks. When a deployment to version N fails or is stopped (CodeDeploy rolls `live` back),
or when `--target-version` shifts `live` back from N by hand, N is recorded in the SSM parameter
`/<function>/rolled-back-versions`. Lambda tags only functions, not versions, and the next
`terraform apply` would remove a tag it does not manage, so the record lives outside Terraform.
A later run refuses to shift to a recorded version: an unchanged zip publishes no new version, so
the next push would otherwise undo the rollback. `--force` shifts anyway and, on success, clears the record.

    python scripts/operations/deploy.py --stage prod --target-version 42 --force   # make deploy ... FORCE=1
    python scripts/operations/deploy.py --stage prod --clear-weights               # make deploy ... CLEAR_WEIGHTS=1
    python scripts/operations/deploy.py --stage prod --record-rollback 42          # a rollback made outside this script

Exit status:
  0  `live` serves the target version (or already did), or --clear-weights / --record-rollback did their job
  1  the deployment failed or was stopped (with automatic rollback, `live` went back; the version is recorded)
  2  nothing was started: the stage, its outputs or AWS's view of the function do not add up
  3  the watch timed out; the deployment is still running in AWS, and its alarms still guard it
  4  another deployment of this group is in progress (its id is printed): nothing was started
  5  the target version was rolled back before: nothing was started (--force to deploy it anyway)
  6  `live` still carries weights from a deployment that ended without finishing: nothing was started
     (the message gives the command that clears them; --clear-weights does the same)
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
LIVE_ALIAS = "live"
# `terraform output -json` names (infra/terraform/outputs.tf and codedeploy.tf).
OUTPUT_FUNCTION = "api_function_name"
OUTPUT_TARGET_VERSION = "api_function_published_version"
OUTPUT_ALIAS = "live_alias_name"
OUTPUT_APPLICATION = "codedeploy_application_name"
OUTPUT_DEPLOYMENT_GROUP = "codedeploy_deployment_group_name"
OUTPUT_BEFORE_ALLOW_TRAFFIC_HOOK = "before_allow_traffic_hook_name"
OUTPUT_AFTER_ALLOW_TRAFFIC_HOOK = "after_allow_traffic_hook_name"
# The AppSpec's lifecycle events for Lambda, each run by the function app.py registers under the lower-cased name.
BEFORE_ALLOW_TRAFFIC = "BeforeAllowTraffic"
AFTER_ALLOW_TRAFFIC = "AfterAllowTraffic"
UNPUBLISHED = "$LATEST"

SUCCEEDED = "Succeeded"
FINISHED_BADLY = frozenset({"Failed", "Stopped"})
# Every status in which CodeDeploy counts a deployment as active (it refuses a second one for the group).
ACTIVE_STATUSES = ("Created", "Queued", "InProgress", "Baking", "Ready")
DEPLOYMENT_ID = re.compile(r"\bd-[A-Z0-9]{9}\b")
# The record of rolled-back versions is one standard-tier SSM parameter (4 KB): the newest entries stay.
ROLLBACK_RECORD_LIMIT = 20
ROLLBACK_REASON_LIMIT = 160

EXIT_DEPLOYED = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_TIMED_OUT = 3
EXIT_IN_PROGRESS = 4
EXIT_ROLLED_BACK_VERSION = 5
EXIT_LEFTOVER_WEIGHTS = 6


class DeployError(RuntimeError):
    """Nothing was started: the stage, its outputs or AWS's view of the function do not add up."""

    exit_status = EXIT_REFUSED


class DeploymentInProgressError(DeployError):
    """CodeDeploy is running another deployment of this group; starting one now would be refused."""

    exit_status = EXIT_IN_PROGRESS


class RolledBackVersionError(DeployError):
    """The target version was rolled back before; shifting to it again needs --force."""

    exit_status = EXIT_ROLLED_BACK_VERSION


class LeftoverWeightsError(DeployError):
    """`live` splits traffic, but no deployment is running: a shift ended without finishing."""

    exit_status = EXIT_LEFTOVER_WEIGHTS


@dataclass(frozen=True)
class Target:
    """What to shift: the function, its alias, the CodeDeploy application and group, and the version to serve."""

    function_name: str
    alias: str
    application: str
    deployment_group: str
    target_version: str | None
    # The functions CodeDeploy runs before and after moving traffic (chalicelib/deploy_hooks.py); a Failed from
    # either fails the deployment, and the group's automatic rollback moves `live` back.
    before_allow_traffic_hook: str | None = None
    after_allow_traffic_hook: str | None = None

    def hooks(self) -> dict[str, str]:
        named = {
            BEFORE_ALLOW_TRAFFIC: self.before_allow_traffic_hook,
            AFTER_ALLOW_TRAFFIC: self.after_allow_traffic_hook,
        }
        return {event: function for event, function in named.items() if function}


@dataclass(frozen=True)
class Clients:
    lambda_: Any
    codedeploy: Any
    ssm: Any


def default_names(stage: str) -> dict[str, str]:
    """The names the export gives a stage's resources, derived as Chalice and the Terraform do.

    Used when no `terraform output` is at hand; tests/terraform/test_codedeploy.py holds the export to them.
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
        # Chalice names each @app.lambda_function <app>-<stage>-<name>.
        OUTPUT_BEFORE_ALLOW_TRAFFIC_HOOK: f"{prefix}-before_allow_traffic",
        OUTPUT_AFTER_ALLOW_TRAFFIC_HOOK: f"{prefix}-after_allow_traffic",
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
        before_allow_traffic_hook=names[OUTPUT_BEFORE_ALLOW_TRAFFIC_HOOK],
        after_allow_traffic_hook=names[OUTPUT_AFTER_ALLOW_TRAFFIC_HOOK],
    )


def build_appspec(
    function_name: str,
    alias: str,
    current_version: str,
    target_version: str,
    hooks: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The AppSpec that moves `alias` of `function_name` from `current_version` to `target_version`.

    `hooks` maps a lifecycle event (BeforeAllowTraffic, AfterAllowTraffic) to the function CodeDeploy invokes.
    """
    appspec: dict[str, Any] = {
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
    if hooks:
        appspec["Hooks"] = [{event: function} for event, function in hooks.items()]
    return appspec


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


def _error_message(error: Exception) -> str:
    response = getattr(error, "response", None) or {}
    message: str = response.get("Error", {}).get("Message", "") or str(error)
    return message


def active_deployments(clients: Clients, target: Target) -> list[str]:
    """Ids of the group's deployments that CodeDeploy still counts as active (newest first, as it lists them)."""
    listed: list[str] = clients.codedeploy.list_deployments(
        applicationName=target.application,
        deploymentGroupName=target.deployment_group,
        includeOnlyStatuses=list(ACTIVE_STATUSES),
    )["deployments"]
    return listed


def in_progress_error(target: Target, deployment_ids: list[str]) -> DeploymentInProgressError:
    if not deployment_ids:
        return DeploymentInProgressError(
            f"CodeDeploy says another deployment of {target.deployment_group} is in progress, and did not name it: "
            f"list it with `aws deploy list-deployments --application-name {target.application} "
            f"--deployment-group-name {target.deployment_group} --include-only-statuses InProgress`"
        )
    running = deployment_ids[0]
    return DeploymentInProgressError(
        f"another deployment of {target.deployment_group} is in progress: {running}. Wait for it "
        f"(`aws deploy get-deployment --deployment-id {running}`), or stop it and roll back "
        f"(`aws deploy stop-deployment --deployment-id {running} --auto-rollback-enabled`), then run this again."
    )


def _weights(alias: Mapping[str, Any]) -> dict[str, float]:
    weights: dict[str, float] = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return weights


def clear_weights_command(target: Target, primary_version: str) -> str:
    return (
        f"aws lambda update-alias --function-name {target.function_name} --name {target.alias} "
        f"--function-version {primary_version} --routing-config '{{}}'"
    )


def get_alias(clients: Clients, target: Target) -> dict[str, Any]:
    try:
        alias: dict[str, Any] = clients.lambda_.get_alias(FunctionName=target.function_name, Name=target.alias)
    except Exception as error:
        if _client_error_code(error) == "ResourceNotFoundException":
            raise DeployError(
                f"{target.function_name} has no alias {target.alias!r}: apply the stage with enable_live_alias first"
            ) from error
        raise
    return alias


def current_version(clients: Clients, target: Target) -> str:
    """The version `live` serves now; an alias that splits traffic is refused, naming why it does."""
    alias = get_alias(clients, target)
    weights = _weights(alias)
    if weights:
        # Weights mean a shift is running, or one ended without finishing: the two need different actions.
        running = active_deployments(clients, target)
        if running:
            raise in_progress_error(target, running)
        shares = ", ".join(f"version {version} at {weight:.0%}" for version, weight in weights.items())
        primary = alias["FunctionVersion"]
        raise LeftoverWeightsError(
            f"{target.alias} still sends traffic to another version ({shares}), and no CodeDeploy deployment "
            f"of {target.deployment_group} is running: a shift was stopped without a rollback. Clear the weights, "
            f"so that version {primary} serves everything again, then run this again: "
            f"`make deploy STAGE=<stage> CLEAR_WEIGHTS=1`, or `{clear_weights_command(target, primary)}`."
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
    appspec = build_appspec(target.function_name, target.alias, current, version, target.hooks())
    try:
        created = clients.codedeploy.create_deployment(
            applicationName=target.application,
            deploymentGroupName=target.deployment_group,
            revision=revision_for(appspec),
            description=f"{target.function_name}:{target.alias} {current} -> {version}",
        )
    except Exception as error:
        code = _client_error_code(error)
        if code == "DeploymentLimitExceededException":
            named = DEPLOYMENT_ID.findall(_error_message(error))
            raise in_progress_error(target, named or active_deployments(clients, target)) from error
        if code:
            raise DeployError(f"CodeDeploy refused the deployment ({code}): {error}") from error
        raise
    deployment_id: str = created["deploymentId"]
    return deployment_id


def rollback_parameter(target: Target) -> str:
    """The SSM parameter that records the function's rolled-back versions (one per function, so per stage)."""
    return f"/{target.function_name}/rolled-back-versions"


def read_rolled_back(clients: Clients, target: Target) -> dict[str, dict[str, str]]:
    """{version: {"reason", "deployment", "recorded_at"}}; empty when nothing was ever rolled back.

    Any other failure refuses the deploy: without the record, a rolled-back version could go live again.
    """
    name = rollback_parameter(target)
    try:
        value = clients.ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except Exception as error:
        code = _client_error_code(error)
        if code == "ParameterNotFound":
            return {}
        if code:
            raise DeployError(
                f"cannot read the record of rolled-back versions, SSM parameter {name} ({code}): the deploy role "
                "needs ssm:GetParameter and ssm:PutParameter on it (docs/delivery.md)"
            ) from error
        raise
    try:
        record = json.loads(value)
    except json.JSONDecodeError as error:
        raise DeployError(f"SSM parameter {name} is not JSON: fix or delete it by hand") from error
    if not isinstance(record, dict):
        raise DeployError(f"SSM parameter {name} is not a JSON object: fix or delete it by hand")
    return record


def write_rolled_back(clients: Clients, target: Target, record: Mapping[str, Mapping[str, str]]) -> None:
    newest = sorted(record, key=lambda version: int(version) if version.isdigit() else -1)[-ROLLBACK_RECORD_LIMIT:]
    clients.ssm.put_parameter(
        Name=rollback_parameter(target),
        Description=(
            f"Versions of {target.function_name} that were rolled back; scripts/operations/deploy.py refuses them"
        ),
        Value=json.dumps({version: record[version] for version in newest}, sort_keys=True),
        Type="String",
        Overwrite=True,
    )


def rollback_entry(reason: str, deployment_id: str | None) -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"reason": reason[:ROLLBACK_REASON_LIMIT], "deployment": deployment_id or "", "recorded_at": now}


def record_rollback_by_hand(clients: Clients, target: Target, version: str, say: Callable[[str], None]) -> int:
    """For a rollback this script did not see (a hand `update-alias`, a stop after the watch timed out)."""
    if not version.isdigit():
        raise DeployError(f"--record-rollback needs a published version number, got {version!r}")
    record = read_rolled_back(clients, target)
    write_rolled_back(
        clients, target, {**record, version: rollback_entry("recorded by hand (--record-rollback)", None)}
    )
    say(f"Recorded: version {version} of {target.function_name} was rolled back; deploys refuse it without --force.")
    return EXIT_DEPLOYED


def record_rollback(
    clients: Clients, target: Target, version: str, reason: str, deployment_id: str | None, say: Callable[[str], None]
) -> None:
    """Adds `version` to the record; a failure is reported loudly with the command that records it by hand."""
    try:
        record = read_rolled_back(clients, target)
        write_rolled_back(clients, target, {**record, version: rollback_entry(reason, deployment_id)})
    except Exception as error:
        say(
            f"WARNING: could not record that version {version} was rolled back ({error}). Until it is recorded, "
            f"the next deploy may shift {target.alias} to it again: run "
            f"`python scripts/operations/deploy.py --stage <stage> --record-rollback {version}`."
        )
        return
    say(f"Recorded: version {version} of {target.function_name} was rolled back; deploys refuse it without --force.")


def forget_rollback(clients: Clients, target: Target, version: str, say: Callable[[str], None]) -> None:
    """After a forced deploy of a recorded version succeeded: it is live on purpose now."""
    try:
        record = read_rolled_back(clients, target)
        write_rolled_back(clients, target, {key: value for key, value in record.items() if key != version})
    except Exception as error:
        # Harmless to leave: the version is live, so a later run finds nothing to deploy, not a refusal.
        say(f"Note: version {version} stays in {rollback_parameter(target)} ({error}).")
        return
    say(f"Version {version} is live again on purpose: removed it from {rollback_parameter(target)}.")


def refuse_if_rolled_back(record: Mapping[str, Mapping[str, str]], target: Target, version: str) -> None:
    entry = record.get(version)
    if entry is None:
        return
    deployment = f" in deployment {entry['deployment']}" if entry.get("deployment") else ""
    raise RolledBackVersionError(
        f"version {version} of {target.function_name} was rolled back{deployment} "
        f"({entry.get('recorded_at', 'at an unknown time')}: {entry.get('reason', 'no reason recorded')}). "
        f"The outputs still name it because an unchanged zip publishes no new version. Fix the code and push, "
        f"so that a new version is published; or deploy it anyway with "
        f"`make deploy STAGE=<stage> TARGET_VERSION={version} FORCE=1` (scripts/operations/deploy.py --force)."
    )


def clear_weights(clients: Clients, target: Target, say: Callable[[str], None] = print) -> int:
    """Sends all of `live`'s traffic to its primary version again, unless a deployment is still shifting it."""
    alias = get_alias(clients, target)
    weights = _weights(alias)
    if not weights:
        say(f"{target.function_name}:{target.alias} serves version {alias['FunctionVersion']} alone: nothing to clear.")
        return EXIT_DEPLOYED
    running = active_deployments(clients, target)
    if running:
        raise in_progress_error(target, running)
    primary = alias["FunctionVersion"]
    clients.lambda_.update_alias(
        FunctionName=target.function_name,
        Name=target.alias,
        FunctionVersion=primary,
        RoutingConfig={"AdditionalVersionWeights": {}},
        # Fails instead of overwriting, should anything move the alias between the read and this write.
        RevisionId=alias["RevisionId"],
    )
    dropped = ", ".join(f"version {version} at {weight:.0%}" for version, weight in weights.items())
    say(f"Cleared: {target.function_name}:{target.alias} serves version {primary} alone (dropped {dropped}).")
    return EXIT_DEPLOYED


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
    force: bool = False,
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
    rolled_back = read_rolled_back(clients, target)
    if force and version in rolled_back:
        say(f"Version {version} was rolled back before; deploying it anyway (--force).")
    elif not force:
        refuse_if_rolled_back(rolled_back, target, version)
    require_published_version(clients, target, version)
    going_back = int(version) < int(current)
    say(
        f"Shifting {target.function_name}:{target.alias} from version {current} "
        f"{'back to' if going_back else 'to'} version {version}"
    )
    say(f"  CodeDeploy {target.application} / {target.deployment_group}")
    deployment_id = start_deployment(clients, target, current, version)
    watch = Watch(clients, target, poll_seconds, clock() + timeout_seconds, say, clock, sleep)
    info = watch.until_done(deployment_id)
    if info is None:
        say(
            f"Stopped watching after {timeout_seconds:.0f} s; deployment {deployment_id} is still running, "
            "and its alarms still guard it. Follow it with "
            f"`aws deploy get-deployment --deployment-id {deployment_id}`; stop it and roll back with "
            f"`aws deploy stop-deployment --deployment-id {deployment_id} --auto-rollback-enabled`. If it ends "
            "rolled back, record that: "
            f"`python scripts/operations/deploy.py --stage <stage> --record-rollback {version}`."
        )
        return EXIT_TIMED_OUT
    if info["status"] == SUCCEEDED:
        say(f"Deployed: {target.function_name}:{target.alias} serves version {version}.")
        if going_back:
            reason = f"live shifted back from it to version {version} by hand"
            record_rollback(clients, target, current, reason, deployment_id, say)
        if version in rolled_back:
            forget_rollback(clients, target, version, say)
        return EXIT_DEPLOYED
    report_bad_ending(watch, info, deployment_id, current, version)
    error = info.get("errorInformation") or {}
    reason = f"deployment {info['status'].lower()}: {error.get('code', 'no code')}: {error.get('message', '')}"
    record_rollback(clients, target, version, reason.rstrip(": "), deployment_id, say)
    return EXIT_FAILED


def report_bad_ending(watch: Watch, info: Mapping[str, Any], deployment_id: str, current: str, version: str) -> None:
    """Says why the deployment failed or stopped, and follows the rollback CodeDeploy started, if any."""
    say, alias = watch.say, watch.target.alias
    say(f"Deployment {deployment_id} {info['status'].lower()}: {alias} was not moved to version {version}.")
    rollback_id = report_failure(info, say)
    if not rollback_id:
        say(f"No rollback was started. {alias} now: {watch.traffic()}")
        return
    rollback = watch.until_done(rollback_id, label="rollback")
    if rollback is None:
        say(f"Rollback {rollback_id} is still running; check that {alias} returns to version {current}.")
    elif rollback["status"] == SUCCEEDED:
        say(f"Rolled back: {watch.target.function_name}:{alias} serves version {current} again.")
    else:
        say(f"Rollback {rollback_id} {rollback['status'].lower()}: check {alias} by hand.")
        report_failure(rollback, say)


def make_clients(region: str | None) -> Clients:
    """boto3 clients from the environment's credentials (CI: the OIDC role); AWS_ENDPOINT_URL redirects them."""
    import boto3

    session = boto3.session.Session(region_name=region)
    return Clients(lambda_=session.client("lambda"), codedeploy=session.client("codedeploy"), ssm=session.client("ssm"))


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod", help="Chalice stage to deploy (default: prod)")
    parser.add_argument("--export-dir", type=Path, help="the stage's Terraform directory (build/terraform-STAGE)")
    parser.add_argument("--terraform-outputs", type=Path, help="a saved `terraform output -json` to read instead")
    parser.add_argument("--target-version", help="version to shift to (default: output api_function_published_version)")
    parser.add_argument("--timeout-seconds", type=float, default=1800, help="stop watching after this long (1800)")
    parser.add_argument("--poll-seconds", type=float, default=15, help="seconds between status checks (15)")
    parser.add_argument("--region", help="AWS region (default: the environment's)")
    parser.add_argument("--force", action="store_true", help="shift even to a version that was rolled back before")
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--clear-weights",
        action="store_true",
        help="instead of deploying: send all of live's traffic to its primary version (no deployment may be running)",
    )
    action.add_argument(
        "--record-rollback",
        metavar="VERSION",
        help="instead of deploying: record VERSION as rolled back (for a rollback made outside this script)",
    )
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
        clients = clients or make_clients(arguments.region)
        if arguments.clear_weights:
            return clear_weights(clients, target, say_now)
        if arguments.record_rollback is not None:
            return record_rollback_by_hand(clients, target, arguments.record_rollback, say_now)
        return deploy(
            clients,
            target,
            timeout_seconds=arguments.timeout_seconds,
            poll_seconds=arguments.poll_seconds,
            force=arguments.force,
        )
    except DeployError as error:
        print(f"deploy refused: {error}", file=sys.stderr)
        return error.exit_status


if __name__ == "__main__":
    sys.exit(main())
