# Alarms (their severity topics are in paging.tf), the KMS key for logs and the topic, and the operator's dashboard.

locals {
  observability_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "AccountAdministersKey"
        Effect = "Allow"
        Principal = {
          AWS = "arn:${data.aws_partition.chalice.partition}:iam::${data.aws_caller_identity.chalice.account_id}:root"
        }
        Action   = "kms:*"
        Resource = "*"
      },
      {
        Sid    = "CloudWatchLogsEncryptsThisStagesLogGroups"
        Effect = "Allow"
        Principal = {
          Service = "logs.${data.aws_region.chalice.id}.amazonaws.com"
        }
        Action = [
          "kms:Encrypt*",
          "kms:Decrypt*",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = [
              "arn:${data.aws_partition.chalice.partition}:logs:${data.aws_region.chalice.id}:${data.aws_caller_identity.chalice.account_id}:log-group:/aws/lambda/${local.name_prefix}*",
              "arn:${data.aws_partition.chalice.partition}:logs:${data.aws_region.chalice.id}:${data.aws_caller_identity.chalice.account_id}:log-group:/aws/apigateway/${local.name_prefix}/*",
            ]
          }
        }
      },
      {
        Sid    = "CloudWatchAlarmsPublishToEncryptedTopic"
        Effect = "Allow"
        Principal = {
          Service = "cloudwatch.amazonaws.com"
        }
        Action   = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource = "*"
        Condition = {
          StringEquals = {
            "aws:SourceAccount" = data.aws_caller_identity.chalice.account_id
          }
        }
      },
    ]
  }
}

resource "aws_kms_key" "observability" {
  description             = "${local.name_prefix}: encrypts log groups and the alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = jsonencode(local.observability_key_policy)
}

resource "aws_kms_alias" "observability" {
  name          = "alias/${local.name_prefix}-observability"
  target_key_id = aws_kms_key.observability.key_id
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name_prefix}-alarms"
  kms_master_key_id = aws_kms_key.observability.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count     = var.alarm_email != "" ? 1 : 0
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "api_function_errors" {
  # A count, and a ticket rather than a page: CodeDeploy's deployment group rolls back on this alarm
  # (codedeploy.tf), where one crash of the new version should stop the shift. Users are paged through the SLO.
  alarm_name        = "${local.name_prefix}-api-function-errors"
  alarm_description = "TICKET: The API function crashed or timed out at least once in 5 minutes (handled errors are 5XX answers, not Lambda errors); during a deploy it also rolls the deploy back. Runbook: ${local.alarm_runbook}api-function-errors"
  namespace         = "AWS/Lambda"
  metric_name       = "Errors"
  dimensions = {
    FunctionName = aws_lambda_function.api_handler.function_name
  }
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "Sum"
}

resource "aws_cloudwatch_metric_alarm" "api_function_throttles" {
  alarm_name        = "${local.name_prefix}-api-function-throttles"
  alarm_description = "TICKET: Invocations of the API function were throttled: reserved concurrency is exhausted (the throttled requests also count against the availability SLO). Runbook: ${local.alarm_runbook}api-function-throttles"
  namespace         = "AWS/Lambda"
  metric_name       = "Throttles"
  dimensions = {
    FunctionName = aws_lambda_function.api_handler.function_name
  }
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "Sum"
}

resource "aws_cloudwatch_metric_alarm" "api_function_duration_p99" {
  alarm_name        = "${local.name_prefix}-api-function-duration-p99"
  alarm_description = "TICKET: p99 duration of the API function is above ${var.lambda_duration_p99_alarm_threshold_ms} ms for 2 of 3 periods. Runbook: ${local.alarm_runbook}api-function-duration-p99"
  namespace         = "AWS/Lambda"
  metric_name       = "Duration"
  dimensions = {
    FunctionName = aws_lambda_function.api_handler.function_name
  }
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.lambda_duration_p99_alarm_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  extended_statistic  = "p99"
}

resource "aws_cloudwatch_metric_alarm" "warm_up_function_errors" {
  alarm_name        = "${local.name_prefix}-warm-up-function-errors"
  alarm_description = "TICKET: The warm-up function itself failed twice in a row. Runbook: ${local.alarm_runbook}warm-up"
  namespace         = "AWS/Lambda"
  metric_name       = "Errors"
  dimensions = {
    FunctionName = aws_lambda_function.warm_up.function_name
  }
  period              = 300
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "Sum"
}

resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${local.name_prefix}-api-5xx"
  alarm_description   = "TICKET: API Gateway answered more than ${var.api_5xx_alarm_threshold} 5XX in 5 minutes: the early sign at low traffic, below the burn-rate alerts' minimum requests. Runbook: ${local.alarm_runbook}api-5xx"
  namespace           = "AWS/ApiGateway"
  metric_name         = local.api_metrics.errors_5xx
  dimensions          = local.api_metrics.dimensions
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = var.api_5xx_alarm_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "Sum"
}

resource "aws_cloudwatch_metric_alarm" "api_latency_p99" {
  alarm_name          = "${local.name_prefix}-api-latency-p99"
  alarm_description   = "TICKET: p99 latency at API Gateway is above ${var.api_latency_p99_alarm_threshold_ms} ms for 2 of 3 periods. Runbook: ${local.alarm_runbook}api-latency-p99"
  namespace           = "AWS/ApiGateway"
  metric_name         = local.api_metrics.latency
  dimensions          = local.api_metrics.dimensions
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.api_latency_p99_alarm_threshold_ms
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  extended_statistic  = "p99"
}

resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  alarm_name        = "${local.name_prefix}-dynamodb-throttles"
  alarm_description = "TICKET: DynamoDB throttled Scan requests on the scores table. Runbook: ${local.alarm_runbook}dynamodb-throttles"
  namespace         = "AWS/DynamoDB"
  metric_name       = "ThrottledRequests"
  dimensions = {
    TableName = aws_dynamodb_table.scores.name
    Operation = "Scan"
  }
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "Sum"
}

resource "aws_cloudwatch_metric_alarm" "stale_responses" {
  alarm_name        = "${local.name_prefix}-stale-responses"
  alarm_description = "TICKET: The API served stale snapshots: DynamoDB reads are failing (X-Cache: STALE). Runbook: ${local.alarm_runbook}stale-responses"
  namespace         = local.metrics_namespace
  metric_name       = "CacheStale"
  dimensions = {
    service = local.service_name
  }
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "Sum"
}

# A check that fails is harmless once (the TTL still bounds staleness) but, sustained, means reviewed data
# changes wait for every container's TTL instead of seconds. 15 minutes: longer than a DynamoDB blip.
resource "aws_cloudwatch_metric_alarm" "catalogue_version_checks" {
  alarm_name        = "${local.name_prefix}-catalogue-version-checks"
  alarm_description = "TICKET: Catalogue-version checks keep failing (CatalogueVersionCheckFailures >= 10 in each of 3 x 5 min): data changes reach containers only at their TTL, not within seconds. Runbook: ${local.alarm_runbook}catalogue-version-checks"
  namespace         = local.metrics_namespace
  metric_name       = "CatalogueVersionCheckFailures"
  dimensions = {
    service = local.service_name
  }
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = 10
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "Sum"
}

resource "aws_cloudwatch_metric_alarm" "skipped_items" {
  alarm_name        = "${local.name_prefix}-skipped-items"
  alarm_description = "TICKET: The table holds rows the API cannot parse: they are left out of every answer (SkippedItems). Runbook: ${local.alarm_runbook}skipped-items"
  namespace         = local.metrics_namespace
  metric_name       = "SkippedItems"
  dimensions = {
    service = local.service_name
  }
  period              = 300
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "Sum"
}

resource "aws_cloudwatch_metric_alarm" "warm_up_failures" {
  alarm_name        = "${local.name_prefix}-warm-up-failures"
  alarm_description = "TICKET: Warm-up pings to the API function failed in two consecutive runs. Runbook: ${local.alarm_runbook}warm-up"
  namespace         = local.metrics_namespace
  metric_name       = "WarmupFailures"
  dimensions = {
    service = local.service_name
  }
  period              = 300
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "Sum"
}

resource "aws_cloudwatch_metric_alarm" "warm_up_stopped" {
  # Only for stages whose package warms the API (local.warmup_concurrency, from WARMUP_CONCURRENCY at export).
  # Every run emits WarmupInvocations once, even when every ping fails, so no data at all means no run: a
  # disabled or deleted rule, a missing permission, or a warmer that dies before it reports.
  count             = local.warmup_concurrency > 0 ? 1 : 0
  alarm_name        = "${local.name_prefix}-warm-up-stopped"
  alarm_description = "TICKET: The warm-up schedule has not run for 15 minutes: the API function is no longer kept warm. Runbook: ${local.alarm_runbook}warm-up-stopped"
  namespace         = local.metrics_namespace
  metric_name       = "WarmupInvocations"
  dimensions = {
    service = local.service_name
  }
  period              = 300
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
  statistic           = "SampleCount"
}

resource "aws_cloudwatch_dashboard" "service" {
  # The template's widgets, then the SLO widgets built in slo.tf from local.api_metrics
  # (local.slo_dashboard_widgets).
  dashboard_name = local.name_prefix
  dashboard_body = jsonencode({ "widgets" = concat(jsondecode(templatefile("${path.module}/dashboard.json.tftpl", { region = data.aws_region.chalice.id, api_id_dimension = local.api_metrics.id_dimension, api_id = local.api_metrics.dimensions[local.api_metrics.id_dimension], api_stage = local.api_metrics.dimensions.Stage, api_errors_4xx = local.api_metrics.errors_4xx, api_errors_5xx = local.api_metrics.errors_5xx, api_function = aws_lambda_function.api_handler.function_name, api_log_group = aws_cloudwatch_log_group.api_handler.name, warm_up_function = aws_lambda_function.warm_up.function_name, table_name = aws_dynamodb_table.scores.name, namespace = local.metrics_namespace, service = local.service_name })).widgets, local.slo_dashboard_widgets) })
}
