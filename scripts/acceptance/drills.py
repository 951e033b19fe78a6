"""The two opt-in drills: each writes, and each registers its undo before the write it undoes.

Rollback drill: deploy a version built to fail the pre-traffic hook, watch CodeDeploy roll it back, and see that
`live` serves the same version, alone, before and after.

Alarm drill: move the availability SLO's fast-burn pair into ALARM, watch the page composite fire and run its
SNS action, then put every alarm back in the state it was in. The burn-rate alarms read AWS/ApiGateway, a
namespace PutMetricData refuses (it is reserved for AWS), so no pushed value can move them: SetAlarmState is
the one way, and it is what AWS documents for testing alarm actions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from scripts.acceptance.checks import doc_section, error_code
from scripts.acceptance.framework import Check, Failed, Skip, Stage
from scripts.operations import deploy

ROLLBACK_DRILL_FLAG = "rollback-drill"
ALARM_DRILL_FLAG = "alarm-drill"
DRILL_REASON = "acceptance alarm drill (make acceptance)"
FINISHED = frozenset({"Succeeded", "Failed", "Stopped"})
DRILL_DESCRIPTION = "acceptance rollback drill"


def pre_traffic_hook_name(stage: Stage) -> str:
    """The BeforeAllowTraffic hook as Chalice names its `before_allow_traffic` function (app.py)."""
    return f"{stage.prefix}-before_allow_traffic"


def _live(stage: Stage) -> tuple[str, dict[str, float]]:
    alias = stage.client("lambda").get_alias(FunctionName=stage.prefix, Name=deploy.LIVE_ALIAS)
    return str(alias["FunctionVersion"]), dict((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {})


def _active(stage: Stage, application: str, group: str) -> list[str]:
    listed: list[str] = stage.client("codedeploy").list_deployments(
        applicationName=application, deploymentGroupName=group, includeOnlyStatuses=list(deploy.ACTIVE_STATUSES)
    )["deployments"]
    return listed


def _rollback_drill_preconditions(stage: Stage) -> tuple[str, str, str]:
    """The hook, the version live serves alone, and the drill version; Skip or Failed when a drill proves nothing."""
    stage.require_aws("CodeDeploy")
    if not stage.setting("enable_live_alias"):
        raise Skip(f"{stage.name} publishes no versions (enable_live_alias is false): nothing to shift")
    hook = pre_traffic_hook_name(stage)
    try:
        stage.client("lambda").get_function_configuration(FunctionName=hook)
    except Exception as error:
        if error_code(error) == "ResourceNotFoundException":
            raise Skip(
                f"no pre-traffic hook {hook} in this stage: nothing can fail a version before traffic"
            ) from error
        raise
    if not stage.drill_version:
        raise Skip("pass --rollback-drill-version N: a published version built to fail the pre-traffic check")
    before, weights = _live(stage)
    if weights:
        raise Failed(
            f"live already splits traffic ({weights}): settle it before drilling (make deploy CLEAR_WEIGHTS=1)"
        )
    if before == stage.drill_version:
        raise Failed(f"live already serves the drill version {before}")
    running = _active(stage, stage.prefix, f"{stage.prefix}-{deploy.LIVE_ALIAS}")
    if running:
        raise Skip(f"deployment {running[0]} is in progress: not drilling over it")
    return hook, before, stage.drill_version


def rollback_drill(stage: Stage) -> str:
    hook, before, drill_version = _rollback_drill_preconditions(stage)
    application, group = stage.prefix, f"{stage.prefix}-{deploy.LIVE_ALIAS}"
    codedeploy = stage.client("codedeploy")
    started: dict[str, str] = {}

    def put_live_back() -> None:
        version, left = _live(stage)
        if version != before or left:
            stage.client("lambda").update_alias(
                FunctionName=stage.prefix,
                Name=deploy.LIVE_ALIAS,
                FunctionVersion=before,
                RoutingConfig={"AdditionalVersionWeights": {}},
            )

    def stop_the_drill_deployment() -> None:
        # An interrupt can land after CodeDeploy took the deployment but before its id came back: then find it
        # among the group's active deployments by the description the drill gave it.
        deployment_ids = [started["id"]] if "id" in started else _active(stage, application, group)
        for deployment_id in deployment_ids:
            info = codedeploy.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
            ours = "id" in started or str(info.get("description", "")).startswith(DRILL_DESCRIPTION)
            if ours and info["status"] not in FINISHED:
                codedeploy.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=True)

    # Undone last-in first-out: the deployment is stopped first (a running one would move the alias again after
    # it was put back), and live is put back even when stopping failed.
    stage.cleanup.push(f"put live back on version {before}", put_live_back)
    stage.cleanup.push("stop the drill's deployment", stop_the_drill_deployment)
    appspec = deploy.build_appspec(stage.prefix, deploy.LIVE_ALIAS, before, drill_version)
    appspec["Hooks"] = [{"BeforeAllowTraffic": hook}]
    started["id"] = codedeploy.create_deployment(
        applicationName=application,
        deploymentGroupName=group,
        revision=deploy.revision_for(appspec),
        description=f"{DRILL_DESCRIPTION}: {before} -> {drill_version}, expected to fail before traffic",
    )["deploymentId"]

    def finished() -> str | None:
        info = codedeploy.get_deployment(deploymentId=started["id"])["deploymentInfo"]
        return str(info["status"]) if info["status"] in FINISHED else None

    status = stage.wait_until(f"the end of deployment {started['id']}", finished)
    if status == "Succeeded":
        raise Failed(f"deployment {started['id']} succeeded: version {drill_version} passed the pre-traffic hook")
    after, weights = _live(stage)
    if after != before or weights:
        raise Failed(f"after the rollback live serves {after} {weights or ''}, not {before} alone")
    return f"deployment {started['id']} {status.lower()} before traffic; live serves version {before} before and after"


def _states(stage: Stage, names: list[str]) -> dict[str, str]:
    answer = stage.client("cloudwatch").describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    alarms = answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", [])
    return {alarm["AlarmName"]: alarm["StateValue"] for alarm in alarms}


def _sns_action_since(stage: Stage, alarm: str, since: datetime) -> str | None:
    """The alarm's history line for an SNS action run since `since`; Failed when the action itself failed."""
    history = (
        stage.client("cloudwatch")
        .describe_alarm_history(
            AlarmName=alarm, HistoryItemType="Action", StartDate=since, ScanBy="TimestampDescending"
        )
        .get("AlarmHistoryItems", [])
    )
    for item in history:
        summary = str(item.get("HistorySummary", ""))
        if ":sns:" in summary and summary.startswith("Successfully executed action"):
            return summary
        if ":sns:" in summary and summary.startswith("Failed"):
            raise Failed(f"{alarm} could not notify: {summary}")
    return None


def alarm_drill(stage: Stage) -> str:
    stage.require_aws("CloudWatch alarms")
    windows = [f"{stage.prefix}-slo-availability-page-fast-1h", f"{stage.prefix}-slo-availability-page-fast-5m"]
    composite = f"{stage.prefix}-slo-availability-page"
    cloudwatch = stage.client("cloudwatch")
    before = _states(stage, [*windows, composite])
    missing = sorted(set(windows + [composite]) - set(before))
    if missing:
        raise Failed(f"alarms missing: {', '.join(missing)}")
    if "ALARM" in before.values():
        firing = ", ".join(name for name, state in before.items() if state == "ALARM")
        raise Skip(f"already in ALARM ({firing}): not drilling during an incident")
    drill_started = datetime.now(UTC)

    def restore_states() -> None:
        # Windows first, then the composite, which re-evaluates when a window changes.
        for name in [*windows, composite]:
            cloudwatch.set_alarm_state(AlarmName=name, StateValue=before[name], StateReason=f"{DRILL_REASON}: restored")

    stage.cleanup.push("put the drilled alarms back in their states", restore_states)
    for name in windows:
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason=DRILL_REASON)

    def composite_fired() -> str | None:
        return "ALARM" if _states(stage, [composite]).get(composite) == "ALARM" else None

    stage.wait_until(f"{composite} in ALARM", composite_fired)

    summary = stage.wait_until(f"{composite}'s SNS action", lambda: _sns_action_since(stage, composite, drill_started))
    return (
        f"{composite} fired and notified ({summary.split(' ')[-1]}); states restored to {sorted(set(before.values()))}"
    )


DRILLS: tuple[Check, ...] = (
    Check(
        "rollback_drill",
        "CodeDeploy rolls back a version that fails the pre-traffic check; live serves one version before and after",
        (
            "lambda:GetAlias",
            "lambda:GetFunctionConfiguration",
            "lambda:UpdateAlias",
            "codedeploy:ListDeployments",
            "codedeploy:CreateDeployment",
            "codedeploy:GetDeployment",
            "codedeploy:StopDeployment",
        ),
        doc_section("rollback_drill"),
        rollback_drill,
        drill_flag=ROLLBACK_DRILL_FLAG,
        writes="a CodeDeploy deployment of the drill version, stopped and live put back if it does not roll back",
    ),
    Check(
        "alarm_drill",
        "A burn-rate alarm in ALARM fires the page composite, which notifies its SNS topic",
        ("cloudwatch:SetAlarmState", "cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"),
        doc_section("alarm_drill"),
        alarm_drill,
        drill_flag=ALARM_DRILL_FLAG,
        writes="the states of the two page-fast availability alarms, put back afterwards",
    ),
)
