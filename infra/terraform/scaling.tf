# Business-hours provisioned concurrency on the `live` alias (Application Auto Scaling scheduled actions), and
# the capacity ratio alarms: concurrency against reserved concurrency, and the share of alias invocations that
# spilled over provisioned concurrency. Off by default. When the schedule is on it is the only owner of the
# alias's provisioned concurrency: the static aws_lambda_provisioned_concurrency_config (lambda.tf) must be
# off (provisioned_concurrency = 0), or every apply would reset what the last scheduled action set, and the
# schedule would only put it back at its next run.

resource "aws_appautoscaling_target" "provisioned_concurrency" {
  # Scheduled actions move min and max capacity; Terraform ignores both after registering the target, so an
  # apply never undoes the last scheduled action. The resource id names the alias by local.live_alias_name
  # (never null, so a missing alias fails on the precondition above with its message) and depends_on orders it
  # after the alias.
  count              = var.provisioned_concurrency_schedule_enabled ? 1 : 0
  service_namespace  = "lambda"
  scalable_dimension = "lambda:function:ProvisionedConcurrency"
  resource_id        = "function:${aws_lambda_function.api_handler.function_name}:${local.live_alias_name}"
  min_capacity       = var.provisioned_concurrency_off_hours
  max_capacity       = var.provisioned_concurrency_business_hours
  depends_on         = [aws_lambda_alias.live]
  lifecycle {
    ignore_changes = [min_capacity, max_capacity]
    precondition {
      condition     = !var.snap_start_enabled
      error_message = "Business-hours provisioned concurrency cannot be combined with SnapStart (snap_start_enabled): choose one."
    }
    precondition {
      condition     = var.enable_live_alias
      error_message = "Business-hours provisioned concurrency scales the `live` alias: set enable_live_alias."
    }
    precondition {
      condition     = var.provisioned_concurrency == 0
      error_message = "Set provisioned_concurrency to 0 when provisioned_concurrency_schedule_enabled: the schedule owns the alias's provisioned concurrency, and a static setting would be reset by every apply."
    }
    precondition {
      condition     = var.provisioned_concurrency_business_hours > 0 && var.provisioned_concurrency_business_hours >= var.provisioned_concurrency_off_hours
      error_message = "provisioned_concurrency_business_hours must be above 0 and at least provisioned_concurrency_off_hours."
    }
    precondition {
      condition     = var.provisioned_concurrency_business_hours <= aws_lambda_function.api_handler.reserved_concurrent_executions
      error_message = "provisioned_concurrency_business_hours must not exceed the function's reserved concurrency (Chalice's reserved_concurrency)."
    }
  }
}

resource "aws_appautoscaling_scheduled_action" "business_hours_start" {
  # Raises provisioned concurrency to the business-hours level (min = max, so it holds exactly that many).
  count              = var.provisioned_concurrency_schedule_enabled ? 1 : 0
  name               = "${local.name_prefix}-provisioned-concurrency-business-hours-start"
  service_namespace  = one(aws_appautoscaling_target.provisioned_concurrency[*].service_namespace)
  resource_id        = one(aws_appautoscaling_target.provisioned_concurrency[*].resource_id)
  scalable_dimension = one(aws_appautoscaling_target.provisioned_concurrency[*].scalable_dimension)
  schedule           = var.provisioned_concurrency_business_hours_start
  timezone           = var.provisioned_concurrency_schedule_timezone
  scalable_target_action {
    min_capacity = var.provisioned_concurrency_business_hours
    max_capacity = var.provisioned_concurrency_business_hours
  }
}

resource "aws_appautoscaling_scheduled_action" "business_hours_end" {
  # Lowers provisioned concurrency to the off-hours level (0 removes it; the warm-up schedule still keeps a few
  # containers warm). After the start action: Application Auto Scaling refuses concurrent changes to one target.
  count              = var.provisioned_concurrency_schedule_enabled ? 1 : 0
  name               = "${local.name_prefix}-provisioned-concurrency-business-hours-end"
  service_namespace  = one(aws_appautoscaling_target.provisioned_concurrency[*].service_namespace)
  resource_id        = one(aws_appautoscaling_target.provisioned_concurrency[*].resource_id)
  scalable_dimension = one(aws_appautoscaling_target.provisioned_concurrency[*].scalable_dimension)
  schedule           = var.provisioned_concurrency_business_hours_end
  timezone           = var.provisioned_concurrency_schedule_timezone
  scalable_target_action {
    min_capacity = var.provisioned_concurrency_off_hours
    max_capacity = var.provisioned_concurrency_off_hours
  }
  depends_on = [aws_appautoscaling_scheduled_action.business_hours_start]
}

resource "aws_cloudwatch_metric_alarm" "api_function_concurrency" {
  alarm_name        = "${local.name_prefix}-api-function-concurrency"
  alarm_description = "TICKET: The API function ran at ${var.concurrency_alarm_threshold_percent} % or more of its reserved concurrency (${aws_lambda_function.api_handler.reserved_concurrent_executions}) in 3 of 5 minutes: throttling is next. Runbook: ${local.alarm_runbook}api-function-concurrency"
  metric_query {
    id          = "concurrency"
    return_data = false
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "ConcurrentExecutions"
      dimensions = {
        FunctionName = aws_lambda_function.api_handler.function_name
      }
      period = 60
      stat   = "Maximum"
    }
  }
  metric_query {
    id          = "reserved_share"
    expression  = "100 * concurrency / ${aws_lambda_function.api_handler.reserved_concurrent_executions}"
    label       = "concurrency, % of reserved"
    return_data = true
  }
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.concurrency_alarm_threshold_percent
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  lifecycle {
    precondition {
      condition     = aws_lambda_function.api_handler.reserved_concurrent_executions > 0
      error_message = "The concurrency alarm measures against reserved concurrency: set reserved_concurrency for the stage in .chalice/config.json."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "provisioned_concurrency_spillover_ratio" {
  # With the business-hours schedule, provisioned concurrency is what the last scheduled action set (possibly 0
  # off hours: then nothing is published as spillover and the share is 0).
  count             = var.enable_live_alias && (var.provisioned_concurrency > 0 || var.provisioned_concurrency_schedule_enabled) ? 1 : 0
  alarm_name        = "${local.name_prefix}-provisioned-concurrency-spillover-ratio"
  alarm_description = "TICKET: Over ${var.provisioned_concurrency_spillover_alarm_threshold_percent} % of the live alias's invocations ran beyond its provisioned concurrency for 15 minutes (checked only when a 5-minute period has at least ${var.ratio_alarm_min_requests} invocations). Runbook: ${local.alarm_runbook}provisioned-concurrency-spillover-ratio"
  metric_query {
    id          = "invocations"
    return_data = false
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "Invocations"
      dimensions = {
        FunctionName = aws_lambda_function.api_handler.function_name
        Resource     = "${aws_lambda_function.api_handler.function_name}:${local.live_alias_name}"
      }
      period = 300
      stat   = "Sum"
    }
  }
  metric_query {
    id          = "spillover"
    return_data = false
    metric {
      namespace   = "AWS/Lambda"
      metric_name = "ProvisionedConcurrencySpilloverInvocations"
      dimensions = {
        FunctionName = aws_lambda_function.api_handler.function_name
        Resource     = "${aws_lambda_function.api_handler.function_name}:${local.live_alias_name}"
      }
      period = 300
      stat   = "Sum"
    }
  }
  metric_query {
    id          = "spillover_share"
    expression  = "IF(invocations >= ${var.ratio_alarm_min_requests}, 100 * FILL(spillover, 0) / invocations, 0)"
    label       = "spillover, % of alias invocations"
    return_data = true
  }
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = var.provisioned_concurrency_spillover_alarm_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
}
