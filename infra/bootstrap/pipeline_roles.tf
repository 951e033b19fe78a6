# The deploy pipeline's AWS side (.github/workflows/deploy.yml; docs/delivery.md, "Repository settings"): GitHub
# Actions' OIDC provider, and two roles for each GitHub environment this account serves. AWS_DEPLOY_ROLE_ARN plans
# and applies a stage and runs scripts/operations/deploy.py; AWS_DATA_ROLE_ARN plans and writes the stage
# table's items (scripts/operations/data_plan.py). Each role trusts one subject only,
# repo:<owner>/<repo>:environment:<environment>, so a job outside that environment (another branch, a pull
# request, another environment's job) cannot assume it, and `production`'s reviewers gate the roles that write prod.
#
#   environment       stage   deploy role                               data role
#   dev               dev     plans and applies                         reads and writes the table's items
#   production-plan   prod    reads (plans), writes only the lock       reads the table's items
#   production        prod    plans and applies                         reads and writes the table's items
#
# What each may do in its stage is in pipeline_permissions.tf; the state it reads and writes in state_bucket.tf.
# Nothing is created while github_repository is empty, so an account's existing bootstrap plans no change.

variable "github_repository" {
  type        = string
  default     = ""
  description = "The GitHub repository whose deploy workflow assumes the pipeline roles, as owner/name (its OIDC subject, case as GitHub spells it). Empty creates no OIDC provider and no pipeline role."
  validation {
    condition     = var.github_repository == "" || can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must be owner/name, such as example-org/llm-scores, or empty."
  }
}

variable "github_environments" {
  type        = list(string)
  default     = null
  description = "The GitHub environments whose roles this account holds; null follows account_environment: production-plan and production in prod, dev in dev, none elsewhere. An account that runs both stages lists all three."
  validation {
    condition     = var.github_environments == null ? true : alltrue([for environment in var.github_environments : contains(["dev", "production-plan", "production"], environment)])
    error_message = "github_environments may hold only dev, production-plan and production (the deploy workflow's environments)."
  }
}

variable "github_oidc_provider_arn" {
  type        = string
  default     = ""
  description = "The account's existing GitHub Actions OIDC provider (an account holds one per URL: `aws iam list-open-id-connect-providers`); empty creates it here."
  validation {
    condition     = var.github_oidc_provider_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "github_oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com provider, or empty."
  }
}

locals {
  # Which stage each environment deploys, and whether its roles may write it.
  pipeline_environment_stages = { "dev" = "dev", "production-plan" = "prod", "production" = "prod" }
  pipeline_environments = var.github_repository == "" ? [] : (
    var.github_environments != null ? var.github_environments : (
      var.account_environment == "prod" ? ["production-plan", "production"] : (var.account_environment == "dev" ? ["dev"] : [])
    )
  )
  pipeline_roles = {
    for environment in local.pipeline_environments : environment => {
      stage  = local.pipeline_environment_stages[environment]
      writes = environment != "production-plan"
    }
  }
  github_oidc_provider_arn = var.github_oidc_provider_arn != "" ? var.github_oidc_provider_arn : one(aws_iam_openid_connect_provider.github[*].arn)
  pipeline_trust_policies = {
    for environment in local.pipeline_environments : environment => {
      Version = "2012-10-17"
      Statement = [
        {
          Sid       = "GitHubActionsJobsOfThisEnvironmentOnly"
          Effect    = "Allow"
          Principal = { Federated = local.github_oidc_provider_arn }
          Action    = "sts:AssumeRoleWithWebIdentity"
          Condition = {
            StringEquals = {
              "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
              "token.actions.githubusercontent.com:sub" = "repo:${var.github_repository}:environment:${environment}"
            }
          }
        },
      ]
    }
  }

  # The deploy roles' permissions, as customer managed policies, one per concern (pipeline_permissions.tf) and
  # kind: together they are well over the 10,240 characters IAM allows a role's inline policies, and each is
  # under the 6,144 of one managed policy. The production-plan role gets the reads and the state part only.
  pipeline_deploy_policies = {
    for policy in flatten([
      for environment, role in local.pipeline_roles : concat(
        [for concern, statements in local.pipeline_read_statements[role.stage] : { name = "${environment}-read-${concern}", environment = environment, statements = statements }],
        [for concern, statements in local.pipeline_write_statements[role.stage] : { name = "${environment}-write-${concern}", environment = environment, statements = statements } if role.writes],
        [{ name = "${environment}-state", environment = environment, statements = local.pipeline_state_statements[role.stage][role.writes ? "write" : "plan"] }],
      )
    ]) : policy.name => policy
  }

  # The same list as infra/terraform/data_access.tf's table_item_write_actions: every way to write an item, which
  # that table's resource policy leaves to the data role alone (tests/terraform/test_pipeline_roles.py keeps them
  # equal). Plus what data_plan.py and seed_data.py read: the whole table (Scan), a row (GetItem), the table.
  pipeline_table_item_write_actions = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:PartiQLInsert", "dynamodb:PartiQLUpdate", "dynamodb:PartiQLDelete"]
  pipeline_table_item_read_actions  = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Scan"]
  pipeline_data_policies = {
    for environment, role in local.pipeline_roles : environment => {
      Version = "2012-10-17"
      Statement = [
        {
          Sid      = role.writes ? "ReadAndWriteTheStagesTableItems" : "ReadTheStagesTableItems"
          Effect   = "Allow"
          Action   = role.writes ? concat(local.pipeline_table_item_read_actions, local.pipeline_table_item_write_actions) : local.pipeline_table_item_read_actions
          Resource = [local.pipeline_stage_arns[role.stage].table]
        },
      ]
    }
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  count          = length(local.pipeline_environments) > 0 && var.github_oidc_provider_arn == "" ? 1 : 0
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # GitHub's intermediate certificates. IAM no longer checks them for GitHub (it trusts GitHub's certificate
  # authority), but versions.tf still allows older 5.x providers, which require the argument.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

resource "aws_iam_role" "pipeline_deploy" {
  for_each             = local.pipeline_roles
  name                 = "llm-scores-github-${each.key}-deploy"
  description          = "GitHub environment ${each.key}: ${each.value.writes ? "plans and applies" : "plans (read-only)"} the ${each.value.stage} stage (AWS_DEPLOY_ROLE_ARN)"
  assume_role_policy   = jsonencode(local.pipeline_trust_policies[each.key])
  max_session_duration = 3600
  tags = {
    github-environment = each.key
    pipeline-role      = "deploy"
  }
}

resource "aws_iam_policy" "pipeline_deploy" {
  for_each    = local.pipeline_deploy_policies
  name        = "llm-scores-github-${each.key}"
  description = "GitHub environment ${each.value.environment}: one part of its deploy role's permissions (infra/bootstrap/pipeline_permissions.tf)"
  policy      = jsonencode({ Version = "2012-10-17", Statement = each.value.statements })
  lifecycle {
    precondition {
      condition     = local.state_bucket_name != ""
      error_message = "The pipeline roles need the state bucket: set state_bucket_name to the bucket the prod account's bootstrap created, or state_bucket_enabled to create one here."
    }
  }
}

resource "aws_iam_role_policy_attachment" "pipeline_deploy" {
  for_each   = local.pipeline_deploy_policies
  role       = aws_iam_role.pipeline_deploy[each.value.environment].name
  policy_arn = aws_iam_policy.pipeline_deploy[each.key].arn
}

resource "aws_iam_role" "pipeline_data" {
  for_each             = local.pipeline_roles
  name                 = "llm-scores-github-${each.key}-data"
  description          = "GitHub environment ${each.key}: ${each.value.writes ? "reads and writes" : "reads"} the ${each.value.stage} table's items (AWS_DATA_ROLE_ARN)"
  assume_role_policy   = jsonencode(local.pipeline_trust_policies[each.key])
  max_session_duration = 3600
  tags = {
    github-environment = each.key
    pipeline-role      = "data"
  }
}

resource "aws_iam_role_policy" "pipeline_data" {
  for_each = local.pipeline_roles
  name     = "llm-scores-github-${each.key}-data"
  role     = aws_iam_role.pipeline_data[each.key].id
  policy   = jsonencode(local.pipeline_data_policies[each.key])
}

output "github_oidc_provider_arn" {
  description = "The GitHub Actions OIDC provider the pipeline roles trust; null when no pipeline role is created."
  value       = length(local.pipeline_environments) > 0 ? local.github_oidc_provider_arn : null
}

output "pipeline_deploy_role_arns" {
  description = "Each GitHub environment's AWS_DEPLOY_ROLE_ARN, by environment."
  value       = { for environment, role in local.pipeline_roles : environment => aws_iam_role.pipeline_deploy[environment].arn }
}

output "pipeline_data_role_arns" {
  description = "Each GitHub environment's AWS_DATA_ROLE_ARN, by environment."
  value       = { for environment, role in local.pipeline_roles : environment => aws_iam_role.pipeline_data[environment].arn }
}

output "stage_data_writer_role_arns" {
  description = "Each stage's data_writer_role_arn (infra/terraform/data_access.tf): the data role that may write its table's items, by stage."
  value       = { for environment, role in local.pipeline_roles : role.stage => aws_iam_role.pipeline_data[environment].arn if role.writes }
}

output "github_settings" {
  description = "What to set in the GitHub repository's settings (Settings > Secrets and variables > Actions > Variables), at repository level and in each environment; null when no pipeline role is created. TF_STATE_REGION is null where the state bucket is another account's: take it from that account's output."
  value = length(local.pipeline_environments) == 0 ? null : {
    repository = {
      AWS_REGION      = local.pipeline_region
      TF_STATE_BUCKET = local.state_bucket_name
      TF_STATE_REGION = local.state_bucket_enabled ? local.pipeline_region : null
    }
    environments = {
      for environment, role in local.pipeline_roles : environment => {
        AWS_DEPLOY_ROLE_ARN = aws_iam_role.pipeline_deploy[environment].arn
        AWS_DATA_ROLE_ARN   = aws_iam_role.pipeline_data[environment].arn
      }
    }
  }
}
