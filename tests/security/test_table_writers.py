"""Who may write the scores table (issue 20): the pipeline's data role and a break-glass role; never the API.

Read from the real prod export (scripts/operations/export_terraform.py), evaluated by tests/terraform/support.py's
`Plan`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.operations import export_terraform
from tests.terraform.support import Export, Plan

DATA_ROLE = "arn:aws:iam::123456789012:role/llm-scores-prod-data"
BREAK_GLASS = "arn:aws:iam::123456789012:role/llm-scores-break-glass"
TABLE_ARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/llm_scores-prod"
# Every action that writes an item; the API's role may hold none of them.
ITEM_WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
}


@pytest.fixture(scope="module")
def prod(tmp_path_factory: pytest.TempPathFactory) -> Export:
    out: Path = tmp_path_factory.mktemp("terraform-prod-writers")
    export_terraform.export("prod", out)
    return Export("prod", out)


def test_the_api_function_may_read_the_version_and_scan_but_write_nothing(prod: Export) -> None:
    actions = {
        action
        for statement in prod.policy("api_handler_role")["Statement"]
        for action in statement["Action"]
        if action.startswith("dynamodb:")
    }
    assert actions == {"dynamodb:GetItem", "dynamodb:Scan"}
    assert not actions & ITEM_WRITES


def test_without_a_data_role_the_table_has_no_resource_policy(prod: Export) -> None:
    assert Plan(prod).planned("aws_dynamodb_resource_policy.") == set()


def test_with_a_data_role_only_it_break_glass_and_replication_may_write_items(prod: Export) -> None:
    plan = Plan(prod, data_writer_role_arn=DATA_ROLE, break_glass_role_arn=BREAK_GLASS).knowing(
        {"aws_dynamodb_table.scores.arn": TABLE_ARN}
    )
    resource = plan.resource("aws_dynamodb_resource_policy", "scores_writers", 0)
    assert resource["resource_arn"] == TABLE_ARN
    (statement,) = json.loads(resource["policy"])["Statement"]
    assert statement["Resource"] == TABLE_ARN
    assert (statement["Effect"], statement["Principal"]) == ("Deny", "*")
    assert set(statement["Action"]) == ITEM_WRITES
    allowed = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert allowed[:2] == [DATA_ROLE, BREAK_GLASS]
    assert allowed[2].endswith(
        ":role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication"
    )
    assert len(allowed) == 3


def test_the_writer_roles_must_be_role_arns(prod: Export) -> None:
    assert Plan(prod, data_writer_role_arn=DATA_ROLE).valid("data_writer_role_arn")
    assert not Plan(prod, data_writer_role_arn="llm-scores-prod-data").valid("data_writer_role_arn")
    assert not Plan(prod, break_glass_role_arn="arn:aws:iam::123456789012:user/admin").valid("break_glass_role_arn")
