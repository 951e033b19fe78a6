"""The account-level bootstrap (infra/bootstrap/, exported by `export_terraform.py --bootstrap`).

API Gateway's CloudWatch Logs role is one setting per account and region, and Budgets and Cost Anomaly Detection
monitors are per account, so they have a Terraform root of their own instead of belonging to a stage. checkov scans
it in tests/terraform/test_export.py. What a plan decides is read with `support.Plan`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from scripts.operations import export_terraform
from tests.terraform.support import Export, Plan, read_terraform, strings

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "infra" / "bootstrap"
REFERENCE = re.compile(r"\b(var|local|aws_[a-z0-9_]+|data)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?")
COST_RESOURCES = (
    "aws_kms_key.cost_alerts",
    "aws_kms_alias.cost_alerts",
    "aws_sns_topic.cost_alerts",
    "aws_sns_topic_policy.cost_alerts",
    "aws_budgets_budget.monthly",
    "aws_ce_anomaly_monitor.services",
    "aws_ce_anomaly_subscription.cost_alerts",
)
TOPIC_RESOURCES = COST_RESOURCES[:4]


def stage_resource_kinds() -> set[str]:
    return {
        kind
        for document in read_terraform(ROOT / "infra" / "terraform").values()
        for kind in document.get("resource", {})
    }


def test_bootstrap_export_copies_every_terraform_file_and_nothing_else(bootstrap: Export) -> None:
    expected = sorted(path.name for path in BOOTSTRAP.iterdir() if path.name.endswith((".tf", ".tf.json")))
    assert sorted(path.name for path in bootstrap.directory.iterdir()) == expected
    assert "versions.tf" in expected and "api_gateway_account.tf" in expected


def test_bootstrap_registers_the_role_with_api_gateway_after_its_policy_is_attached(bootstrap: Export) -> None:
    plan = Plan(bootstrap, account_environment="dev")
    assert plan.resource("aws_api_gateway_account", "this") == {
        "cloudwatch_role_arn": "aws_iam_role.api_gateway_cloudwatch.arn",
        "depends_on": ["aws_iam_role_policy_attachment.api_gateway_cloudwatch"],
    }
    attachment = plan.resource("aws_iam_role_policy_attachment", "api_gateway_cloudwatch")
    assert attachment["role"] == plan.resource("aws_iam_role", "api_gateway_cloudwatch")["name"]
    assert attachment["policy_arn"] == "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    # The logging role is not optional: a count would bring back "which stage turns it on". The deploy pipeline's
    # roles are (pipeline_roles.tf: one per GitHub environment, once a repository is named).
    for kind in ("aws_iam_role", "aws_iam_role_policy_attachment", "aws_api_gateway_account"):
        for key, body in bootstrap.resources(kind).items():
            assert key.startswith("pipeline_") or ("count" not in body and "for_each" not in body), f"{kind}.{key}"


def test_bootstrap_role_trust_policy_is_exactly_the_one_aws_documents(bootstrap: Export) -> None:
    role = Plan(bootstrap, account_environment="dev").resource("aws_iam_role", "api_gateway_cloudwatch")
    assert json.loads(role["assume_role_policy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    # IAM names are global and the setting is regional: one bootstrap per region must not collide.
    assert role["name"] == "apigateway-cloudwatch-logs-eu-west-1"


def test_bootstrap_pins_the_same_terraform_and_provider_versions_as_a_stage(bootstrap: Export) -> None:
    def constraints(path: Path) -> list[str]:
        return [line.strip() for line in path.read_text().splitlines() if "version" in line and "=" in line]

    assert constraints(bootstrap.directory / "versions.tf") == constraints(ROOT / "infra" / "terraform" / "versions.tf")
    assert [name for name, document in bootstrap.files.items() if "terraform" in document] == ["versions.tf"]


def test_bootstrap_references_point_at_something_declared(bootstrap: Export) -> None:
    documents = bootstrap.files.values()
    resources = {(kind, key) for kind, key, _ in bootstrap.all_resources()}
    data = {(kind, key) for document in documents for kind, items in document.get("data", {}).items() for key in items}
    checked = 0
    for text in (text for document in documents for text in strings(document) if "${" in text):
        for kind, name, attribute in REFERENCE.findall(text):
            checked += 1
            if kind == "var":
                assert name in bootstrap.variables
            elif kind == "local":
                assert name in bootstrap.locals
            elif kind == "data":
                assert (name, attribute) in data
            else:
                assert (kind, name) in resources, f"{kind}.{name}"
    assert checked >= 6


def test_bootstrap_and_stage_exports_manage_disjoint_resources(bootstrap: Export) -> None:
    assert "aws_api_gateway_account" not in stage_resource_kinds()
    assert bootstrap.resources("aws_api_gateway_account")


def test_bootstrap_export_takes_a_backend_file(tmp_path: Path) -> None:
    backend = tmp_path / "backend.hcl"
    backend.write_text('terraform {\n  backend "s3" {}\n}\n')
    out = export_terraform.export_bootstrap(tmp_path / "out", backend)
    assert (out / "backend.tf").read_text() == backend.read_text()
    (out / "terraform.tfstate").write_text("{}")
    export_terraform.export_bootstrap(out)
    assert (out / "terraform.tfstate").exists(), "a re-export keeps local state"


# ---- cost controls: Budgets and Cost Anomaly Detection, account-wide -------------------------------------------


def planned_cost_resources(bootstrap: Export, **variables: object) -> set[str]:
    return Plan(bootstrap, **variables).planned(*COST_RESOURCES)


def test_cost_controls_are_on_by_default_only_in_the_prod_account(bootstrap: Export) -> None:
    assert planned_cost_resources(bootstrap, account_environment="prod") == set(COST_RESOURCES)
    assert planned_cost_resources(bootstrap, account_environment="dev") == set()
    # Another region's bootstrap of the prod account turns them off: a budget and a monitor are per account.
    assert (
        planned_cost_resources(
            bootstrap, account_environment="prod", budget_enabled=False, cost_anomaly_detection_enabled=False
        )
        == set()
    )
    budget_only = planned_cost_resources(bootstrap, account_environment="dev", budget_enabled=True)
    assert budget_only == {*TOPIC_RESOURCES, "aws_budgets_budget.monthly"}
    anomalies_only = planned_cost_resources(bootstrap, account_environment="prod", budget_enabled=False)
    assert anomalies_only == {
        *TOPIC_RESOURCES,
        "aws_ce_anomaly_monitor.services",
        "aws_ce_anomaly_subscription.cost_alerts",
    }


def test_account_environment_has_no_default_and_names_the_account(bootstrap: Export) -> None:
    assert "default" not in bootstrap.variables["account_environment"], "every bootstrap says whether it is prod"
    for name, accepted in (("prod", True), ("dev", True), ("staging-2", True), ("Prod", False), ("", False)):
        assert Plan(bootstrap, account_environment=name).valid("account_environment") is accepted, name


def test_budget_alerts_at_80_percent_actual_and_100_percent_forecast_to_the_cost_alert_topic(bootstrap: Export) -> None:
    plan = Plan(bootstrap, account_environment="prod", budget_monthly_limit_usd=250)
    budget = plan.resource("aws_budgets_budget", "monthly", 0)
    assert (budget["budget_type"], budget["time_unit"], budget["limit_unit"], budget["limit_amount"]) == (
        "COST",
        "MONTHLY",
        "USD",
        250,
    )
    alerts = {(n["notification_type"], n["threshold"], n["threshold_type"]) for n in budget["notification"]}
    assert alerts == {("ACTUAL", 80, "PERCENTAGE"), ("FORECASTED", 100, "PERCENTAGE")}
    for notification in budget["notification"]:
        assert notification["comparison_operator"] == "GREATER_THAN"
        assert notification["subscriber_sns_topic_arns"] == ["aws_sns_topic.cost_alerts[0].arn"]
    assert budget["depends_on"] == ["aws_sns_topic_policy.cost_alerts"]


def test_anomaly_subscription_sends_immediately_to_the_topic_above_a_dollar_impact(bootstrap: Export) -> None:
    plan = Plan(bootstrap, account_environment="prod", cost_anomaly_alert_threshold_usd=35)
    monitor = plan.resource("aws_ce_anomaly_monitor", "services", 0)
    assert (monitor["monitor_type"], monitor["monitor_dimension"]) == ("DIMENSIONAL", "SERVICE")
    subscription = plan.resource("aws_ce_anomaly_subscription", "cost_alerts", 0)
    # SNS subscribers get IMMEDIATE alerts only.
    assert subscription["frequency"] == "IMMEDIATE"
    assert subscription["subscriber"] == [{"type": "SNS", "address": "aws_sns_topic.cost_alerts[0].arn"}]
    assert subscription["monitor_arn_list"] == ["aws_ce_anomaly_monitor.services[0].arn"]
    (expression,) = subscription["threshold_expression"]
    # values is a list of strings in the provider's schema, which converts the number.
    assert expression["dimension"] == [
        {"key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE", "match_options": ["GREATER_THAN_OR_EQUAL"], "values": [35]}
    ]
    # An account holds one AWS-services monitor; an existing one is subscribed to instead of duplicated.
    existing = "arn:aws:ce::123456789012:anomalymonitor/abc"
    with_existing = Plan(bootstrap, account_environment="prod", cost_anomaly_monitor_arn=existing)
    assert with_existing.planned("aws_ce_anomaly_") == {"aws_ce_anomaly_subscription.cost_alerts"}
    assert with_existing.resource("aws_ce_anomaly_subscription", "cost_alerts", 0)["monitor_arn_list"] == [existing]


def test_only_budgets_and_cost_anomaly_detection_may_publish_to_the_encrypted_cost_alert_topic(
    bootstrap: Export,
) -> None:
    topic_arn = "arn:aws:sns:eu-west-1:123456789012:llm-scores-prod-cost-alerts"
    plan = Plan(bootstrap, account_environment="prod").knowing({"aws_sns_topic.cost_alerts[0].arn": topic_arn})
    topic = plan.resource("aws_sns_topic", "cost_alerts", 0)
    assert topic["kms_master_key_id"] == "aws_kms_key.cost_alerts[0].arn"
    assert plan.resource("aws_kms_key", "cost_alerts", 0)["enable_key_rotation"] is True
    statements = json.loads(plan.resource("aws_sns_topic_policy", "cost_alerts", 0)["policy"])["Statement"]
    assert {s["Principal"]["Service"] for s in statements} == {"budgets.amazonaws.com", "costalerts.amazonaws.com"}
    for statement in statements:
        assert (statement["Effect"], statement["Action"], statement["Resource"]) == ("Allow", "SNS:Publish", topic_arn)
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    (budgets,) = [s for s in statements if s["Principal"]["Service"] == "budgets.amazonaws.com"]
    assert budgets["Condition"]["ArnLike"]["aws:SourceArn"] == "arn:aws:budgets::123456789012:*"
    key_policy = json.loads(plan.resource("aws_kms_key", "cost_alerts", 0)["policy"])
    publishers = {s["Sid"]: s for s in key_policy["Statement"]}["BudgetsAndCostAnomalyDetectionPublishToEncryptedTopic"]
    assert sorted(publishers["Principal"]["Service"]) == ["budgets.amazonaws.com", "costalerts.amazonaws.com"]
    assert sorted(publishers["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert publishers["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_a_passed_in_topic_replaces_the_one_the_bootstrap_would_create(bootstrap: Export) -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:pager"
    plan = Plan(bootstrap, account_environment="prod", cost_alert_topic_arn=topic)
    assert plan.planned(*COST_RESOURCES) == set(COST_RESOURCES) - set(TOPIC_RESOURCES)
    budget = plan.resource("aws_budgets_budget", "monthly", 0)
    assert {arn for n in budget["notification"] for arn in n["subscriber_sns_topic_arns"]} == {topic}
    assert plan.resource("aws_ce_anomaly_subscription", "cost_alerts", 0)["subscriber"][0]["address"] == topic
    # An email subscribes to the bootstrap's own topic; a passed-in topic's subscribers are its owner's business.
    emailed = Plan(bootstrap, account_environment="prod", cost_alert_email="a@b.c")
    subscription = emailed.resource("aws_sns_topic_subscription", "cost_alert_email", 0)
    assert (subscription["endpoint"], subscription["topic_arn"]) == ("a@b.c", "aws_sns_topic.cost_alerts[0].arn")
    passed = Plan(bootstrap, account_environment="prod", cost_alert_topic_arn=topic, cost_alert_email="a@b.c")
    assert passed.planned("aws_sns_topic_subscription.cost_alert_email") == set()


def test_no_stage_export_owns_budgets_or_anomaly_monitors(bootstrap: Export) -> None:
    account_wide = {"aws_budgets_budget", "aws_ce_anomaly_monitor", "aws_ce_anomaly_subscription"}
    assert not stage_resource_kinds() & account_wide
    assert all(bootstrap.resources(kind) for kind in account_wide)
    # Named after the account's environment, so a dev and a prod account's resources never look alike.
    plan = Plan(bootstrap, account_environment="staging-2", budget_enabled=True, cost_anomaly_detection_enabled=True)
    named = [plan.resource(kind, key, 0) for kind, key in (address.split(".") for address in COST_RESOURCES)]
    names = [resource["name"] for resource in named if "name" in resource]
    assert len(names) == 5
    assert all("staging-2" in name for name in names), names
