# Cold-start controls for the API function: the `live` alias, provisioned concurrency and SnapStart. The export
# wires Chalice's function (publish, the snap_start block), integration URI and permission to these.

locals {
  live_alias_name        = "live"
  api_invoke_arn         = var.enable_live_alias ? one(aws_lambda_alias.live[*].invoke_arn) : aws_lambda_function.api_handler.invoke_arn
  api_function_qualifier = var.enable_live_alias ? local.live_alias_name : ""
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
  }
}
