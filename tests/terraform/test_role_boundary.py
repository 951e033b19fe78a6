"""Each stage's permissions boundary (infra/bootstrap/stage_role_boundary.tf) and the stage roles that carry it.

The writing deploy roles write the stage's IAM roles and their policies (infra/bootstrap/pipeline_permissions.tf), so
without a cap a compromised pipeline run could give one of them anything. Tested here: every role of every export
carries the stage's `role_permissions_boundary_arn`; the boundary allows every action each stage role is granted,
on the resources the export gives it (one it forgets breaks the service at runtime, which no plan shows), and
nothing more, nothing broad and nothing of the other stage; when the bootstrap creates it. That the deploy roles
can write the stage's roles only within it is in test_pipeline_roles.py, beside the rest of what they may do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.support import DATA_SOURCES, Export, Plan, allows, listed

ROOT = Path(__file__).resolve().parents[2]
CONFIG: dict[str, Any] = json.loads((ROOT / ".chalice" / "config.json").read_text())
ACCOUNT = DATA_SOURCES["aws_caller_identity"]["account_id"]
REGION = DATA_SOURCES["aws_region"]["id"]


def boundary_arn(stage: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/llm-scores-{stage}-role-boundary"


# Options that add resources, all on (a REST and an HTTP API exclude each other: both are planned).
EVERY_OPTION: dict[str, Any] = {
    "cloudfront_enabled": True,
    "waf_enabled": True,
    "alarm_email": "oncall@example.com",
    "enable_live_alias": True,
    "provisioned_concurrency_schedule_enabled": True,
    "custom_domain_name": "api.scores.example.com",
    "route53_zone_id": "Z0123456789ABCDEFGHIJ",
    "data_writer_role_arn": f"arn:aws:iam::{ACCOUNT}:role/llm-scores-github-production-data",
    "dynamodb_kms_key_arn": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/0a1b2c3d-0000-0000-0000-000000000000",
}
# The stage's roles, as Chalice (one per function) and codedeploy.tf name them.
STAGE_ROLES = ("api_handler", "warm_up", "before_allow_traffic", "after_allow_traffic", "codedeploy")
# The AWS managed policies a stage role may have attached, with every action each grants, as AWS's managed policy
# reference lists them (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/policy-list.html). None is
# attached today: CodeDeploy's role has its own inline policy (codedeploy.tf) rather than AWSCodeDeployRoleForLambda,
# and Chalice's roles only their policy files. One attached fails
# test_the_boundary_allows_every_action_each_stage_role_is_granted until it is listed here and the boundary allows it.
MANAGED_POLICY_ACTIONS: dict[str, list[str]] = {}
# What the boundary allows beyond the roles' own policies, and why: with a customer managed key on the table
# (dynamodb_kms_key_arn), DynamoDB decrypts it with the reading role's permission, which the key policy grants.
BEYOND_THE_POLICIES = {"kms:Decrypt"}
# Computed ARNs, from each resource's planned name, as an apply would record them.
ARN_OF: dict[str, Callable[[dict[str, Any], str], str]] = {
    "aws_lambda_function": lambda b, r: f"arn:aws:lambda:{r}:{ACCOUNT}:function:{b['function_name']}",
    "aws_cloudwatch_log_group": lambda b, r: f"arn:aws:logs:{r}:{ACCOUNT}:log-group:{b['name']}",
    "aws_cloudwatch_metric_alarm": lambda b, r: f"arn:aws:cloudwatch:{r}:{ACCOUNT}:alarm:{b['alarm_name']}",
    "aws_dynamodb_table": lambda b, r: f"arn:aws:dynamodb:{r}:{ACCOUNT}:table/{b['name']}",
}


def boundaries(bootstrap: Export) -> dict[str, list[dict[str, Any]]]:
    """Each stage's boundary statements, as the bootstrap of an account that holds both renders them."""
    plan = Plan(bootstrap, account_environment="prod", stage_role_boundary_stages=["dev", "prod"])
    return {
        stage: json.loads(plan.resource("aws_iam_policy", "stage_role_boundary", stage)["policy"])["Statement"]
        for stage in ("dev", "prod")
    }


def stage_plans(export: Export, **variables: Any) -> list[Plan]:
    """The export as its stage file plans it, and with every option on in each front door."""
    return [Plan(export, **variables)] + [
        Plan(export, api_type=api_type, **EVERY_OPTION, **variables) for api_type in ("REST", "HTTP")
    ]


def granted(plan: Plan) -> dict[str, set[tuple[str, str]]]:
    """(action, resource) of every Allow each stage role's policies grant, by role name: inline policies with the
    ARNs an apply gives their references, and the actions of attached managed policies on "*"."""
    applied = {}
    for kind, arn in ARN_OF.items():
        for address, body in plan.every(kind):
            applied[f"{address}.arn"] = arn(body, "us-east-1" if body.get("provider") == "aws.us_east_1" else REGION)
    plan.knowing(applied)
    roles = dict(plan.every("aws_iam_role"))
    grants: dict[str, set[tuple[str, str]]] = {role["name"]: set() for role in roles.values()}

    def name(reference: str) -> str:  # `role = <its name>`, known at plan, or `<its address>.id`, known at apply
        return reference if reference in grants else str(roles[reference.removesuffix(".id")]["name"])

    attached = [(role["name"], arn) for role in roles.values() for arn in role.get("managed_policy_arns", [])]
    attached += [(name(a["role"]), a["policy_arn"]) for _, a in plan.every("aws_iam_role_policy_attachment")]
    for role, policy_arn in attached:
        grants[role] |= {(action, "*") for action in MANAGED_POLICY_ACTIONS[policy_arn.rpartition("/")[2]]}
    for address, policy in plan.every("aws_iam_role_policy"):
        assert "${" not in policy["policy"], f"{address}: a reference no ARN was given for"
        for statement in json.loads(policy["policy"])["Statement"]:
            assert statement["Effect"] == "Allow" and "Condition" not in statement, address
            grants[name(policy["role"])] |= {
                (a, r) for a in listed(statement["Action"]) for r in listed(statement["Resource"])
            }
    return grants


# ---- every role carries it ----------------------------------------------------------------------------------------


def test_every_role_of_every_export_carries_the_stages_boundary_once_it_is_set(exports: dict[str, Export]) -> None:
    for stage, export in exports.items():
        for plan in stage_plans(export):
            roles = dict(plan.every("aws_iam_role"))
            assert sorted(role["name"] for role in roles.values()) == sorted(
                f"llm-scores-{stage}-{role}" for role in STAGE_ROLES
            )
            assert all(role["permissions_boundary"] is None for role in roles.values()), "empty: no boundary"
        for plan in stage_plans(export, role_permissions_boundary_arn=boundary_arn(stage)):
            for address, role in plan.every("aws_iam_role"):
                assert role["permissions_boundary"] == boundary_arn(stage), address


def test_the_boundary_setting_takes_a_managed_policy_arn_or_nothing(prod: Export) -> None:
    accepted = ("", boundary_arn("prod"), "arn:aws-us-gov:iam::123456789012:policy/boundaries/llm-scores-prod")
    refused = (
        "llm-scores-prod-role-boundary",
        f"arn:aws:iam::{ACCOUNT}:role/llm-scores-prod-role-boundary",
        "arn:aws:iam::12345:policy/llm-scores-prod-role-boundary",
    )
    for value in accepted + refused:
        assert Plan(prod, role_permissions_boundary_arn=value).valid("role_permissions_boundary_arn") is (
            value in accepted
        ), value


# ---- what the boundary allows -------------------------------------------------------------------------------------


def test_the_boundary_allows_every_action_each_stage_role_is_granted(
    bootstrap: Export, exports: dict[str, Export]
) -> None:
    boundary = boundaries(bootstrap)
    for stage, export in exports.items():
        for plan in stage_plans(export):
            grants = granted(plan)
            assert sum(len(pairs) for pairs in grants.values()) > 20
            for role, pairs in grants.items():
                for action, resource in sorted(pairs):
                    assert allows(boundary[stage], action, resource), f"{role} may {action} on {resource}"


def test_the_boundary_allows_every_action_of_the_chalice_policy_files_but_the_log_group_the_export_owns(
    bootstrap: Export, exports: dict[str, Export]
) -> None:
    # The policy files name any region and account; a stage runs in one.
    boundary = boundaries(bootstrap)
    for stage, export in exports.items():
        settings = CONFIG["stages"][stage]
        files = [settings["iam_policy_file"]] + [f["iam_policy_file"] for f in settings["lambda_functions"].values()]
        assert len(files) == 4
        for name in files:
            for statement in json.loads((ROOT / ".chalice" / name).read_text())["Statement"]:
                for action in listed(statement["Action"]):
                    for resource in listed(statement["Resource"]):
                        resource = resource.replace(":*:*:", f":{REGION}:{ACCOUNT}:")
                        if action == "logs:CreateLogGroup":  # Terraform owns the log group: the export drops it
                            assert not allows(boundary[stage], action, resource)
                            continue
                        assert allows(boundary[stage], action, resource), f"{name}: {action} on {resource}"
        assert not any(
            action == "logs:CreateLogGroup" for pairs in granted(Plan(export)).values() for action, _ in pairs
        )


def test_the_boundary_allows_no_action_the_stage_roles_are_not_granted(
    bootstrap: Export, exports: dict[str, Export]
) -> None:
    for stage, statements in boundaries(bootstrap).items():
        needed = {
            action for plan in stage_plans(exports[stage]) for pairs in granted(plan).values() for action, _ in pairs
        }
        allowed = {action for statement in statements for action in listed(statement["Action"])}
        assert allowed == needed | BEYOND_THE_POLICIES, stage
        (decrypt,) = [s for s in statements if "kms:Decrypt" in s["Action"]]
        assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"dynamodb.{REGION}.amazonaws.com"}}


def test_the_boundary_allows_nothing_broad_and_nothing_of_the_other_stage(
    bootstrap: Export, exports: dict[str, Export]
) -> None:
    boundary = boundaries(bootstrap)
    for stage, statements in boundary.items():
        for statement in statements:
            assert statement["Effect"] == "Allow" and {"NotAction", "NotResource"}.isdisjoint(statement)
            for action in listed(statement["Action"]):
                assert "*" not in action and "?" not in action, action
                assert action.split(":")[0] not in ("iam", "sts", "organizations", "account"), action
            if "*" in listed(statement["Resource"]):  # only what takes no resource
                assert set(statement["Action"]) <= {
                    "xray:PutTraceSegments",
                    "xray:PutTelemetryRecords",
                    "cloudwatch:GetMetricStatistics",
                }
        table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/llm_scores-{stage}"
        function = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:llm-scores-{stage}"
        for action, resource in (
            ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/llm-scores-{stage}-api_handler"),
            ("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/llm-scores-{stage}-codedeploy"),
            ("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/llm-scores-github-production-deploy"),
            ("organizations:LeaveOrganization", "*"),
            ("s3:GetObject", f"arn:aws:s3:::llm-scores-terraform-state-{ACCOUNT}/llm-scores/prod.tfstate"),
            ("dynamodb:PutItem", table),  # the data role's (data_access.tf)
            ("lambda:UpdateFunctionCode", function),
            ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other"),
            ("logs:PutLogEvents", f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/other"),
        ):
            assert not allows(statements, action, resource), f"{stage}: {action} on {resource}"
        # The other stage's roles' grants, on the other stage's resources.
        other = "prod" if stage == "dev" else "dev"
        for pairs in granted(Plan(exports[other])).values():
            for action, resource in pairs:
                assert resource == "*" or not allows(statements, action, resource), f"{stage}: {action} on {resource}"


# ---- when the bootstrap creates it ----------------------------------------------------------------------------------


def planned_boundaries(bootstrap: Export, **variables: Any) -> set[str]:
    return {
        policy["name"]
        for _, policy in Plan(bootstrap, **variables).every("aws_iam_policy")
        if "boundary" in policy["name"]
    }


def test_the_bootstrap_creates_a_boundary_for_each_stage_its_pipeline_deploys_or_it_is_asked_for(
    bootstrap: Export,
) -> None:
    pipeline = {
        "github_repository": "example-org/llm-scores",
        "github_oidc_provider_arn": f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
    }
    dev, prod = "llm-scores-dev-role-boundary", "llm-scores-prod-role-boundary"
    assert planned_boundaries(bootstrap, account_environment="prod") == set()
    assert planned_boundaries(bootstrap, account_environment="prod", **pipeline) == {prod}
    assert planned_boundaries(bootstrap, account_environment="dev", state_bucket_name="bucket", **pipeline) == {dev}
    both = {"github_environments": ["dev", "production-plan", "production"]}
    assert planned_boundaries(bootstrap, account_environment="prod", **both, **pipeline) == {dev, prod}
    # Without the pipeline, for stages applied by hand.
    assert planned_boundaries(bootstrap, account_environment="dev", stage_role_boundary_stages=["dev"]) == {dev}
    refused = Plan(bootstrap, account_environment="dev", stage_role_boundary_stages=["staging"])
    assert refused.valid("stage_role_boundary_stages") is False


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_bootstraps_output_is_what_the_stage_takes_and_the_deploy_roles_require(
    bootstrap: Export, exports: dict[str, Export], stage: str
) -> None:
    plan = Plan(bootstrap, account_environment="prod", stage_role_boundary_stages=[stage])
    policy = plan.resource("aws_iam_policy", "stage_role_boundary", stage)
    assert "path" not in policy  # "/": the ARN the deploy roles' conditions build from the name
    assert boundary_arn(stage) == f"arn:aws:iam::{ACCOUNT}:policy/{policy['name']}"
    assert plan.value("${local.stage_role_boundary_arns}")[stage] == boundary_arn(stage)
    plan.knowing({f"aws_iam_policy.stage_role_boundary[{stage!r}].arn": boundary_arn(stage)})
    assert plan.value(bootstrap.outputs()["stage_role_boundary_arns"]["value"]) == {stage: boundary_arn(stage)}
    stage_plan = Plan(exports[stage], role_permissions_boundary_arn=boundary_arn(stage))
    assert stage_plan.valid("role_permissions_boundary_arn")
