"""The bootstrap's acceptance role: read-only by default, each drill's writes only behind its own variable, and
every AWS call a check or drill declares allowed (infra/bootstrap/acceptance_role.tf, evaluated without AWS)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from scripts.acceptance.__main__ import ALL_CHECKS
from scripts.operations import export_terraform
from tests.terraform.support import Export, Plan

READ_ONLY_ACTION = re.compile(
    r"^[a-z0-9]+:(Describe|Get|List|Filter|View)[A-Za-z]*$|^apigateway:GET$|^iam:SimulatePrincipalPolicy$"
)
DEPLOY_ROLE = "arn:aws:iam::123456789012:role/llm-scores-prod-deploy"
DECLARED_CALL = re.compile(r"^[a-z0-9]+:[A-Za-z]+$")


@pytest.fixture(scope="module")
def bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Export:
    directory: Path = tmp_path_factory.mktemp("acceptance-role") / "terraform-bootstrap"
    export_terraform.export_bootstrap(directory)
    return Export("bootstrap", directory)


def statements(bootstrap: Export, **variables: Any) -> list[dict[str, Any]]:
    policy = Plan(bootstrap, account_environment="prod", **variables).resource("aws_iam_role_policy", "acceptance")
    found: list[dict[str, Any]] = json.loads(policy["policy"])["Statement"]
    return found


def actions(found: list[dict[str, Any]]) -> set[str]:
    return {action for statement in found for action in statement["Action"]}


def test_the_role_only_reads_unless_a_drill_is_switched_on(bootstrap: Export) -> None:
    found = statements(bootstrap, acceptance_deploy_role_arns=[DEPLOY_ROLE])
    writes = sorted(action for action in actions(found) if not READ_ONLY_ACTION.match(action))
    assert writes == []


def test_the_alarm_drill_may_move_only_the_page_fast_availability_alarms(bootstrap: Export) -> None:
    added = [s for s in statements(bootstrap, acceptance_alarm_drill_enabled=True) if s not in statements(bootstrap)]
    assert [(s["Action"], s["Resource"]) for s in added] == [
        (
            ["cloudwatch:SetAlarmState"],
            ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:llm-scores-*-slo-availability-page-fast-*"],
        )
    ]


def test_the_rollback_drill_adds_only_deployments_of_the_live_groups_and_the_alias_put_back(bootstrap: Export) -> None:
    added = [s for s in statements(bootstrap, acceptance_rollback_drill_enabled=True) if s not in statements(bootstrap)]
    writes = sorted(action for action in actions(added) if not READ_ONLY_ACTION.match(action))
    assert writes == [
        "codedeploy:CreateDeployment",
        "codedeploy:RegisterApplicationRevision",
        "codedeploy:StopDeployment",
        "lambda:UpdateAlias",
    ]
    for statement in added:
        assert "*" not in statement["Resource"], statement["Sid"]


def test_every_call_a_check_or_drill_declares_is_allowed(bootstrap: Export) -> None:
    allowed = actions(
        statements(
            bootstrap,
            acceptance_alarm_drill_enabled=True,
            acceptance_rollback_drill_enabled=True,
            acceptance_deploy_role_arns=[DEPLOY_ROLE],
        )
    )
    declared = {api for check in ALL_CHECKS for api in check.apis if DECLARED_CALL.match(api)}
    # sts:GetCallerIdentity needs no permission; s3:ListObjectsV2 is authorised as s3:ListBucket.
    assert declared - allowed == {"sts:GetCallerIdentity"}


def test_the_role_trusts_the_named_principals_or_else_only_the_account(bootstrap: Export) -> None:
    def trusted(**variables: Any) -> Any:
        role = Plan(bootstrap, account_environment="prod", **variables).resource("aws_iam_role", "acceptance")
        return json.loads(role["assume_role_policy"])["Statement"][0]["Principal"]["AWS"]

    assert trusted() == ["arn:aws:iam::123456789012:root"]
    operator = "arn:aws:iam::123456789012:role/operators"
    assert trusted(acceptance_role_trusted_arns=[operator]) == [operator]


def test_the_role_may_read_and_simulate_the_deploy_roles_this_bootstrap_creates(bootstrap: Export) -> None:
    """So `make acceptance` checks the pipeline's roles with no ARN to copy by hand."""
    variables = {
        "github_repository": "example-org/llm-scores",
        "github_oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com",
    }
    plan = Plan(bootstrap, account_environment="prod", **variables)
    created = sorted(
        f"arn:aws:iam::123456789012:role/{role['name']}"
        for _, role in plan.every("aws_iam_role")
        if "-deploy" in role["name"]
    )
    assert len(created) == 2  # production-plan and production
    (granted,) = [s for s in statements(bootstrap, **variables) if s["Sid"] == "ReadAndSimulateTheDeployRoles"]
    assert sorted(granted["Resource"]) == created
    assert granted["Action"] == ["iam:GetRole", "iam:SimulatePrincipalPolicy"]
    # Without the pipeline, and without a role named, there is nothing to read.
    assert not [s for s in statements(bootstrap) if s["Sid"] == "ReadAndSimulateTheDeployRoles"]
