# The role `make acceptance` runs under (docs/acceptance.md): read-only across the account's llm-scores stages,
# plus each drill's narrow writes, each behind its own variable so a drill's permission exists only for the
# afternoon it is run. Account-wide like the rest of this directory: one role serves every stage of the account.
# Its variables and output live here, beside the one role they shape. The role always exists, like this
# directory's other role (tests/terraform/test_bootstrap.py): read-only, it grants nothing until a principal is
# trusted, or allowed by its own policy to assume it.

variable "acceptance_role_trusted_arns" {
  type        = list(string)
  default     = []
  description = "IAM principals (roles or users) that may assume the acceptance role; empty trusts the account, so that only principals whose own policy allows sts:AssumeRole on it may."
  validation {
    condition     = alltrue([for arn in var.acceptance_role_trusted_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "acceptance_role_trusted_arns must hold IAM role or user ARNs."
  }
}

variable "acceptance_alarm_drill_enabled" {
  type        = bool
  default     = false
  description = "Let the acceptance role run the alarm drill: cloudwatch:SetAlarmState on the page-fast availability burn-rate alarms only."
}

variable "acceptance_rollback_drill_enabled" {
  type        = bool
  default     = false
  description = "Let the acceptance role run the rollback drill: create and stop CodeDeploy deployments of the stages' groups, and put their live alias back (lambda:UpdateAlias)."
}

variable "acceptance_deploy_role_arns" {
  type        = list(string)
  default     = []
  description = "GitHub deploy roles whose trust (iam:GetRole) and permissions (iam:SimulatePrincipalPolicy) acceptance checks, besides the ones this bootstrap creates (pipeline_roles.tf), which it always may."
  validation {
    condition     = alltrue([for arn in var.acceptance_deploy_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn))])
    error_message = "acceptance_deploy_role_arns must hold IAM role ARNs."
  }
}

locals {
  acceptance_arn_prefix = {
    region_account = "${data.aws_region.current.id}:${data.aws_caller_identity.current.account_id}"
    partition      = data.aws_partition.current.partition
  }
  acceptance_function_arns = [
    "arn:${local.acceptance_arn_prefix.partition}:lambda:${local.acceptance_arn_prefix.region_account}:function:llm-scores-*",
  ]
  acceptance_deployment_group_arn = "arn:${local.acceptance_arn_prefix.partition}:codedeploy:${local.acceptance_arn_prefix.region_account}:deploymentgroup:llm-scores-*/llm-scores-*-live"
  acceptance_read_statements = [
    {
      Sid      = "ReadTheStagesTables"
      Effect   = "Allow"
      Action   = ["dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups"]
      Resource = ["arn:${local.acceptance_arn_prefix.partition}:dynamodb:${local.acceptance_arn_prefix.region_account}:table/llm_scores-*"]
    },
    {
      # DescribeAlarms and DescribeAlarmHistory take no resource: AWS authorises them account-wide only.
      Sid      = "ReadAlarmsAndTheirHistory"
      Effect   = "Allow"
      Action   = ["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory"]
      Resource = ["*"]
    },
    {
      Sid      = "ReadTheDeploymentGroupsAndTheirDeployments"
      Effect   = "Allow"
      Action   = ["codedeploy:GetDeploymentGroup", "codedeploy:ListDeployments", "codedeploy:GetDeployment"]
      Resource = [local.acceptance_deployment_group_arn]
    },
    {
      Sid      = "ReadTheApiFunctionsAndTheirAlias"
      Effect   = "Allow"
      Action   = ["lambda:GetAlias", "lambda:GetFunctionConfiguration"]
      Resource = concat(local.acceptance_function_arns, [for arn in local.acceptance_function_arns : "${arn}:*"])
    },
    {
      Sid    = "ReadTheRestApisAndTheirStage"
      Effect = "Allow"
      Action = ["apigateway:GET"]
      Resource = [
        "arn:${local.acceptance_arn_prefix.partition}:apigateway:${data.aws_region.current.id}::/restapis",
        "arn:${local.acceptance_arn_prefix.partition}:apigateway:${data.aws_region.current.id}::/restapis/*/stages/api",
      ]
    },
    {
      # ListWebACLs takes no resource; the logging configuration is read for the stages' ACLs only.
      Sid      = "ListWebAcls"
      Effect   = "Allow"
      Action   = ["wafv2:ListWebACLs"]
      Resource = ["*"]
    },
    {
      Sid    = "ReadTheStagesWebAclLogging"
      Effect = "Allow"
      Action = ["wafv2:GetLoggingConfiguration"]
      Resource = [
        "arn:${local.acceptance_arn_prefix.partition}:wafv2:${local.acceptance_arn_prefix.region_account}:regional/webacl/llm-scores-*/*",
        "arn:${local.acceptance_arn_prefix.partition}:wafv2:us-east-1:${data.aws_caller_identity.current.account_id}:global/webacl/llm-scores-*/*",
      ]
    },
    {
      Sid      = "ReadTheCloudFrontLogBuckets"
      Effect   = "Allow"
      Action   = ["s3:GetBucketAcl", "s3:ListBucket"]
      Resource = ["arn:${local.acceptance_arn_prefix.partition}:s3:::llm-scores-*-cloudfront-logs-${data.aws_caller_identity.current.account_id}"]
    },
    {
      Sid      = "FilterTheFunctionsLogs"
      Effect   = "Allow"
      Action   = ["logs:FilterLogEvents"]
      Resource = ["arn:${local.acceptance_arn_prefix.partition}:logs:${local.acceptance_arn_prefix.region_account}:log-group:/aws/lambda/llm-scores-*"]
    },
    {
      Sid      = "ReadTheBudgets"
      Effect   = "Allow"
      Action   = ["budgets:ViewBudget"]
      Resource = ["arn:${local.acceptance_arn_prefix.partition}:budgets::${data.aws_caller_identity.current.account_id}:budget/llm-scores-*"]
    },
    {
      Sid      = "ReadTheAlertTopics"
      Effect   = "Allow"
      Action   = ["sns:GetTopicAttributes"]
      Resource = ["arn:${local.acceptance_arn_prefix.partition}:sns:${local.acceptance_arn_prefix.region_account}:llm-scores-*"]
    },
    {
      Sid      = "ReadTheAlertKeysPolicies"
      Effect   = "Allow"
      Action   = ["kms:GetKeyPolicy"]
      Resource = ["arn:${local.acceptance_arn_prefix.partition}:kms:${local.acceptance_arn_prefix.region_account}:key/*"]
      Condition = {
        "ForAnyValue:StringLike" = { "kms:ResourceAliases" = ["alias/llm-scores-*"] }
      }
    },
  ]
  # The pipeline's deploy roles this bootstrap creates (pipeline_roles.tf, by the names it gives them), and any
  # others named.
  acceptance_deploy_role_arns = concat(
    [for environment, role in local.pipeline_roles : "arn:${local.pipeline_partition}:iam::${local.pipeline_account}:role/llm-scores-github-${environment}-deploy"],
    var.acceptance_deploy_role_arns,
  )
  acceptance_deploy_role_statements = length(local.acceptance_deploy_role_arns) == 0 ? [] : [
    {
      Sid      = "ReadAndSimulateTheDeployRoles"
      Effect   = "Allow"
      Action   = ["iam:GetRole", "iam:SimulatePrincipalPolicy"]
      Resource = local.acceptance_deploy_role_arns
    },
  ]
  acceptance_alarm_drill_statements = var.acceptance_alarm_drill_enabled ? [
    {
      Sid      = "AlarmDrillMovesOnlyThePageFastAvailabilityAlarms"
      Effect   = "Allow"
      Action   = ["cloudwatch:SetAlarmState"]
      Resource = ["arn:${local.acceptance_arn_prefix.partition}:cloudwatch:${local.acceptance_arn_prefix.region_account}:alarm:llm-scores-*-slo-availability-page-fast-*"]
    },
  ] : []
  acceptance_rollback_drill_statements = var.acceptance_rollback_drill_enabled ? [
    {
      Sid      = "RollbackDrillDeploysAndStopsInTheLiveGroups"
      Effect   = "Allow"
      Action   = ["codedeploy:CreateDeployment", "codedeploy:StopDeployment"]
      Resource = [local.acceptance_deployment_group_arn]
    },
    {
      Sid    = "RollbackDrillUsesTheAppSpecRevisionAndConfig"
      Effect = "Allow"
      Action = ["codedeploy:GetApplicationRevision", "codedeploy:RegisterApplicationRevision", "codedeploy:GetDeploymentConfig"]
      Resource = [
        "arn:${local.acceptance_arn_prefix.partition}:codedeploy:${local.acceptance_arn_prefix.region_account}:application:llm-scores-*",
        "arn:${local.acceptance_arn_prefix.partition}:codedeploy:${local.acceptance_arn_prefix.region_account}:deploymentconfig:*",
      ]
    },
    {
      # The drill's clean-up puts live back on the version it served when a deployment did not roll back.
      Sid      = "RollbackDrillPutsTheLiveAliasBack"
      Effect   = "Allow"
      Action   = ["lambda:UpdateAlias"]
      Resource = concat(local.acceptance_function_arns, [for arn in local.acceptance_function_arns : "${arn}:live"])
    },
  ] : []
}

resource "aws_iam_role" "acceptance" {
  name        = "llm-scores-${var.account_environment}-acceptance"
  description = "make acceptance: reads every llm-scores stage; drills write only when their variables say so (docs/acceptance.md)"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "NamedOperatorsAndPipelinesAssumeIt"
        Effect    = "Allow"
        Principal = { AWS = length(var.acceptance_role_trusted_arns) > 0 ? var.acceptance_role_trusted_arns : ["arn:${local.acceptance_arn_prefix.partition}:iam::${data.aws_caller_identity.current.account_id}:root"] }
        Action    = "sts:AssumeRole"
      },
    ]
  })
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "acceptance" {
  name = "llm-scores-${var.account_environment}-acceptance"
  role = aws_iam_role.acceptance.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      local.acceptance_read_statements,
      local.acceptance_deploy_role_statements,
      local.acceptance_alarm_drill_statements,
      local.acceptance_rollback_drill_statements,
    )
  })
}

output "acceptance_role_arn" {
  description = "The role make acceptance assumes."
  value       = aws_iam_role.acceptance.arn
}
