# Gradual traffic shifting with automatic rollback: CodeDeploy moves the `live` alias from the version it serves
# to the version an apply published (scripts/operations/deploy.py, `make deploy`). Its BeforeAllowTraffic and
# AfterAllowTraffic hooks (chalicelib/deploy_hooks.py) check the new version; a hook's Failed rolls back.
# Terraform creates the alias once and then ignores its version and weights (lambda.tf), so the two never fight.

resource "aws_codedeploy_app" "api" {
  name             = local.name_prefix
  compute_platform = "Lambda"
}

resource "aws_iam_role" "codedeploy" {
  name        = "${local.name_prefix}-codedeploy"
  description = "${local.name_prefix}: CodeDeploy shifts the API function's live alias and reads the alarms that stop it"
  # As on Chalice's function roles (scripts/operations/export_terraform.py): the most this role may ever do.
  permissions_boundary = var.role_permissions_boundary_arn == "" ? null : var.role_permissions_boundary_arn
  assume_role_policy   = "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Sid\": \"CodeDeployAssumesThisRole\", \"Effect\": \"Allow\", \"Principal\": {\"Service\": \"codedeploy.amazonaws.com\"}, \"Action\": \"sts:AssumeRole\"}]}"
}

resource "aws_iam_role_policy" "codedeploy" {
  name   = "${local.name_prefix}-codedeploy"
  role   = aws_iam_role.codedeploy.id
  policy = "{\"Version\": \"2012-10-17\", \"Statement\": [{\"Sid\": \"ReadTheAlarmsThatStopADeployment\", \"Effect\": \"Allow\", \"Action\": [\"cloudwatch:DescribeAlarms\"], \"Resource\": [\"${aws_cloudwatch_metric_alarm.api_5xx.arn}\", \"${aws_cloudwatch_metric_alarm.api_function_errors.arn}\", \"${aws_cloudwatch_metric_alarm.api_latency_p99.arn}\"]}, {\"Sid\": \"ShiftTheLiveAliasOfTheApiFunction\", \"Effect\": \"Allow\", \"Action\": [\"lambda:GetAlias\", \"lambda:GetProvisionedConcurrencyConfig\", \"lambda:UpdateAlias\"], \"Resource\": [\"${aws_lambda_function.api_handler.arn}\", \"${aws_lambda_function.api_handler.arn}:*\"]}, {\"Sid\": \"InvokeTheDeploymentHooks\", \"Effect\": \"Allow\", \"Action\": [\"lambda:InvokeFunction\"], \"Resource\": [\"${aws_lambda_function.before_allow_traffic.arn}\", \"${aws_lambda_function.after_allow_traffic.arn}\"]}]}"
}

resource "aws_codedeploy_deployment_group" "api" {
  # The service's own alarms stop a shift: API 5XX, API function errors, and p99 latency at API Gateway. Each
  # watches the whole stage, old and new version together; see docs/decisions/0012 for what a 5-minute canary
  # can and cannot catch with 5-minute alarm periods.
  app_name               = aws_codedeploy_app.api.name
  deployment_group_name  = "${local.name_prefix}-${local.live_alias_name}"
  service_role_arn       = aws_iam_role.codedeploy.arn
  deployment_config_name = var.codedeploy_deployment_config
  deployment_style {
    deployment_option = "WITH_TRAFFIC_CONTROL"
    deployment_type   = "BLUE_GREEN"
  }
  alarm_configuration {
    enabled                   = true
    ignore_poll_alarm_failure = false
    alarms = [
      aws_cloudwatch_metric_alarm.api_5xx.alarm_name,
      aws_cloudwatch_metric_alarm.api_function_errors.alarm_name,
      aws_cloudwatch_metric_alarm.api_latency_p99.alarm_name,
    ]
  }
  auto_rollback_configuration {
    enabled = true
    events  = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]
  }
  depends_on = [aws_iam_role_policy.codedeploy]
}

output "api_function_published_version" {
  description = "The version this apply published ($LATEST when the stage publishes none): what `make deploy` shifts `live` to."
  value       = aws_lambda_function.api_handler.version
}

output "live_alias_name" {
  description = "The alias CodeDeploy shifts; null when enable_live_alias is false."
  value       = one(aws_lambda_alias.live[*].name)
}

output "codedeploy_application_name" {
  value = aws_codedeploy_app.api.name
}

output "codedeploy_deployment_group_name" {
  value = aws_codedeploy_deployment_group.api.deployment_group_name
}

output "before_allow_traffic_hook_name" {
  description = "The function make deploy names as the AppSpec's BeforeAllowTraffic hook (chalicelib/deploy_hooks.py)."
  value       = aws_lambda_function.before_allow_traffic.function_name
}

output "after_allow_traffic_hook_name" {
  description = "The function make deploy names as the AppSpec's AfterAllowTraffic hook (chalicelib/deploy_hooks.py)."
  value       = aws_lambda_function.after_allow_traffic.function_name
}
