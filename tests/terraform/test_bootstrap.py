"""The account-level bootstrap (infra/bootstrap/, exported by `export_terraform.py --bootstrap`).

API Gateway's CloudWatch Logs role is one setting per account and region, and Budgets and Cost Anomaly Detection
monitors are per account, so they have a Terraform root of their own instead of belonging to a stage. checkov scans
it in tests/terraform/test_export.py. Counts are evaluated with the evaluator in tests/terraform/support.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from scripts import export_terraform
from tests.terraform.support import evaluate, read_terraform

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "infra" / "bootstrap"
REFERENCE = re.compile(r"\b(var|local|aws_[a-z0-9_]+|data)\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?")


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("terraform-bootstrap")
    assert export_terraform.main(["--bootstrap", "--out", str(out)]) == 0
    return out


def documents(directory: Path) -> dict[str, dict[str, Any]]:
    return read_terraform(directory)


def merged(directory: Path, block: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for document in documents(directory).values():
        for kind, items in document.get(block, {}).items():
            result.setdefault(kind, {}).update(items)
    return result


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in [key, *strings(item)]]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return []


def test_bootstrap_export_copies_every_terraform_file_and_nothing_else(bootstrap: Path) -> None:
    expected = sorted(path.name for path in BOOTSTRAP.iterdir() if path.name.endswith((".tf", ".tf.json")))
    assert sorted(path.name for path in bootstrap.iterdir()) == expected
    assert "versions.tf" in expected and "api_gateway_account.tf" in expected


def test_bootstrap_registers_the_role_with_api_gateway_after_its_policy_is_attached(bootstrap: Path) -> None:
    resources = merged(bootstrap, "resource")
    assert resources["aws_api_gateway_account"]["this"] == {
        "cloudwatch_role_arn": "${aws_iam_role.api_gateway_cloudwatch.arn}",
        "depends_on": ["aws_iam_role_policy_attachment.api_gateway_cloudwatch"],
    }
    attachment = resources["aws_iam_role_policy_attachment"]["api_gateway_cloudwatch"]
    assert attachment["role"] == "${aws_iam_role.api_gateway_cloudwatch.name}"
    assert attachment["policy_arn"].endswith(":iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs")
    # The logging role is not optional: a count would bring back "which stage turns it on".
    for kind in ("aws_iam_role", "aws_iam_role_policy_attachment", "aws_api_gateway_account"):
        for key, body in resources[kind].items():
            assert "count" not in body and "for_each" not in body, f"{kind}.{key}"


def test_bootstrap_role_trust_policy_is_exactly_the_one_aws_documents(bootstrap: Path) -> None:
    role = merged(bootstrap, "resource")["aws_iam_role"]["api_gateway_cloudwatch"]
    assert role["assume_role_policy"] == "${jsonencode(local.api_gateway_cloudwatch_assume_role_policy)}"
    local_values = {k: v for document in documents(bootstrap).values() for k, v in document.get("locals", {}).items()}
    assert local_values["api_gateway_cloudwatch_assume_role_policy"] == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    # IAM names are global and the setting is regional: one bootstrap per region must not collide.
    assert "${data.aws_region.current.name}" in role["name"]


def test_bootstrap_pins_the_same_terraform_and_provider_versions_as_a_stage(bootstrap: Path) -> None:
    def constraints(path: Path) -> list[str]:
        return [line.strip() for line in path.read_text().splitlines() if "version" in line and "=" in line]

    assert constraints(bootstrap / "versions.tf") == constraints(ROOT / "infra" / "terraform" / "versions.tf")
    assert [name for name, document in documents(bootstrap).items() if "terraform" in document] == ["versions.tf"]


def test_bootstrap_references_point_at_something_declared(bootstrap: Path) -> None:
    docs = documents(bootstrap).values()
    resources = {(kind, key) for kind, items in merged(bootstrap, "resource").items() for key in items}
    data = {(kind, key) for kind, items in merged(bootstrap, "data").items() for key in items}
    variables = {name for document in docs for name in document.get("variable", {})}
    local_names = {name for document in docs for name in document.get("locals", {})}
    checked = 0
    for text in (text for document in docs for text in strings(document) if "${" in text):
        for kind, name, attribute in REFERENCE.findall(text):
            checked += 1
            if kind == "var":
                assert name in variables
            elif kind == "local":
                assert name in local_names
            elif kind == "data":
                assert (name, attribute) in data
            else:
                assert (kind, name) in resources, f"{kind}.{name}"
    assert checked >= 6


def test_bootstrap_and_stage_exports_manage_disjoint_resources(bootstrap: Path) -> None:
    stage_infra = ROOT / "infra" / "terraform"
    stage_kinds = set(merged(stage_infra, "resource"))
    assert "aws_api_gateway_account" not in stage_kinds
    assert "aws_api_gateway_account" in merged(bootstrap, "resource")


def test_bootstrap_export_takes_a_backend_file(tmp_path: Path) -> None:
    backend = tmp_path / "backend.hcl"
    backend.write_text('terraform {\n  backend "s3" {}\n}\n')
    out = export_terraform.export_bootstrap(tmp_path / "out", backend)
    assert (out / "backend.tf").read_text() == backend.read_text()
    (out / "terraform.tfstate").write_text("{}")
    export_terraform.export_bootstrap(out)
    assert (out / "terraform.tfstate").exists(), "a re-export keeps local state"


# ---- cost controls: Budgets and Cost Anomaly Detection, account-wide -------------------------------------------

ACCOUNT_ID = "123456789012"
COST_RESOURCES = (
    ("aws_kms_key", "cost_alerts"),
    ("aws_kms_alias", "cost_alerts"),
    ("aws_sns_topic", "cost_alerts"),
    ("aws_sns_topic_policy", "cost_alerts"),
    ("aws_budgets_budget", "monthly"),
    ("aws_ce_anomaly_monitor", "services"),
    ("aws_ce_anomaly_subscription", "cost_alerts"),
)


def bootstrap_environment(directory: Path, **variables: Any) -> dict[str, Any]:
    docs = documents(directory).values()
    declared = {name: spec for document in docs for name, spec in document.get("variable", {}).items()}
    assert not set(variables) - set(declared), set(variables) - set(declared)
    values = {name: spec.get("default") for name, spec in declared.items()}
    return {
        "var": {**values, **variables},
        "local": {name: value for document in docs for name, value in document.get("locals", {}).items()},
        "attributes": {},
    }


def counts(directory: Path, **variables: Any) -> dict[tuple[str, str], int]:
    resources = merged(directory, "resource")
    env = bootstrap_environment(directory, **variables)
    return {(kind, key): int(evaluate(resources[kind][key]["count"], env)) for kind, key in COST_RESOURCES}


def test_cost_controls_are_on_by_default_only_in_the_prod_account(bootstrap: Path) -> None:
    assert set(counts(bootstrap, account_environment="prod").values()) == {1}
    assert set(counts(bootstrap, account_environment="dev").values()) == {0}
    # Another region's bootstrap of the prod account turns them off: a budget and a monitor are per account.
    assert set(
        counts(
            bootstrap, account_environment="prod", budget_enabled=False, cost_anomaly_detection_enabled=False
        ).values()
    ) == {0}
    budget_only = counts(bootstrap, account_environment="dev", budget_enabled=True)
    assert budget_only[("aws_budgets_budget", "monthly")] == 1 and budget_only[("aws_sns_topic", "cost_alerts")] == 1
    assert (
        budget_only[("aws_ce_anomaly_monitor", "services")]
        == budget_only[("aws_ce_anomaly_subscription", "cost_alerts")]
        == 0
    )
    anomalies_only = counts(bootstrap, account_environment="prod", budget_enabled=False)
    assert anomalies_only[("aws_budgets_budget", "monthly")] == 0
    assert anomalies_only[("aws_ce_anomaly_subscription", "cost_alerts")] == 1


def test_account_environment_has_no_default_and_names_the_account(bootstrap: Path) -> None:
    variable = merged(bootstrap, "variable")["account_environment"]
    assert "default" not in variable, "every account's bootstrap must say whether it is the prod account"
    (rule,) = variable["validation"]
    for name, accepted in (("prod", True), ("dev", True), ("staging-2", True), ("Prod", False), ("", False)):
        assert evaluate(rule["condition"], bootstrap_environment(bootstrap, account_environment=name)) is accepted, name


def test_budget_alerts_at_80_percent_actual_and_100_percent_forecast_to_the_cost_alert_topic(bootstrap: Path) -> None:
    budget = merged(bootstrap, "resource")["aws_budgets_budget"]["monthly"]
    assert (budget["budget_type"], budget["time_unit"], budget["limit_unit"]) == ("COST", "MONTHLY", "USD")
    assert budget["limit_amount"] == "${var.budget_monthly_limit_usd}"
    alerts = {(n["notification_type"], n["threshold"], n["threshold_type"]) for n in budget["notification"]}
    assert alerts == {("ACTUAL", 80, "PERCENTAGE"), ("FORECASTED", 100, "PERCENTAGE")}
    for notification in budget["notification"]:
        assert notification["comparison_operator"] == "GREATER_THAN"
        assert notification["subscriber_sns_topic_arns"] == ["${local.cost_alert_topic_arn}"]
    assert budget["depends_on"] == ["aws_sns_topic_policy.cost_alerts"]


def test_anomaly_subscription_sends_immediately_to_the_topic_above_a_dollar_impact(bootstrap: Path) -> None:
    resources = merged(bootstrap, "resource")
    monitor = resources["aws_ce_anomaly_monitor"]["services"]
    assert (monitor["monitor_type"], monitor["monitor_dimension"]) == ("DIMENSIONAL", "SERVICE")
    subscription = resources["aws_ce_anomaly_subscription"]["cost_alerts"]
    # SNS subscribers get IMMEDIATE alerts only.
    assert subscription["frequency"] == "IMMEDIATE"
    assert subscription["subscriber"] == [{"type": "SNS", "address": "${local.cost_alert_topic_arn}"}]
    assert subscription["monitor_arn_list"] == ["${local.cost_anomaly_monitor_arn}"]
    (expression,) = subscription["threshold_expression"]
    assert expression["dimension"] == [
        {
            "key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
            "match_options": ["GREATER_THAN_OR_EQUAL"],
            "values": ["${var.cost_anomaly_alert_threshold_usd}"],
        }
    ]
    # An account holds one AWS-services monitor; an existing one is subscribed to instead of duplicated.
    existing = "arn:aws:ce::123456789012:anomalymonitor/abc"
    with_existing = counts(bootstrap, account_environment="prod", cost_anomaly_monitor_arn=existing)
    assert with_existing[("aws_ce_anomaly_monitor", "services")] == 0
    assert with_existing[("aws_ce_anomaly_subscription", "cost_alerts")] == 1
    env = bootstrap_environment(bootstrap, account_environment="prod", cost_anomaly_monitor_arn=existing)
    assert evaluate(env["local"]["cost_anomaly_monitor_arn"], env) == existing


def test_only_budgets_and_cost_anomaly_detection_may_publish_to_the_encrypted_cost_alert_topic(bootstrap: Path) -> None:
    resources = merged(bootstrap, "resource")
    local_values = {k: v for document in documents(bootstrap).values() for k, v in document.get("locals", {}).items()}
    topic = resources["aws_sns_topic"]["cost_alerts"]
    assert topic["kms_master_key_id"] == "${one(aws_kms_key.cost_alerts[*].arn)}"
    assert resources["aws_kms_key"]["cost_alerts"]["enable_key_rotation"] is True
    assert resources["aws_sns_topic_policy"]["cost_alerts"]["policy"] == "${jsonencode(local.cost_alerts_topic_policy)}"
    statements = local_values["cost_alerts_topic_policy"]["Statement"]
    assert {s["Principal"]["Service"] for s in statements} == {"budgets.amazonaws.com", "costalerts.amazonaws.com"}
    for statement in statements:
        assert (statement["Effect"], statement["Action"]) == ("Allow", "SNS:Publish")
        assert statement["Condition"]["StringEquals"] == {
            "aws:SourceAccount": "${data.aws_caller_identity.current.account_id}"
        }
    (budgets,) = [s for s in statements if s["Principal"]["Service"] == "budgets.amazonaws.com"]
    assert budgets["Condition"]["ArnLike"]["aws:SourceArn"].endswith(
        ":budgets::${data.aws_caller_identity.current.account_id}:*"
    )
    key_statements = {s["Sid"]: s for s in local_values["cost_alerts_key_policy"]["Statement"]}
    publishers = key_statements["BudgetsAndCostAnomalyDetectionPublishToEncryptedTopic"]
    assert sorted(publishers["Principal"]["Service"]) == ["budgets.amazonaws.com", "costalerts.amazonaws.com"]
    assert sorted(publishers["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert publishers["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "${data.aws_caller_identity.current.account_id}"}
    }


def test_a_passed_in_topic_replaces_the_one_the_bootstrap_would_create(bootstrap: Path) -> None:
    topic = "arn:aws:sns:us-east-1:123456789012:pager"
    passed = counts(bootstrap, account_environment="prod", cost_alert_topic_arn=topic)
    for kind in ("aws_kms_key", "aws_kms_alias", "aws_sns_topic", "aws_sns_topic_policy"):
        assert passed[(kind, "cost_alerts")] == 0, kind
    assert passed[("aws_budgets_budget", "monthly")] == passed[("aws_ce_anomaly_subscription", "cost_alerts")] == 1
    env = bootstrap_environment(bootstrap, account_environment="prod", cost_alert_topic_arn=topic)
    assert evaluate(env["local"]["cost_alert_topic_arn"], env) == topic
    email = merged(bootstrap, "resource")["aws_sns_topic_subscription"]["cost_alert_email"]
    assert (
        evaluate(email["count"], bootstrap_environment(bootstrap, account_environment="prod", cost_alert_email="a@b.c"))
        == 1
    )
    assert evaluate(email["count"], env) == 0


def test_no_stage_export_owns_budgets_or_anomaly_monitors(bootstrap: Path) -> None:
    stage_kinds = set(merged(ROOT / "infra" / "terraform", "resource"))
    account_wide = {"aws_budgets_budget", "aws_ce_anomaly_monitor", "aws_ce_anomaly_subscription"}
    assert not stage_kinds & account_wide
    assert account_wide <= set(merged(bootstrap, "resource"))
    resources = merged(bootstrap, "resource")
    names = [resources[kind][key]["name"] for kind, key in COST_RESOURCES if "name" in resources[kind][key]]
    assert len(names) == 5
    assert all("${var.account_environment}" in name for name in names), names
