"""The deploy pipeline's AWS side, in the account bootstrap (infra/bootstrap/pipeline_roles.tf, pipeline_permissions.tf,
state_bucket.tf): GitHub's OIDC provider, a deploy and a data role for each GitHub environment, the state bucket.

Whether AWS lets an apply through with these policies only a real account shows (docs/delivery.md). What the
configuration decides is tested here, through `support.Plan`: who may assume each role; that each stage's writing
role covers every kind of resource its export declares (every option on) and its names, and nothing of the other
stage or of the bootstrap; that it writes the stage's IAM roles only within their permissions boundary, which it can
neither remove nor change (what the boundary allows: test_role_boundary.py); that the production-plan roles hold no
write; the data roles against every DynamoDB call the data scripts make; the bucket's settings; each stage's state
and lock objects.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
import yaml
from botocore import xform_name

from tests.terraform.support import (
    Export,
    Plan,
    Unknown,
    allows,
    allows_anywhere,
    checkov_clean,
    covers,
    listed,
    matches,
    read_terraform,
)

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "example-org/llm-scores"
ACCOUNT, REGION = "123456789012", "eu-west-1"
OIDC_PROVIDER = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
ENVIRONMENTS = {"dev": "dev", "production-plan": "prod", "production": "prod"}
WRITING_ENVIRONMENT = {"dev": "dev", "prod": "production"}
BUCKET = f"llm-scores-terraform-state-{ACCOUNT}"
PIPELINE = (
    "aws_iam_openid_connect_provider.",
    "aws_iam_role.pipeline_",
    "aws_iam_policy.pipeline_",
    "aws_iam_role_policy.pipeline_",
    "aws_iam_role_policy_attachment.pipeline_",
)
STATE_BUCKET = ("aws_s3_bucket.state", "aws_s3_bucket_")

# What creating, changing and deleting each kind of resource the stage exports calls. A kind the exports gain
# without an entry here fails test_every_kind_of_resource_the_stage_exports_is_its_writing_roles_to_manage: give
# the deploy roles what it needs (pipeline_permissions.tf), then add it here.
MANAGED_BY: dict[str, list[str]] = {
    "aws_acm_certificate": ["acm:RequestCertificate", "acm:AddTagsToCertificate", "acm:DeleteCertificate"],
    "aws_acm_certificate_validation": ["acm:DescribeCertificate"],
    "aws_api_gateway_api_key": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_api_gateway_base_path_mapping": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_api_gateway_deployment": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_api_gateway_domain_name": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_api_gateway_method_settings": ["apigateway:PATCH"],
    "aws_api_gateway_rest_api": ["apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_api_gateway_stage": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_api_gateway_usage_plan": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_api_gateway_usage_plan_key": ["apigateway:POST", "apigateway:DELETE"],
    "aws_apigatewayv2_api": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_apigatewayv2_api_mapping": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_apigatewayv2_domain_name": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_apigatewayv2_integration": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_apigatewayv2_route": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"],
    "aws_apigatewayv2_stage": ["apigateway:POST", "apigateway:PATCH", "apigateway:DELETE", "logs:CreateLogDelivery"],
    "aws_appautoscaling_scheduled_action": [
        "application-autoscaling:PutScheduledAction",
        "application-autoscaling:DeleteScheduledAction",
    ],
    "aws_appautoscaling_target": [
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:DeregisterScalableTarget",
        "iam:CreateServiceLinkedRole",
    ],
    "aws_cloudfront_cache_policy": [
        "cloudfront:CreateCachePolicy",
        "cloudfront:UpdateCachePolicy",
        "cloudfront:DeleteCachePolicy",
    ],
    "aws_cloudfront_distribution": [
        "cloudfront:CreateDistribution",
        "cloudfront:UpdateDistribution",
        "cloudfront:DeleteDistribution",
    ],
    "aws_cloudfront_response_headers_policy": [
        "cloudfront:CreateResponseHeadersPolicy",
        "cloudfront:UpdateResponseHeadersPolicy",
        "cloudfront:DeleteResponseHeadersPolicy",
    ],
    "aws_cloudwatch_composite_alarm": ["cloudwatch:PutCompositeAlarm", "cloudwatch:DeleteAlarms"],
    "aws_cloudwatch_dashboard": ["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"],
    "aws_cloudwatch_event_rule": ["events:PutRule", "events:DeleteRule"],
    "aws_cloudwatch_event_target": ["events:PutTargets", "events:RemoveTargets"],
    "aws_cloudwatch_log_group": ["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:DeleteLogGroup"],
    "aws_cloudwatch_log_metric_filter": ["logs:PutMetricFilter", "logs:DeleteMetricFilter"],
    "aws_cloudwatch_metric_alarm": ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"],
    "aws_cloudwatch_query_definition": ["logs:PutQueryDefinition", "logs:DeleteQueryDefinition"],
    "aws_codedeploy_app": ["codedeploy:CreateApplication", "codedeploy:DeleteApplication"],
    "aws_codedeploy_deployment_group": [
        "codedeploy:CreateDeploymentGroup",
        "codedeploy:UpdateDeploymentGroup",
        "codedeploy:DeleteDeploymentGroup",
        "iam:PassRole",
    ],
    "aws_dynamodb_resource_policy": ["dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy"],
    "aws_dynamodb_table": ["dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable"],
    "aws_iam_role": [
        "iam:CreateRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePermissionsBoundary",
        "iam:DeleteRole",
    ],
    "aws_iam_role_policy": ["iam:PutRolePolicy", "iam:DeleteRolePolicy"],
    "aws_kms_alias": ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"],
    "aws_kms_key": ["kms:CreateKey", "kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:ScheduleKeyDeletion"],
    "aws_lambda_alias": ["lambda:CreateAlias", "lambda:UpdateAlias", "lambda:DeleteAlias"],
    "aws_lambda_function": [
        "lambda:CreateFunction",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
        "lambda:PublishVersion",
        "lambda:DeleteFunction",
        "iam:PassRole",
    ],
    "aws_lambda_permission": ["lambda:AddPermission", "lambda:RemovePermission"],
    "aws_lambda_provisioned_concurrency_config": [
        "lambda:PutProvisionedConcurrencyConfig",
        "lambda:DeleteProvisionedConcurrencyConfig",
    ],
    "aws_route53_health_check": ["route53:CreateHealthCheck", "route53:UpdateHealthCheck", "route53:DeleteHealthCheck"],
    "aws_route53_record": ["route53:ChangeResourceRecordSets", "route53:GetChange"],
    "aws_s3_bucket": ["s3:CreateBucket", "s3:PutBucketTagging", "s3:DeleteBucket"],
    "aws_s3_bucket_lifecycle_configuration": ["s3:PutLifecycleConfiguration"],
    "aws_s3_bucket_ownership_controls": ["s3:PutBucketOwnershipControls"],
    "aws_s3_bucket_policy": ["s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
    "aws_s3_bucket_public_access_block": ["s3:PutBucketPublicAccessBlock"],
    "aws_s3_bucket_server_side_encryption_configuration": ["s3:PutEncryptionConfiguration"],
    "aws_s3_bucket_versioning": ["s3:PutBucketVersioning"],
    "aws_sns_topic": ["sns:CreateTopic", "sns:SetTopicAttributes", "sns:DeleteTopic"],
    "aws_sns_topic_subscription": ["sns:Subscribe", "sns:Unsubscribe"],
    "aws_wafv2_web_acl": ["wafv2:CreateWebACL", "wafv2:UpdateWebACL", "wafv2:DeleteWebACL"],
    "aws_wafv2_web_acl_association": ["wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "apigateway:SetWebACL"],
    "aws_wafv2_web_acl_logging_configuration": [
        "wafv2:PutLoggingConfiguration",
        "wafv2:DeleteLoggingConfiguration",
        "logs:CreateLogDelivery",
        "logs:PutResourcePolicy",
    ],
    "terraform_data": [],  # preconditions only: no AWS call
}

# The stage options that add named resources, all on, in each front door (a REST and an HTTP API exclude each other).
EVERY_OPTION: dict[str, Any] = {
    "cloudfront_enabled": True,
    "waf_enabled": True,
    "alarm_email": "oncall@example.com",
    "enable_live_alias": True,
    "provisioned_concurrency": 0,
    "provisioned_concurrency_schedule_enabled": True,
    "custom_domain_name": "api.scores.example.com",
    "route53_zone_id": "Z0123456789ABCDEFGHIJ",
    "data_writer_role_arn": f"arn:aws:iam::{ACCOUNT}:role/llm-scores-github-production-data",
}


def _arn_in(region: str, service: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


# Each named kind of the exports: the call that writes it, and its ARN from its planned configuration and region.
NAMED: dict[str, tuple[str, Any]] = {
    "aws_lambda_function": (
        "lambda:UpdateFunctionCode",
        lambda b, r: _arn_in(r, "lambda", f"function:{b['function_name']}"),
    ),
    "aws_iam_role": ("iam:PutRolePolicy", lambda b, r: f"arn:aws:iam::{ACCOUNT}:role/{b['name']}"),
    "aws_cloudwatch_log_group": ("logs:CreateLogGroup", lambda b, r: _arn_in(r, "logs", f"log-group:{b['name']}")),
    "aws_cloudwatch_metric_alarm": (
        "cloudwatch:PutMetricAlarm",
        lambda b, r: _arn_in(r, "cloudwatch", f"alarm:{b['alarm_name']}"),
    ),
    "aws_cloudwatch_composite_alarm": (
        "cloudwatch:PutCompositeAlarm",
        lambda b, r: _arn_in(r, "cloudwatch", f"alarm:{b['alarm_name']}"),
    ),
    "aws_cloudwatch_dashboard": (
        "cloudwatch:PutDashboard",
        lambda b, r: _arn_in("", "cloudwatch", f"dashboard/{b['dashboard_name']}"),
    ),
    "aws_sns_topic": ("sns:SetTopicAttributes", lambda b, r: _arn_in(r, "sns", b["name"])),
    "aws_cloudwatch_event_rule": ("events:PutRule", lambda b, r: _arn_in(r, "events", f"rule/{b['name']}")),
    "aws_dynamodb_table": ("dynamodb:UpdateTable", lambda b, r: _arn_in(r, "dynamodb", f"table/{b['name']}")),
    "aws_codedeploy_app": (
        "codedeploy:CreateApplication",
        lambda b, r: _arn_in(r, "codedeploy", f"application:{b['name']}"),
    ),
    "aws_codedeploy_deployment_group": (
        "codedeploy:CreateDeployment",
        lambda b, r: _arn_in(r, "codedeploy", f"deploymentgroup:{b['app_name']}/{b['deployment_group_name']}"),
    ),
    "aws_s3_bucket": ("s3:CreateBucket", lambda b, r: f"arn:aws:s3:::{b['bucket']}"),
    "aws_kms_alias": ("kms:CreateAlias", lambda b, r: _arn_in(r, "kms", b["name"])),
    "aws_wafv2_web_acl": (
        "wafv2:UpdateWebACL",
        lambda b, r: _arn_in(
            r, "wafv2", f"{'global' if b['scope'] == 'CLOUDFRONT' else 'regional'}/webacl/{b['name']}/a1b2"
        ),
    ),
}

# The data scripts' DynamoDB calls: data_plan.py, seed_data.py, and catalogue_version.py, whose bump_version apply
# calls. seed_data.py's --create-table is the local stack's; a stage's table is Terraform's, so no role creates one.
DATA_SCRIPTS = ("scripts/operations/data_plan.py", "scripts/operations/seed_data.py", "chalicelib/catalogue_version.py")
NOT_THE_DATA_ROLES = {"dynamodb:CreateTable"}
# Actions a read-only role must not hold even though they are Get/List/Describe-shaped: they return data.
DATA_READS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PartiQLSelect",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "logs:StartQuery",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
    "lambda:InvokeFunction",
    "s3:GetObject",
)
READ_ONLY = re.compile(r"^[a-z0-9-]+:(Describe|Get|List)[A-Za-z0-9]*\*?$|^apigateway:GET$")
# What writes an IAM role's permissions: each takes iam:PermissionsBoundary (the IAM service authorization
# reference), the boundary asked for on CreateRole and PutRolePermissionsBoundary, the role's own on the others.
# UpdateAssumeRolePolicy, DeleteRole and the tag calls take no such key.
ROLE_WRITES = (
    "iam:CreateRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:DeleteRolePolicy",
    "iam:AttachRolePolicy",
    "iam:DetachRolePolicy",
)
BOUNDARY_POLICY_CHANGES = (
    "iam:CreatePolicyVersion",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:SetDefaultPolicyVersion",
)


# ---- reading the plan's policies ---------------------------------------------------------------------------------


def pipeline(bootstrap: Export, **variables: Any) -> Plan:
    """The bootstrap with the pipeline on: the prod account by default, its provider passed in."""
    defaults = {
        "account_environment": "prod",
        "github_repository": REPOSITORY,
        "github_oidc_provider_arn": OIDC_PROVIDER,
    }
    return Plan(bootstrap, **{**defaults, **variables})


def every_environment(bootstrap: Export, **variables: Any) -> Plan:
    """One account that runs both stages: it serves all three environments and holds the state bucket."""
    return pipeline(bootstrap, github_environments=list(ENVIRONMENTS), **variables)


def deploy_statements(plan: Plan, environment: str) -> list[dict[str, Any]]:
    """Every statement of the managed policies attached to the environment's deploy role."""
    role = plan.resource("aws_iam_role", "pipeline_deploy", environment)["name"]
    attached = {a["policy_arn"] for _, a in plan.every("aws_iam_role_policy_attachment") if a["role"] == role}
    documents = [json.loads(p["policy"]) for address, p in plan.every("aws_iam_policy") if f"{address}.arn" in attached]
    assert documents and len(documents) == len(attached), environment
    return [statement for document in documents for statement in document["Statement"]]


def data_statements(plan: Plan, environment: str) -> list[dict[str, Any]]:
    policy = plan.resource("aws_iam_role_policy", "pipeline_data", environment)
    assert policy["role"] == f"aws_iam_role.pipeline_data['{environment}'].id"
    statements: list[dict[str, Any]] = json.loads(policy["policy"])["Statement"]
    return statements


def pipeline_statements(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    return {
        **{f"{e} deploy": deploy_statements(plan, e) for e in ENVIRONMENTS},
        **{f"{e} data": data_statements(plan, e) for e in ENVIRONMENTS},
    }


def table_arn(stage: str) -> str:
    return _arn_in(REGION, "dynamodb", f"table/llm_scores-{stage}")


def state_object(stage: str, suffix: str = "") -> str:
    return f"arn:aws:s3:::{BUCKET}/llm-scores/{stage}.tfstate{suffix}"


# ---- who may assume the roles ------------------------------------------------------------------------------------


def test_nothing_of_the_pipeline_is_created_until_a_repository_is_named(bootstrap: Export) -> None:
    assert bootstrap.variables["github_repository"]["default"] == ""
    for account in ("prod", "dev"):
        plan = Plan(bootstrap, account_environment=account)
        assert plan.planned(*PIPELINE) == set(), account
        assert plan.value(bootstrap.outputs()["github_settings"]["value"]) is None
    assert pipeline(bootstrap).planned(*PIPELINE) == {
        "aws_iam_role.pipeline_deploy",
        "aws_iam_role.pipeline_data",
        "aws_iam_policy.pipeline_deploy",
        "aws_iam_role_policy.pipeline_data",
        "aws_iam_role_policy_attachment.pipeline_deploy",
    }


def test_each_account_holds_the_roles_of_its_stages_environments(bootstrap: Export) -> None:
    def environments(plan: Plan) -> set[str]:
        return {name.split("'")[1] for name, _ in plan.every("aws_iam_role") if "pipeline_deploy" in name}

    assert environments(pipeline(bootstrap)) == {"production-plan", "production"}
    assert environments(pipeline(bootstrap, account_environment="dev", state_bucket_name=BUCKET)) == {"dev"}
    assert environments(pipeline(bootstrap, account_environment="staging")) == set()
    assert environments(every_environment(bootstrap)) == set(ENVIRONMENTS)
    plan = every_environment(bootstrap)
    for environment in ENVIRONMENTS:
        for kind in ("deploy", "data"):
            role = plan.resource("aws_iam_role", f"pipeline_{kind}", environment)
            assert role["name"] == f"llm-scores-github-{environment}-{kind}"
            assert role["max_session_duration"] == 3600
            assert role["tags"] == {"github-environment": environment, "pipeline-role": kind}


def test_the_repository_and_the_environments_are_validated(bootstrap: Export) -> None:
    for repository, accepted in (("example-org/llm-scores", True), ("", True), ("llm-scores", False), ("a/b/c", False)):
        assert pipeline(bootstrap, github_repository=repository).valid("github_repository") is accepted, repository
    assert pipeline(bootstrap, github_environments=["staging"]).valid("github_environments") is False
    assert (
        pipeline(bootstrap, github_oidc_provider_arn="arn:aws:iam::1:oidc-provider/x").valid("github_oidc_provider_arn")
        is False
    )


def test_each_role_trusts_only_its_own_environments_subject_and_audience(bootstrap: Export) -> None:
    plan = every_environment(bootstrap)
    for environment in ENVIRONMENTS:
        for kind in ("deploy", "data"):
            trust = json.loads(plan.resource("aws_iam_role", f"pipeline_{kind}", environment)["assume_role_policy"])
            (statement,) = trust["Statement"]
            assert statement["Effect"] == "Allow"
            assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
            assert statement["Principal"] == {"Federated": OIDC_PROVIDER}
            assert statement["Condition"] == {
                "StringEquals": {
                    "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                    "token.actions.githubusercontent.com:sub": f"repo:{REPOSITORY}:environment:{environment}",
                }
            }
            assert not re.search(r"[*?]", json.dumps(statement["Condition"])), "no wildcard in a claim"


def test_the_oidc_provider_is_created_unless_the_accounts_own_is_passed(bootstrap: Export) -> None:
    passed = pipeline(bootstrap)
    assert passed.planned("aws_iam_openid_connect_provider.") == set()
    created = pipeline(bootstrap, github_oidc_provider_arn="")
    provider = created.resource("aws_iam_openid_connect_provider", "github", 0)
    assert provider["url"] == "https://token.actions.githubusercontent.com"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    created.knowing({"aws_iam_openid_connect_provider.github[0].arn": OIDC_PROVIDER})
    trust = json.loads(created.resource("aws_iam_role", "pipeline_deploy", "production")["assume_role_policy"])
    assert trust["Statement"][0]["Principal"] == {"Federated": OIDC_PROVIDER}


# ---- what the deploy roles may do --------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_every_kind_of_resource_the_stage_exports_is_its_writing_roles_to_manage(
    request: pytest.FixtureRequest, bootstrap: Export, stage: str
) -> None:
    # Every kind the export declares, whether an option turns it on or not: an all-options export.
    kinds = {kind for kind, _, _ in request.getfixturevalue(stage).all_resources()}
    assert not kinds - set(MANAGED_BY), (
        f"new resource kinds: give the deploy roles their calls, then map them here: {sorted(kinds - set(MANAGED_BY))}"
    )
    plan = every_environment(bootstrap)
    statements = deploy_statements(plan, WRITING_ENVIRONMENT[stage])
    for kind in sorted(kinds):
        for action in MANAGED_BY[kind]:
            assert allows_anywhere(statements, action), f"{WRITING_ENVIRONMENT[stage]}: {kind} needs {action}"


def named_resources(export: Export) -> set[tuple[str, str]]:
    """(action, ARN) for every named resource of the export, every option on, in either front door."""
    named = set()
    for api_type in ("REST", "HTTP"):
        plan = Plan(export, api_type=api_type, **EVERY_OPTION)
        for kind, (action, arn) in NAMED.items():
            for address, body in plan.every(kind):
                region = "us-east-1" if body.get("provider") == "aws.us_east_1" else REGION
                resource = arn(body, region)
                assert not isinstance(resource, Unknown) and "${" not in resource, address
                named.add((action, resource))
    return named


def test_each_writing_role_writes_its_stages_names_and_not_the_other_stages(
    bootstrap: Export, dev: Export, prod: Export
) -> None:
    plan = every_environment(bootstrap)
    names = {"dev": named_resources(dev), "prod": named_resources(prod)}
    assert {action for action, _ in names["prod"]} == {action for action, _ in NAMED.values()}
    for stage, other in (("dev", "prod"), ("prod", "dev")):
        statements = deploy_statements(plan, WRITING_ENVIRONMENT[stage])
        for action, resource in sorted(names[stage]):
            assert allows(statements, action, resource), f"{WRITING_ENVIRONMENT[stage]}: {action} on {resource}"
        for action, resource in sorted(names[other]):
            assert not allows(statements, action, resource), f"{WRITING_ENVIRONMENT[stage]} reaches {resource}"


def test_no_deploy_role_reaches_the_bootstraps_own_resources(bootstrap: Export) -> None:
    # The bootstrap names some of its resources llm-scores-<account_environment>-..., which is llm-scores-prod-...
    # in the prod account: the deploy roles name the export's roles, topics and alias exactly.
    plan = every_environment(bootstrap, github_oidc_provider_arn="")
    owned = [
        ("iam:PutRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/{role['name']}") for _, role in plan.every("aws_iam_role")
    ]
    owned += [("iam:UpdateAssumeRolePolicy", arn) for _, arn in owned] + [("iam:PassRole", arn) for _, arn in owned]
    owned += [("sns:SetTopicAttributes", _arn_in(REGION, "sns", "llm-scores-prod-cost-alerts"))]
    owned += [("kms:DeleteAlias", _arn_in(REGION, "kms", "alias/llm-scores-prod-cost-alerts"))]
    owned += [
        ("iam:UpdateOpenIDConnectProviderThumbprint", OIDC_PROVIDER),
        ("s3:PutBucketPolicy", f"arn:aws:s3:::{BUCKET}"),
    ]
    assert len(owned) > 20
    for environment in ENVIRONMENTS:
        statements = deploy_statements(plan, environment)
        for action, resource in owned:
            assert not allows(statements, action, resource), f"{environment}: {action} on {resource}"


def test_pass_role_hands_each_stage_role_only_to_the_service_that_assumes_it(
    bootstrap: Export, dev: Export, prod: Export
) -> None:
    plan = every_environment(bootstrap)
    for export in (dev, prod):
        statements = deploy_statements(plan, WRITING_ENVIRONMENT[export.stage])
        passing = [s for s in statements if s["Effect"] == "Allow" and "iam:PassRole" in listed(s["Action"])]
        assert passing
        for statement in passing:
            assert listed(statement["Action"]) == ["iam:PassRole"]
            assert set(statement["Condition"]) == {"StringEquals"}
        roles = dict(Plan(export, **EVERY_OPTION).every("aws_iam_role"))
        assert len(roles) == 5
        for address, role in roles.items():
            arn = f"arn:aws:iam::{ACCOUNT}:role/{role['name']}"
            (service,) = {s["Principal"]["Service"] for s in json.loads(role["assume_role_policy"])["Statement"]}
            (statement,) = [s for s in passing if covers(s, "iam:PassRole", arn)]
            assert statement["Condition"]["StringEquals"] == {"iam:PassedToService": service}, address
        covered = [r for s in passing for r in s["Resource"]]
        assert sorted(covered) == sorted(f"arn:aws:iam::{ACCOUNT}:role/{r['name']}" for r in roles.values())


def boundary_arn(stage: str) -> str:
    """The stage's role boundary (stage_role_boundary.tf), which its roles carry."""
    return f"arn:aws:iam::{ACCOUNT}:policy/llm-scores-{stage}-role-boundary"


def test_the_writing_roles_write_their_stages_roles_only_within_its_boundary(
    bootstrap: Export, dev: Export, prod: Export
) -> None:
    plan = every_environment(bootstrap)
    for export in (dev, prod):
        stage = export.stage
        statements = deploy_statements(plan, WRITING_ENVIRONMENT[stage])
        writing = [
            s
            for s in statements
            if s["Effect"] == "Allow"
            and any(matches(p, a, case_sensitive=False) for p in listed(s["Action"]) for a in ROLE_WRITES)
        ]
        assert writing
        for statement in writing:
            assert statement["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": boundary_arn(stage)}}
        # Within it, an apply still creates the roles, puts the boundary on roles created before it, and writes
        # their policies; no stage role has a managed policy to attach.
        roles = [
            f"arn:aws:iam::{ACCOUNT}:role/{r['name']}" for _, r in Plan(export, **EVERY_OPTION).every("aws_iam_role")
        ]
        assert len(roles) == 5
        for role in roles:
            for action in ROLE_WRITES:
                attaches = action in ("iam:AttachRolePolicy", "iam:DetachRolePolicy")
                assert allows(statements, action, role) is not attaches, f"{action} on {role}"
        # The boundary the condition names is the one the bootstrap creates for the stage.
        created = plan.resource("aws_iam_policy", "stage_role_boundary", stage)
        assert f"arn:aws:iam::{ACCOUNT}:policy/{created['name']}" == boundary_arn(stage)


def test_no_deploy_role_may_take_a_boundary_off_or_change_a_boundary_policy(
    bootstrap: Export, dev: Export, prod: Export
) -> None:
    plan = every_environment(bootstrap)
    for environment in ("dev", "production"):
        denied = [s for s in deploy_statements(plan, environment) if s["Effect"] == "Deny" and "Condition" not in s]
        for export in (dev, prod):
            for _, role in Plan(export, **EVERY_OPTION).every("aws_iam_role"):
                arn = f"arn:aws:iam::{ACCOUNT}:role/{role['name']}"
                assert any(covers(s, "iam:DeleteRolePermissionsBoundary", arn) for s in denied), f"{environment}: {arn}"
            for action in BOUNDARY_POLICY_CHANGES:
                assert any(covers(s, action, boundary_arn(export.stage)) for s in denied), f"{environment}: {action}"


def test_the_production_plan_deploy_role_reads_and_takes_the_lock_but_cannot_apply(bootstrap: Export) -> None:
    plan = every_environment(bootstrap)
    reader = deploy_statements(plan, "production-plan")
    for statement in reader:
        assert statement["Effect"] == "Allow"
        if statement["Resource"] == [state_object("prod", ".tflock")]:
            assert sorted(statement["Action"]) == ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
            continue
        for action in statement["Action"]:
            assert READ_ONLY.match(action), f"{statement['Sid']}: {action} is not a read"
            for data in DATA_READS:
                reads_state = data == "s3:GetObject" and statement["Resource"] == [state_object("prod")]
                assert reads_state or not matches(action, data, case_sensitive=False), f"{statement['Sid']}: {data}"
    # Whatever the production role may do that is not a read, on whatever it may do it, the plan role may not.
    writer = deploy_statements(plan, "production")
    writes = {
        (action, resource)
        for s in writer
        if s["Effect"] == "Allow"
        for action in s["Action"]
        if not READ_ONLY.match(action)
        for resource in s["Resource"]
    }
    assert len(writes) > 300
    for action, resource in sorted(writes):
        if resource != state_object("prod", ".tflock"):
            assert not allows(reader, action, resource), f"production-plan may {action} on {resource}"
    assert not allows(reader, "s3:PutObject", state_object("prod"))


def test_no_statement_grants_every_action_or_iam_and_sts_on_everything(bootstrap: Export) -> None:
    plan = every_environment(bootstrap, state_bucket_stage_principal_arns={"dev": [f"arn:aws:iam::{ACCOUNT}:role/x"]})
    documents = pipeline_statements(plan)
    documents["bucket"] = json.loads(plan.resource("aws_s3_bucket_policy", "state", 0)["policy"])["Statement"]
    for name, statements in documents.items():
        for statement in statements:
            assert {"NotAction", "NotResource", "NotPrincipal"}.isdisjoint(statement), name
            if statement["Effect"] != "Allow":
                continue
            for action in listed(statement["Action"]):
                assert action != "*" and not action.endswith(":*"), f"{name}: {action}"
                if "*" in listed(statement["Resource"]):
                    assert not action.startswith(("iam:", "sts:")), f"{name}: {action} on *"


def test_the_writing_roles_deploy_with_deploy_py_and_assume_no_other_role(bootstrap: Export) -> None:
    plan = every_environment(bootstrap)
    for stage in ("dev", "prod"):
        statements = deploy_statements(plan, WRITING_ENVIRONMENT[stage])
        group = _arn_in(REGION, "codedeploy", f"deploymentgroup:llm-scores-{stage}/llm-scores-{stage}-live")
        application = _arn_in(REGION, "codedeploy", f"application:llm-scores-{stage}")
        config = _arn_in(REGION, "codedeploy", "deploymentconfig:CodeDeployDefault.LambdaCanary10Percent5Minutes")
        function = _arn_in(REGION, "lambda", f"function:llm-scores-{stage}")
        record = _arn_in(REGION, "ssm", f"parameter/llm-scores-{stage}/rolled-back-versions")
        expected = [(a, group) for a in ("CreateDeployment", "GetDeployment", "ListDeployments")]
        expected += [(a, application) for a in ("RegisterApplicationRevision", "GetApplicationRevision")]
        for action, resource in [(f"codedeploy:{a}", r) for a, r in expected] + [
            ("codedeploy:GetDeploymentConfig", config)
        ]:
            assert allows(statements, action, resource), action
        for action in ("lambda:GetAlias", "lambda:GetFunctionConfiguration", "lambda:UpdateAlias"):
            assert allows(statements, action, function) and allows(statements, action, f"{function}:live"), action
        for action in ("ssm:GetParameter", "ssm:PutParameter"):
            assert allows(statements, action, record), action
        assert not allows(statements, "ssm:GetParameter", _arn_in(REGION, "ssm", "parameter/other"))
        # Its stage roles' trust policies are this role's to write: it must not be able to assume them.
        assert not allows(statements, "sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/llm-scores-{stage}-api_handler")
        # The table's items are the data role's (data_access.tf refuses every other writer).
        for action in stage_table_item_write_actions():
            assert not allows(statements, action, table_arn(stage)), action


def test_every_managed_policy_fits_iams_limits_in_the_longest_region_and_partition(bootstrap: Export) -> None:
    plan = every_environment(bootstrap)
    for address, policy in plan.every("aws_iam_policy"):
        longest = policy["policy"].replace(REGION, "ap-southeast-5").replace("arn:aws:", "arn:aws-us-gov:")
        assert len(re.sub(r"\s", "", longest)) <= 6144, address
    for environment in ENVIRONMENTS:
        role = f"llm-scores-github-{environment}-deploy"
        attached = [a for _, a in plan.every("aws_iam_role_policy_attachment") if a["role"] == role]
        assert 1 <= len(attached) <= 10, environment  # IAM's default quota of managed policies per role


# ---- the data roles ------------------------------------------------------------------------------------------------


def stage_table_item_write_actions() -> list[str]:
    actions: list[str] = read_terraform(ROOT / "infra" / "terraform")["data_access.tf"]["locals"][
        "table_item_write_actions"
    ]
    return actions


def data_script_actions() -> set[str]:
    """The IAM action of every DynamoDB call the data scripts make, found by the operation's name in their code."""
    session = botocore.session.get_session()
    operations = {xform_name(name): name for name in session.get_service_model("dynamodb").operation_names}
    waiters = session.get_waiter_model("dynamodb")
    waits = {xform_name(name): waiters.get_waiter(name).operation for name in waiters.waiter_names}
    actions = set()
    for path in DATA_SCRIPTS:
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if node.func.attr in operations:
                    actions.add(f"dynamodb:{operations[node.func.attr]}")
                elif node.func.attr == "get_waiter" and isinstance(waiter := node.args[0], ast.Constant):
                    actions.add(f"dynamodb:{waits[waiter.value]}")
    return actions


def test_the_writing_data_roles_make_every_call_of_the_data_scripts_on_their_stages_table(bootstrap: Export) -> None:
    calls = data_script_actions()
    assert {"dynamodb:Scan", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"} <= calls
    assert {"dynamodb:BatchWriteItem", "dynamodb:DescribeTable", "dynamodb:CreateTable"} <= calls
    plan = every_environment(bootstrap)
    for stage in ("dev", "prod"):
        statements = data_statements(plan, WRITING_ENVIRONMENT[stage])
        for action in sorted(calls - NOT_THE_DATA_ROLES):
            assert allows(statements, action, table_arn(stage)), action
        for action in NOT_THE_DATA_ROLES:
            assert not allows_anywhere(statements, action)
        # The writes are exactly those the stage table's resource policy reserves to this role.
        writes = {a for s in statements for a in s["Action"] if a in stage_table_item_write_actions()}
        assert writes == set(stage_table_item_write_actions())
        other = "prod" if stage == "dev" else "dev"
        assert not any(allows(statements, action, table_arn(other)) for action in calls)


def test_the_production_plan_data_role_only_reads_the_prod_table(bootstrap: Export) -> None:
    statements = data_statements(every_environment(bootstrap), "production-plan")
    assert allows(statements, "dynamodb:Scan", table_arn("prod"))  # data_plan.py plan reads the whole table
    actions = {a for s in statements for a in s["Action"]}
    assert actions <= {"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Scan"}
    assert not any(allows(statements, a, table_arn("prod")) for a in stage_table_item_write_actions())


def test_the_writing_data_roles_arn_is_what_its_stage_takes_as_data_writer_role_arn(
    bootstrap: Export, prod: Export
) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:role/llm-scores-github-production-data"
    plan = pipeline(bootstrap).knowing({"aws_iam_role.pipeline_data['production'].arn": arn})
    assert plan.value(bootstrap.outputs()["stage_data_writer_role_arns"]["value"]) == {"prod": arn}
    assert Plan(prod, data_writer_role_arn=arn).valid("data_writer_role_arn")


# ---- the repository settings ---------------------------------------------------------------------------------------


def test_github_settings_names_every_variable_the_deploy_workflow_reads_in_every_environment(
    bootstrap: Export,
) -> None:
    workflow_text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    variables = set(re.findall(r"\bvars\.([A-Z_]+)", workflow_text))
    jobs = yaml.safe_load(workflow_text)["jobs"].values()
    environments = {job["environment"]["name"] for job in jobs if "environment" in job}
    applied = {}
    for environment in ENVIRONMENTS:
        for kind in ("deploy", "data"):
            applied[f"aws_iam_role.pipeline_{kind}['{environment}'].arn"] = f"{environment}-{kind}"
    plan = every_environment(bootstrap).knowing(applied)
    settings = plan.value(bootstrap.outputs()["github_settings"]["value"])
    assert set(settings["environments"]) == environments == set(ENVIRONMENTS)
    for environment, values in settings["environments"].items():
        assert values == {"AWS_DEPLOY_ROLE_ARN": f"{environment}-deploy", "AWS_DATA_ROLE_ARN": f"{environment}-data"}
    assert settings["repository"] == {"AWS_REGION": REGION, "TF_STATE_BUCKET": BUCKET, "TF_STATE_REGION": REGION}
    assert (
        set(settings["repository"]) | {name for values in settings["environments"].values() for name in values}
        == variables
    )


# ---- the state bucket ----------------------------------------------------------------------------------------------


def test_the_state_bucket_is_created_in_the_prod_account_only_by_default(bootstrap: Export) -> None:
    assert Plan(bootstrap, account_environment="prod").planned(*STATE_BUCKET)
    assert Plan(bootstrap, account_environment="dev").planned(*STATE_BUCKET) == set()
    assert Plan(bootstrap, account_environment="prod", state_bucket_enabled=False).planned(*STATE_BUCKET) == set()
    assert Plan(bootstrap, account_environment="dev", state_bucket_enabled=True).planned(*STATE_BUCKET)
    # Roles need a bucket: a dev account names the prod account's.
    assert pipeline(bootstrap, account_environment="dev").refusals("aws_iam_policy.") != []
    assert pipeline(bootstrap, account_environment="dev", state_bucket_name=BUCKET).refusals() == []


def test_the_state_bucket_is_versioned_encrypted_private_owner_enforced_and_never_destroyed(bootstrap: Export) -> None:
    plan = Plan(bootstrap, account_environment="prod", state_noncurrent_version_expiration_days=30)
    bucket = plan.resource("aws_s3_bucket", "state", 0)
    assert bucket["bucket"] == BUCKET
    assert bucket["lifecycle"]["prevent_destroy"] is True
    assert plan.resource("aws_s3_bucket_versioning", "state", 0)["versioning_configuration"] == {"status": "Enabled"}
    (rule,) = listed(plan.resource("aws_s3_bucket_server_side_encryption_configuration", "state", 0)["rule"])
    # SSE-S3: the workflow's backend writes every object with AES256 (encrypt = true, no kms_key_id).
    assert rule["apply_server_side_encryption_by_default"] == {"sse_algorithm": "AES256"}
    workflow = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    assert re.search(r"encrypt\s*=\s*true", workflow) and "kms_key_id" not in workflow
    block = plan.resource("aws_s3_bucket_public_access_block", "state", 0)
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    ownership = plan.resource("aws_s3_bucket_ownership_controls", "state", 0)
    assert listed(ownership["rule"]) == [{"object_ownership": "BucketOwnerEnforced"}]
    (lifecycle,) = plan.resource("aws_s3_bucket_lifecycle_configuration", "state", 0)["rule"]
    assert lifecycle["status"] == "Enabled"
    assert lifecycle["noncurrent_version_expiration"] == {"noncurrent_days": 30}
    assert lifecycle["abort_incomplete_multipart_upload"] == {"days_after_initiation": 1}
    assert "expiration" not in lifecycle, "the current state never expires"


def test_the_state_bucket_policy_refuses_plain_http_and_lets_other_accounts_roles_reach_only_their_stage(
    bootstrap: Export,
) -> None:
    dev_role = "arn:aws:iam::210987654321:role/llm-scores-github-dev-deploy"
    plan = Plan(bootstrap, account_environment="prod", state_bucket_stage_principal_arns={"dev": [dev_role]})
    statements = json.loads(plan.resource("aws_s3_bucket_policy", "state", 0)["policy"])["Statement"]
    deny = statements[0]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Resource"] == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    granted = statements[1:]
    assert granted and all(s["Principal"] == {"AWS": [dev_role]} for s in granted)
    assert allows(granted, "s3:PutObject", state_object("dev")) and allows(
        granted, "s3:DeleteObject", state_object("dev", ".tflock")
    )
    assert not allows(granted, "s3:GetObject", state_object("prod"))
    (listing,) = [s for s in granted if "s3:ListBucket" in s["Action"]]
    assert listing["Condition"] == {"StringEquals": {"s3:prefix": "llm-scores/dev.tfstate"}}
    only_deny = json.loads(
        Plan(bootstrap, account_environment="prod").resource("aws_s3_bucket_policy", "state", 0)["policy"]
    )
    assert only_deny["Statement"] == [deny]


def test_each_stages_deploy_roles_hold_its_state_and_lock_and_nothing_else_in_the_bucket(bootstrap: Export) -> None:
    plan = every_environment(bootstrap)
    for environment, stage in ENVIRONMENTS.items():
        statements = deploy_statements(plan, environment)
        other = "prod" if stage == "dev" else "dev"
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            assert allows(statements, action, state_object(stage, ".tflock")), f"{environment}: {action} on its lock"
            assert not allows(statements, action, state_object(other, ".tflock")), environment
            assert not allows(statements, action, state_object(other)), environment
        assert allows(statements, "s3:GetObject", state_object(stage))
        assert allows(statements, "s3:PutObject", state_object(stage)) is (environment != "production-plan")
        assert not allows(statements, "s3:DeleteObject", state_object(stage))
        (listing,) = [
            s for s in statements if "s3:ListBucket" in s["Action"] and f"arn:aws:s3:::{BUCKET}" in s["Resource"]
        ]
        assert listing["Condition"] == {"StringEquals": {"s3:prefix": f"llm-scores/{stage}.tfstate"}}


# ---- checkov, on what the plan renders -----------------------------------------------------------------------------


def test_checkov_passes_the_pipeline_policies_as_a_plan_renders_them(bootstrap: Export, tmp_path: Path) -> None:
    # checkov cannot evaluate the for_each maps these policies are built from, so the bootstrap's own scan
    # (test_export.py) never sees inside them: its IAM checks run here on the documents a plan renders.
    plan = every_environment(bootstrap)
    blocks = []
    for kind, attribute in (
        ("aws_iam_policy", "policy"),
        ("aws_iam_role", "assume_role_policy"),
        ("aws_iam_role_policy", "policy"),
    ):
        for address, body in plan.every(kind):
            if ".pipeline_" not in address and ".stage_role_boundary" not in address:
                continue
            name = re.sub(r"\W+", "_", address.split(".", 1)[1]).strip("_")
            document = json.dumps(json.loads(body[attribute]), indent=2)
            role = '  role = "x"\n' if kind == "aws_iam_role_policy" else ""
            policy = f"  {attribute} = <<POLICY\n{document}\nPOLICY\n"
            blocks.append(f'resource "{kind}" "{name}" {{\n  name = "{name}"\n{role}{policy}}}\n')
    # Managed policies (dev, production, production-plan), roles, data policies, the stages' role boundaries.
    assert len(blocks) == 8 + 8 + 4 + 6 + 3 + 2
    (tmp_path / "pipeline.tf").write_text("\n".join(blocks))
    checked = {
        check["check_id"] for report in checkov_clean(tmp_path).values() for check in report["results"]["passed_checks"]
    }
    assert {"CKV_AWS_290", "CKV_AWS_355", "CKV_AWS_286", "CKV_AWS_289", "CKV_AWS_288"} <= checked
