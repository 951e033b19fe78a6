"""The read-only checks: each one asks AWS whether one promise of the export holds in a deployed stage.

Each returns its one-line reason to pass, or raises `Failed` or `Skip` (framework.py). None of them writes.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from scripts.acceptance.framework import ACCEPTANCE_DOC, ROOT, Check, Failed, Skip, Stage

# The canonical user of CloudWatch's log delivery (S3 ACL grantee for CloudFront standard logs, AWS docs
# "Configure standard logging (legacy)"): the grant the bucket must carry.
CLOUDFRONT_LOG_DELIVERY_CANONICAL_ID = "c4c1ede66af53448b93c283ce9448c4ba468c9432aa01d700d3878632f77d2d0"
SLO_LONGEST_WINDOW_SECONDS = 259_200
# What the delivery doc says a deploy role needs beyond Terraform (docs/delivery.md, repository settings).
DEPLOY_ROLE_ACTIONS = (
    "codedeploy:CreateDeployment",
    "codedeploy:GetDeployment",
    "codedeploy:ListDeployments",
    "codedeploy:RegisterApplicationRevision",
    "codedeploy:GetApplicationRevision",
    "codedeploy:GetDeploymentConfig",
    "lambda:GetAlias",
    "lambda:GetFunctionConfiguration",
    "ssm:GetParameter",
    "ssm:PutParameter",
)
THROTTLED_METHOD_PATHS = ("*/*", "health/GET", "health/HEAD")
ACTION_PIN = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)(?:/[\w./-]*)?@([0-9a-f]{40})\s*#\s*(v[\w.-]+)")


def doc_section(anchor: str) -> str:
    return f"{ACCEPTANCE_DOC}#{anchor}"


def error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    return str((response or {}).get("Error", {}).get("Code", ""))


# --- the API and its table -------------------------------------------------------------------------------------


def api_smoke(stage: Stage) -> str:
    """The deployed API answers the contract (scripts/operations/smoke.py, standard library only)."""
    if not stage.api_url:
        raise Skip("no --api-url given (terraform output -raw EndpointURL)")
    from scripts.operations import smoke

    printed = io.StringIO()
    if not smoke.run(stage.api_url, smoke.DEFAULT_BUDGET_SECONDS, smoke.DEFAULT_REQUEST_TIMEOUT_SECONDS, printed):
        failures = [line.strip() for line in printed.getvalue().splitlines() if "FAIL" in line]
        raise Failed(f"smoke failed against {stage.api_url}: {failures[0] if failures else 'see make smoke'}")
    return f"make smoke's checks pass against {stage.api_url}"


def table_ready(stage: Stage) -> str:
    table = stage.client("dynamodb").describe_table(TableName=stage.table_name)["Table"]
    keys = [(key["AttributeName"], key["KeyType"]) for key in table["KeySchema"]]
    if keys != [("model_name", "HASH")]:
        raise Failed(f"{stage.table_name} keys are {keys}, expected model_name as the only (HASH) key")
    if table["TableStatus"] != "ACTIVE":
        raise Failed(f"{stage.table_name} is {table['TableStatus']}, not ACTIVE")
    return f"{stage.table_name} is ACTIVE, keyed by model_name, {table.get('ItemCount', 0)} items (DescribeTable)"


def point_in_time_recovery(stage: Stage) -> str:
    if stage.is_local:
        raise Skip("local stage: its table is created by make run, not by the export that turns PITR on")
    description = stage.client("dynamodb").describe_continuous_backups(TableName=stage.table_name)
    recovery = description["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
    if recovery.get("PointInTimeRecoveryStatus") != "ENABLED":
        raise Failed(f"{stage.table_name}: point-in-time recovery is {recovery.get('PointInTimeRecoveryStatus')}")
    earliest = recovery.get("EarliestRestorableDateTime")
    return f"{stage.table_name}: PITR ENABLED, restorable from {earliest}"


# --- alarms and the deployment that they stop ------------------------------------------------------------------


def _alarms(stage: Stage, prefix: str) -> list[dict[str, Any]]:
    paginator = stage.client("cloudwatch").get_paginator("describe_alarms")
    alarms: list[dict[str, Any]] = []
    for page in paginator.paginate(AlarmNamePrefix=prefix, AlarmTypes=["MetricAlarm"]):
        alarms.extend(page.get("MetricAlarms", []))
    return alarms


def slo_alarm_statistics(stage: Stage) -> str:
    """CloudWatch accepted the PR(:N) percentile-rank statistic and the 259,200 s window (PutMetricAlarm took them)."""
    stage.require_aws("the SLO burn-rate alarms")
    alarms = _alarms(stage, f"{stage.prefix}-slo-latency-")
    if not alarms:
        raise Failed(f"no alarm named {stage.prefix}-slo-latency-*: the SLO alarms were not created")
    stats = {
        query["MetricStat"]["Stat"] for alarm in alarms for query in alarm.get("Metrics", []) if "MetricStat" in query
    }
    periods = {
        query["MetricStat"]["Period"] for alarm in alarms for query in alarm.get("Metrics", []) if "MetricStat" in query
    }
    rank_stats = sorted(stat for stat in stats if stat.startswith("PR("))
    if not rank_stats:
        raise Failed(f"no PR(:N) statistic in {len(alarms)} latency alarms (found {sorted(stats)})")
    if SLO_LONGEST_WINDOW_SECONDS not in periods:
        raise Failed(f"no {SLO_LONGEST_WINDOW_SECONDS} s period in the latency alarms (found {sorted(periods)})")
    unknown = [alarm["AlarmName"] for alarm in alarms if alarm.get("StateValue") == "INSUFFICIENT_DATA"]
    suffix = f"; {len(unknown)} still INSUFFICIENT_DATA (normal before traffic)" if unknown else ""
    return (
        f"{len(alarms)} latency alarms hold {', '.join(rank_stats)} and a {SLO_LONGEST_WINDOW_SECONDS} s period{suffix}"
    )


def deployment_stops_on_alarm(stage: Stage) -> str:
    """The CodeDeploy group rolls back on its alarms, and every alarm it names exists (a missing one never fires)."""
    stage.require_aws("the CodeDeploy group")
    group_name = f"{stage.prefix}-live"
    group = stage.client("codedeploy").get_deployment_group(
        applicationName=stage.prefix, deploymentGroupName=group_name
    )["deploymentGroupInfo"]
    alarm_configuration = group.get("alarmConfiguration") or {}
    rollback = group.get("autoRollbackConfiguration") or {}
    names = [alarm["name"] for alarm in alarm_configuration.get("alarms", [])]
    if not alarm_configuration.get("enabled") or not names:
        raise Failed(f"{group_name}: alarm configuration is off or names no alarm")
    if not rollback.get("enabled") or "DEPLOYMENT_STOP_ON_ALARM" not in rollback.get("events", []):
        raise Failed(f"{group_name}: automatic rollback does not include DEPLOYMENT_STOP_ON_ALARM")
    found = stage.client("cloudwatch").describe_alarms(AlarmNames=names).get("MetricAlarms", [])
    missing = sorted(set(names) - {alarm["AlarmName"] for alarm in found})
    if missing:
        raise Failed(f"{group_name} watches alarms that do not exist: {', '.join(missing)}")
    return f"{group_name} rolls back on alarm; its {len(names)} alarms exist"


def live_alias_settled(stage: Stage) -> str:
    """No deployment left weights on `live` (CodeDeploy owns it; Terraform ignores its version and weights)."""
    stage.require_aws("the live alias")
    if not stage.setting("enable_live_alias"):
        raise Skip(f"{stage.name} publishes no versions (enable_live_alias is false): there is no live alias")
    alias = stage.client("lambda").get_alias(FunctionName=stage.prefix, Name="live")
    weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    if weights:
        raise Failed(f"live serves version {alias['FunctionVersion']} but also sends {weights}: weights left behind")
    return f"live serves version {alias['FunctionVersion']} alone"


def terraform_plan_clean(stage: Stage) -> str:
    """A plan after apply, and after CodeDeploy moved `live`, shows no changes (`-detailed-exitcode` 0)."""
    stage.require_aws("the stage's Terraform state")
    export_dir = stage.export_dir or ROOT / "build" / f"terraform-{stage.name}"
    if not (export_dir / ".terraform").is_dir():
        raise Skip(f"{export_dir} is not initialised: run terraform init there with the stage's backend")
    terraform = shutil.which("terraform")
    if terraform is None:
        raise Skip("terraform is not on the PATH")
    # -lock=false: a plan only reads, and an acceptance run must never hold the lock a deploy waits for.
    completed = stage.run_command(
        [terraform, f"-chdir={export_dir}", "plan", "-detailed-exitcode", "-lock=false", "-input=false", "-no-color"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if completed.returncode == 0:
        return f"terraform plan in {export_dir}: no changes"
    if completed.returncode == 2:
        changed = [line.strip() for line in completed.stdout.splitlines() if line.strip().startswith("# ")]
        raise Failed(f"terraform plan wants changes: {'; '.join(changed[:3]) or 'see terraform plan'}")
    last = (completed.stderr.strip().splitlines() or ["no output"])[-1]
    raise Failed(f"terraform plan exited {completed.returncode}: {last}")


# --- the front door --------------------------------------------------------------------------------------------


def _rest_api_id(stage: Stage) -> str:
    apis = stage.client("apigateway").get_rest_apis(limit=500).get("items", [])
    matches = [api["id"] for api in apis if api.get("name") == stage.prefix]
    if not matches:
        raise Failed(f"no REST API named {stage.prefix}")
    return str(matches[0])


def stage_throttle(stage: Stage) -> str:
    """Every method setting of the `api` stage carries the stage file's throttle (it applies per method)."""
    stage.require_aws("the API Gateway stage")
    if stage.setting("api_type") != "REST":
        raise Skip("HTTP API: its throttle is the stage's default route settings, not checked here yet")
    rate, burst = stage.setting("api_throttling_rate_limit"), stage.setting("api_throttling_burst_limit")
    settings = (
        stage.client("apigateway").get_stage(restApiId=_rest_api_id(stage), stageName="api").get("methodSettings", {})
    )
    wrong = []
    for path in THROTTLED_METHOD_PATHS:
        method = settings.get(path)
        if method is None:
            wrong.append(f"{path}: no settings")
        elif (method.get("throttlingRateLimit"), method.get("throttlingBurstLimit")) != (float(rate), int(burst)):
            wrong.append(f"{path}: {method.get('throttlingRateLimit')}/{method.get('throttlingBurstLimit')}")
    if wrong:
        raise Failed(f"throttle is not {rate}/{burst} req/s on every method: {'; '.join(wrong)}")
    return f"{rate} req/s, burst {burst} on {', '.join(THROTTLED_METHOD_PATHS)}"


def waf_logging(stage: Stage) -> str:
    stage.require_aws("WAF")
    if not stage.setting("waf_enabled"):
        raise Skip(f"WAF is off in {stage.name}")
    scope = "CLOUDFRONT" if stage.setting("cloudfront_enabled") else "REGIONAL"
    name = f"{stage.prefix}-cloudfront" if scope == "CLOUDFRONT" else f"{stage.prefix}-api"
    client = stage.client("wafv2")
    acls = [acl for acl in client.list_web_acls(Scope=scope, Limit=100).get("WebACLs", []) if acl["Name"] == name]
    if not acls:
        raise Failed(f"no {scope} web ACL named {name}")
    try:
        logging = client.get_logging_configuration(ResourceArn=acls[0]["ARN"])["LoggingConfiguration"]
    except Exception as error:
        if error_code(error) == "WAFNonexistentItemException":
            raise Failed(f"{name} has no logging configuration") from error
        raise
    destinations = logging.get("LogDestinationConfigs", [])
    if not destinations:
        raise Failed(f"{name} logs nowhere")
    redacted = [next(iter(field)) for field in logging.get("RedactedFields", [])]
    return f"{name} logs to {destinations[0]}; redacted: {', '.join(redacted) or 'nothing'}"


def cloudfront_logs(stage: Stage) -> str:
    """The log bucket grants CloudFront's log delivery and has received logs."""
    stage.require_aws("CloudFront")
    if not stage.setting("cloudfront_enabled"):
        raise Skip(f"CloudFront is off in {stage.name}")
    account = stage.client("sts").get_caller_identity()["Account"]
    bucket = f"{stage.prefix}-cloudfront-logs-{account}"
    s3 = stage.client("s3")
    grants = s3.get_bucket_acl(Bucket=bucket).get("Grants", [])
    if not any(grant.get("Grantee", {}).get("ID") == CLOUDFRONT_LOG_DELIVERY_CANONICAL_ID for grant in grants):
        raise Failed(f"{bucket}'s ACL does not grant CloudFront's log delivery (awslogsdelivery)")
    if not s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0):
        raise Failed(f"{bucket} grants log delivery but holds no log yet (logs arrive within an hour of traffic)")
    return f"{bucket} grants log delivery and holds logs"


# --- containers ------------------------------------------------------------------------------------------------


def _log_events(stage: Stage, group: str, pattern: str, hours: float = 24) -> list[dict[str, Any]]:
    start = int((time.time() - hours * 3600) * 1000)
    paginator = stage.client("logs").get_paginator("filter_log_events")
    events: list[dict[str, Any]] = []
    try:
        for page in paginator.paginate(logGroupName=group, filterPattern=pattern, startTime=start):
            events.extend(page.get("events", []))
    except Exception as error:
        if error_code(error) == "ResourceNotFoundException":
            raise Failed(f"no log group {group}") from error
        raise
    return events


def _json_lines(events: Iterable[dict[str, Any]], message: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The events whose JSON line has this `message`; matched here too, since a filter pattern is only a pre-filter."""
    lines = []
    for event in events:
        try:
            line = json.loads(event["message"][event["message"].index("{") :])
        except (ValueError, KeyError):
            continue
        if isinstance(line, dict) and line.get("message") == message:
            lines.append((event, line))
    return lines


def warm_up_containers(stage: Stage) -> str:
    """The warmer's last run reached WARMUP_CONCURRENCY distinct containers (its `warm-up` log line says so)."""
    stage.require_aws("the scheduled warmer")
    from scripts.operations.deploy import CHALICE_CONFIG

    stage_config = json.loads(CHALICE_CONFIG.read_text())["stages"].get(stage.name, {})
    wanted = int(stage_config.get("environment_variables", {}).get("WARMUP_CONCURRENCY", "0"))
    if wanted == 0:
        raise Skip(f"warm-up is off in {stage.name} (WARMUP_CONCURRENCY 0)")
    events = _log_events(stage, f"/aws/lambda/{stage.prefix}-warm_up", '{ $.message = "warm-up" }', hours=1)
    reports = [line for _, line in _json_lines(events, "warm-up")]
    if not reports:
        raise Failed("no warm-up report in the last hour: is the schedule enabled?")
    last = reports[-1]
    if last.get("distinct_containers", 0) < wanted:
        raise Failed(f"the last warm-up reached {last.get('distinct_containers')} of {wanted} containers")
    return f"the last warm-up reached {last['distinct_containers']} distinct containers of {wanted}"


def provisioned_init_cache_hit(stage: Stage) -> str:
    """A container that preloaded during init answers its first request from cache (X-Cache HIT)."""
    stage.require_aws("provisioned concurrency or SnapStart")
    if not stage.setting("provisioned_concurrency") and not stage.setting("snap_start_enabled"):
        raise Skip(f"{stage.name} has neither provisioned concurrency nor SnapStart: no init runs ahead of traffic")
    group = f"/aws/lambda/{stage.prefix}"
    preloads = _json_lines(_log_events(stage, group, '{ $.message = "catalogue preload" }'), "catalogue preload")
    streams = {event["logStreamName"] for event, _ in preloads}
    if not streams:
        raise Skip("no container preloaded in the last 24 h (no `catalogue preload` line)")
    requests = _json_lines(_log_events(stage, group, '{ $.message = "request" }'), "request")
    first_by_stream: dict[str, dict[str, Any]] = {}
    for event, line in sorted(requests, key=lambda pair: pair[0]["timestamp"]):
        if event["logStreamName"] in streams:
            first_by_stream.setdefault(event["logStreamName"], line)
    if not first_by_stream:
        raise Skip(f"{len(streams)} preloaded containers have served no request yet")
    misses = {stream: line.get("cache") for stream, line in first_by_stream.items() if line.get("cache") != "HIT"}
    if misses:
        raise Failed(
            f"{len(misses)} of {len(first_by_stream)} preloaded containers first answered "
            f"{sorted(set(map(str, misses.values())))}, not HIT"
        )
    return f"{len(first_by_stream)} preloaded containers answered their first request from cache (HIT)"


# --- the account -----------------------------------------------------------------------------------------------


def cost_alerts_encrypted_topic(stage: Stage) -> str:
    """The budget notifies an SNS topic that is KMS-encrypted and lets budgets.amazonaws.com publish and encrypt."""
    stage.require_aws("AWS Budgets")
    environment = stage.account_environment or ("prod" if stage.name == "prod" else "dev")
    account = stage.client("sts").get_caller_identity()["Account"]
    budget = f"llm-scores-{environment}-monthly"
    budgets = stage.client("budgets")
    try:
        notifications = budgets.describe_notifications_for_budget(AccountId=account, BudgetName=budget)["Notifications"]
    except Exception as error:
        if error_code(error) == "NotFoundException":
            raise Skip(f"no budget {budget}: the {environment} account's bootstrap has budgets off") from error
        raise
    topics = set()
    for notification in notifications:
        subscribers = budgets.describe_subscribers_for_notification(
            AccountId=account, BudgetName=budget, Notification=notification
        )["Subscribers"]
        topics |= {subscriber["Address"] for subscriber in subscribers if subscriber["SubscriptionType"] == "SNS"}
    if not topics:
        raise Failed(f"{budget} notifies no SNS topic")
    for topic in sorted(topics):
        attributes = stage.client("sns").get_topic_attributes(TopicArn=topic)["Attributes"]
        if not attributes.get("KmsMasterKeyId"):
            raise Failed(f"{topic} is not KMS-encrypted")
        if "budgets.amazonaws.com" not in attributes.get("Policy", ""):
            raise Failed(f"{topic}'s policy does not let budgets.amazonaws.com publish")
        key_policy = stage.client("kms").get_key_policy(KeyId=attributes["KmsMasterKeyId"], PolicyName="default")[
            "Policy"
        ]
        if "budgets.amazonaws.com" not in key_policy:
            raise Failed(f"{attributes['KmsMasterKeyId']}'s key policy does not let budgets.amazonaws.com encrypt")
    return f"{budget} notifies {len(topics)} KMS-encrypted topic(s) that budgets.amazonaws.com may publish to"


def _role_name(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def deploy_role_trust(stage: Stage) -> str:
    """The deploy role trusts GitHub's OIDC provider for exactly one repository and environment."""
    stage.require_aws("IAM")
    if not stage.deploy_role_arn or not stage.github_repository:
        raise Skip("pass --deploy-role-arn and --github-repository to check the OIDC trust")
    environment = stage.github_environment or ("production" if stage.name == "prod" else stage.name)
    role = stage.client("iam").get_role(RoleName=_role_name(stage.deploy_role_arn))["Role"]
    document = role["AssumeRolePolicyDocument"]
    if isinstance(document, str):  # IAM returns it URL-encoded; boto3 decodes it, other clients may not
        document = json.loads(unquote(document))
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    expected_subject = f"repo:{stage.github_repository}:environment:{environment}"
    for statement in statements:
        federated = statement.get("Principal", {}).get("Federated", "")
        if statement.get("Effect") != "Allow" or "token.actions.githubusercontent.com" not in str(federated):
            continue
        conditions = statement.get("Condition", {})
        equals = conditions.get("StringEquals", {})
        subject = equals.get("token.actions.githubusercontent.com:sub")
        if equals.get("token.actions.githubusercontent.com:aud") != "sts.amazonaws.com":
            raise Failed("the OIDC statement does not require audience sts.amazonaws.com")
        if subject != expected_subject or "StringLike" in conditions:
            raise Failed(f"the OIDC statement trusts {subject or conditions}, not exactly {expected_subject}")
        return f"{_role_name(stage.deploy_role_arn)} trusts only {expected_subject}"
    raise Failed(f"{_role_name(stage.deploy_role_arn)} has no Allow statement for token.actions.githubusercontent.com")


def deploy_role_permissions(stage: Stage) -> str:
    """The deploy role may make the calls scripts/operations/deploy.py makes (IAM policy simulator)."""
    stage.require_aws("IAM")
    if not stage.deploy_role_arn:
        raise Skip("pass --deploy-role-arn to simulate the deploy role's permissions")
    results = stage.client("iam").simulate_principal_policy(
        PolicySourceArn=stage.deploy_role_arn, ActionNames=list(DEPLOY_ROLE_ACTIONS)
    )["EvaluationResults"]
    denied = sorted(result["EvalActionName"] for result in results if result["EvalDecision"] != "allowed")
    if denied:
        raise Failed(f"denied: {', '.join(denied)}")
    return f"all {len(DEPLOY_ROLE_ACTIONS)} actions deploy.py needs are allowed"


def action_pins(stage: Stage) -> str:
    """Each pinned action SHA in .github/workflows is the commit its `# vX` tag names on GitHub."""
    if not stage.check_github:
        raise Skip("needs github.com: pass --check-github")
    pins = sorted(
        {
            match.groups()
            for path in (ROOT / ".github" / "workflows").glob("*.yml")
            for match in ACTION_PIN.finditer(path.read_text())
        }
    )
    if not pins:
        raise Failed("no pinned action found in .github/workflows")
    wrong = []
    for repository, sha, tag in pins:
        completed = stage.run_command(
            ["git", "ls-remote", f"https://github.com/{repository}", f"refs/tags/{tag}", f"refs/tags/{tag}^{{}}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        # An annotated tag lists the tag object and, as `^{}`, the commit it points at: either may be pinned.
        if completed.returncode != 0 or sha not in completed.stdout.split():
            wrong.append(f"{repository}@{tag}")
    if wrong:
        raise Failed(f"pins that are not their tag's commit: {', '.join(wrong)}")
    return f"{len(pins)} pinned actions match their tags on GitHub"


CHECKS: tuple[Check, ...] = (
    Check(
        "api_smoke",
        "The deployed API answers the contract, with its headers and caching",
        ("HTTPS",),
        doc_section("api_smoke"),
        api_smoke,
    ),
    Check(
        "table_ready",
        "The stage's table exists, is ACTIVE and keyed by model_name",
        ("dynamodb:DescribeTable",),
        doc_section("table_ready"),
        table_ready,
    ),
    Check(
        "point_in_time_recovery",
        "Point-in-time recovery is on for the table",
        ("dynamodb:DescribeContinuousBackups",),
        doc_section("point_in_time_recovery"),
        point_in_time_recovery,
    ),
    Check(
        "slo_alarm_statistics",
        "CloudWatch accepts the PR(:N) statistic and the 259,200 s period in the SLO alarms",
        ("cloudwatch:DescribeAlarms",),
        doc_section("slo_alarm_statistics"),
        slo_alarm_statistics,
    ),
    Check(
        "deployment_stops_on_alarm",
        "The CodeDeploy group rolls back on alarm, and the alarms it names exist",
        ("codedeploy:GetDeploymentGroup", "cloudwatch:DescribeAlarms"),
        doc_section("deployment_stops_on_alarm"),
        deployment_stops_on_alarm,
    ),
    Check(
        "live_alias_settled",
        "No deployment left traffic weights on the live alias",
        ("lambda:GetAlias",),
        doc_section("live_alias_settled"),
        live_alias_settled,
    ),
    Check(
        "terraform_plan_clean",
        "A second terraform plan shows no changes, also after CodeDeploy moved the alias",
        ("terraform plan (read-only, -lock=false)",),
        doc_section("terraform_plan_clean"),
        terraform_plan_clean,
    ),
    Check(
        "stage_throttle",
        "The stage throttle is set on every method of the REST stage",
        ("apigateway:GET /restapis, /stages",),
        doc_section("stage_throttle"),
        stage_throttle,
    ),
    Check(
        "waf_logging",
        "The web ACL logs its requests, with the redactions",
        ("wafv2:ListWebACLs", "wafv2:GetLoggingConfiguration"),
        doc_section("waf_logging"),
        waf_logging,
    ),
    Check(
        "cloudfront_logs",
        "CloudFront can write its logs to the log bucket, and does",
        ("sts:GetCallerIdentity", "s3:GetBucketAcl", "s3:ListBucket"),
        doc_section("cloudfront_logs"),
        cloudfront_logs,
    ),
    Check(
        "warm_up_containers",
        "The warm-up reaches WARMUP_CONCURRENCY distinct containers",
        ("logs:FilterLogEvents",),
        doc_section("warm_up_containers"),
        warm_up_containers,
    ),
    Check(
        "provisioned_init_cache_hit",
        "The first request after a provisioned or restored init is a cache hit",
        ("logs:FilterLogEvents",),
        doc_section("provisioned_init_cache_hit"),
        provisioned_init_cache_hit,
    ),
    Check(
        "cost_alerts_encrypted_topic",
        "Budget alerts reach a KMS-encrypted topic that Budgets may publish to",
        ("budgets:ViewBudget", "sns:GetTopicAttributes", "kms:GetKeyPolicy"),
        doc_section("cost_alerts_encrypted_topic"),
        cost_alerts_encrypted_topic,
    ),
    Check(
        "deploy_role_trust",
        "The deploy role trusts GitHub's OIDC for exactly its repository and environment",
        ("iam:GetRole",),
        doc_section("deploy_role_trust"),
        deploy_role_trust,
    ),
    Check(
        "deploy_role_permissions",
        "The deploy role may make every call the deploy script makes",
        ("iam:SimulatePrincipalPolicy",),
        doc_section("deploy_role_permissions"),
        deploy_role_permissions,
    ),
    Check(
        "action_pins",
        "Each pinned action SHA is the commit of the tag its comment names",
        ("git ls-remote github.com",),
        doc_section("action_pins"),
        action_pins,
    ),
)
