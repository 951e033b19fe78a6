# What Chalice's two functions need beside them: log groups, and the API function's cold-start controls (the
# `live` alias, provisioned concurrency and SnapStart). The export wires Chalice's functions (depends_on, publish,
# the snap_start block), integration URI and permission to these.

locals {
  live_alias_name        = "live"
  api_invoke_arn         = var.enable_live_alias ? one(aws_lambda_alias.live[*].invoke_arn) : aws_lambda_function.api_handler.invoke_arn
  api_function_qualifier = var.enable_live_alias ? local.live_alias_name : ""
}

# Created before the functions (the export makes each depend on its group), so Lambda never creates one that
# never expires; Chalice's own log_retention_in_days crashes its Terraform packaging. Named as Lambda names them.
resource "aws_cloudwatch_log_group" "api_handler" {
  name              = "/aws/lambda/${local.name_prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
}

resource "aws_cloudwatch_log_group" "warm_up" {
  name              = "/aws/lambda/${local.name_prefix}-warm_up"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
}

# The CodeDeploy hooks' log groups (chalicelib/deploy_hooks.py): each hook's verdict and why is logged here.
resource "aws_cloudwatch_log_group" "before_allow_traffic" {
  name              = "/aws/lambda/${local.name_prefix}-before_allow_traffic"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
}

resource "aws_cloudwatch_log_group" "after_allow_traffic" {
  name              = "/aws/lambda/${local.name_prefix}-after_allow_traffic"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
}

resource "aws_lambda_alias" "live" {
  # Created at the version the first apply publishes; after that CodeDeploy owns the version and the weights, so
  # a later apply neither moves traffic past the canary nor undoes a rollback.
  count            = var.enable_live_alias ? 1 : 0
  name             = local.live_alias_name
  description      = "What API Gateway invokes. CodeDeploy moves it between versions (make deploy); Terraform only creates it."
  function_name    = aws_lambda_function.api_handler.function_name
  function_version = aws_lambda_function.api_handler.version
  lifecycle {
    ignore_changes = [function_version, routing_config]
  }
}

resource "aws_lambda_provisioned_concurrency_config" "live" {
  count                             = var.enable_live_alias && var.provisioned_concurrency > 0 ? 1 : 0
  function_name                     = aws_lambda_function.api_handler.function_name
  qualifier                         = one(aws_lambda_alias.live[*].name)
  provisioned_concurrent_executions = var.provisioned_concurrency
  lifecycle {
    precondition {
      condition     = var.provisioned_concurrency <= aws_lambda_function.api_handler.reserved_concurrent_executions
      error_message = "provisioned_concurrency must not exceed the function's reserved concurrency (Chalice's reserved_concurrency)."
    }
  }
}

resource "terraform_data" "cold_start_options" {
  # The cold-start options that depend on each other, refused at plan time: Terraform 1.5 variable
  # validations cannot read other variables.
  lifecycle {
    precondition {
      condition     = !(var.snap_start_enabled && var.provisioned_concurrency > 0)
      error_message = "SnapStart and provisioned concurrency cannot be combined: choose one."
    }
    precondition {
      condition     = (!var.snap_start_enabled && var.provisioned_concurrency == 0) || var.enable_live_alias
      error_message = "SnapStart and provisioned concurrency need published versions: set enable_live_alias."
    }
    precondition {
      condition     = !var.snap_start_enabled || tonumber(split(".", var.lambda_runtime)[1]) >= 12
      error_message = "SnapStart for Python needs python3.12 or newer."
    }
    # The export writes the snap_start block into Chalice's function from the stage file (a `dynamic` block would
    # make checkov skip the function), so a -var that disagrees would silently change nothing.
    precondition {
      condition     = var.snap_start_enabled == local.snap_start_enabled
      error_message = "snap_start_enabled is decided at export: change it in infra/terraform/stages/<stage>.json and re-export."
    }
  }
}

resource "terraform_data" "dependency_layer" {
  # With Chalice's automatic_layer the dependencies sit under python/lib/<packaging Python>/site-packages, which
  # only that runtime searches: refuse the plan rather than fail every cold start (docs/decisions/0013-lambda-layer.md).
  lifecycle {
    precondition {
      condition     = alltrue([for runtime in local.dependency_layer_runtimes : runtime == var.lambda_runtime])
      error_message = "The dependency layer was built for ${join(", ", local.dependency_layer_runtimes)}, which is the only runtime that finds it: package with the runtime's Python, or leave automatic_layer off (docs/decisions/0013-lambda-layer.md)."
    }
  }
}
