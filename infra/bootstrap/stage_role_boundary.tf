# Each stage's role boundary: the most its IAM roles may ever do, whatever policies they are given. The stage's
# roles are Chalice's four function roles (`llm-scores-<stage>-<function>`) and CodeDeploy's
# (infra/terraform/codedeploy.tf), and the writing deploy roles write their policies (pipeline_permissions.tf). So
# without a cap, a compromised pipeline run could give one of them AdministratorAccess and take the account. With
# it, every stage role carries this managed policy as its permissions boundary (the stage's
# role_permissions_boundary_arn), the deploy roles may create and write those roles only while they carry it, and
# may neither remove it nor change the policy (pipeline_permissions.tf).
#
# It allows the union of what the stage's roles legitimately need, and nothing else: the functions' policies
# (.chalice/policy-<function>-<stage>.json, as the export scopes them), CodeDeploy's inline policy, and what Lambda
# does with a function's role (its logs and, with tracing, X-Ray). No stage role has a managed policy attached; one
# that gets one needs its actions here too. tests/terraform/test_role_boundary.py keeps every action of every stage
# role's policies inside it, on the resources the export gives them.
#
# Created for every stage whose pipeline roles this account holds, which need it; an account applied by hand can
# have it too (stage_role_boundary_stages), so that its stage roles are capped alike.

variable "stage_role_boundary_stages" {
  type        = list(string)
  default     = []
  description = "Stages whose role boundary (llm-scores-<stage>-role-boundary) this account holds besides those of its pipeline roles, which always get one: for stages applied by hand."
  validation {
    condition     = alltrue([for stage in var.stage_role_boundary_stages : contains(["dev", "prod"], stage)])
    error_message = "stage_role_boundary_stages may hold only dev and prod."
  }
}

locals {
  stage_role_boundary_stages = toset(concat(var.stage_role_boundary_stages, [for environment, role in local.pipeline_roles : role.stage]))
  # By name, for the deploy roles' conditions (pipeline_permissions.tf): known at plan, whether or not created here.
  stage_role_boundary_arns = { for stage in ["dev", "prod"] : stage => "arn:${local.pipeline_partition}:iam::${local.pipeline_account}:policy/llm-scores-${stage}-role-boundary" }

  stage_role_boundary_statements = {
    for stage in ["dev", "prod"] : stage => [
      {
        # Each function's own log group, which Terraform creates: no logs:CreateLogGroup (the export removes it).
        Sid    = "WriteTheFunctionsLogs"
        Effect = "Allow"
        Action = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = flatten([
          for function in ["", "-warm_up", "-before_allow_traffic", "-after_allow_traffic"] : [
            "arn:${local.pipeline_partition}:logs:${local.pipeline_region}:${local.pipeline_account}:log-group:/aws/lambda/llm-scores-${stage}${function}",
            "arn:${local.pipeline_partition}:logs:${local.pipeline_region}:${local.pipeline_account}:log-group:/aws/lambda/llm-scores-${stage}${function}:*",
          ]
        ])
      },
      {
        # Lambda's active tracing, and the hooks' CloudWatch reads: these take no resource.
        Sid      = "SendTracesAndReadMetrics"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "cloudwatch:GetMetricStatistics"]
        Resource = ["*"]
      },
      {
        # The API function reads the table; its items are written only by the data role (data_access.tf).
        Sid      = "ReadTheStagesTable"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:Scan"]
        Resource = [local.pipeline_stage_arns[stage].table]
      },
      {
        # With a customer managed key on the table (dynamodb_kms_key_arn), DynamoDB decrypts it with the reader's
        # own permission; only through DynamoDB in this region.
        Sid       = "DecryptTheTableThroughDynamoDB"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = ["arn:${local.pipeline_partition}:kms:${local.pipeline_region}:${local.pipeline_account}:key/*"]
        Condition = { StringEquals = { "kms:ViaService" = "dynamodb.${local.pipeline_region}.amazonaws.com" } }
      },
      {
        # The warmer invokes the API function's alias, the BeforeAllowTraffic hook its new version; CodeDeploy
        # invokes the two hooks.
        Sid    = "InvokeTheApiFunctionAndTheHooks"
        Effect = "Allow"
        Action = ["lambda:InvokeFunction"]
        Resource = [
          "arn:${local.pipeline_partition}:lambda:${local.pipeline_region}:${local.pipeline_account}:function:llm-scores-${stage}",
          "arn:${local.pipeline_partition}:lambda:${local.pipeline_region}:${local.pipeline_account}:function:llm-scores-${stage}:*",
          "arn:${local.pipeline_partition}:lambda:${local.pipeline_region}:${local.pipeline_account}:function:llm-scores-${stage}-before_allow_traffic",
          "arn:${local.pipeline_partition}:lambda:${local.pipeline_region}:${local.pipeline_account}:function:llm-scores-${stage}-after_allow_traffic",
        ]
      },
      {
        # CodeDeploy shifts the API function's live alias.
        Sid    = "ShiftTheLiveAlias"
        Effect = "Allow"
        Action = ["lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:UpdateAlias"]
        Resource = [
          "arn:${local.pipeline_partition}:lambda:${local.pipeline_region}:${local.pipeline_account}:function:llm-scores-${stage}",
          "arn:${local.pipeline_partition}:lambda:${local.pipeline_region}:${local.pipeline_account}:function:llm-scores-${stage}:*",
        ]
      },
      {
        # CodeDeploy reads the alarms that stop a shift; all are the stage's.
        Sid      = "ReadTheStagesAlarms"
        Effect   = "Allow"
        Action   = ["cloudwatch:DescribeAlarms"]
        Resource = ["arn:${local.pipeline_partition}:cloudwatch:${local.pipeline_region}:${local.pipeline_account}:alarm:llm-scores-${stage}-*"]
      },
      {
        # The hooks report on the live alias's deployments.
        Sid      = "ReportToTheLiveAliasDeployments"
        Effect   = "Allow"
        Action   = ["codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"]
        Resource = [local.pipeline_stage_arns[stage].codedeploy_group]
      },
    ]
  }
}

resource "aws_iam_policy" "stage_role_boundary" {
  for_each    = local.stage_role_boundary_stages
  name        = "llm-scores-${each.key}-role-boundary"
  description = "The ${each.key} stage's roles' permissions boundary: the most they may do (infra/bootstrap/stage_role_boundary.tf)"
  policy      = jsonencode({ Version = "2012-10-17", Statement = local.stage_role_boundary_statements[each.key] })
}

output "stage_role_boundary_arns" {
  description = "Each stage's role_permissions_boundary_arn (infra/terraform/stages/<stage>.json): the boundary its roles carry, by stage."
  value       = { for stage in local.stage_role_boundary_stages : stage => aws_iam_policy.stage_role_boundary[stage].arn }
}
