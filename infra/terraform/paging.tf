# Two severities, each with its own topic (docs/operations.md, "Alarms"). PAGE wakes a person: only the SLO burn-rate
# composites and "the API is down" publish to it. TICKET is for the working day: every other alarm. The ticket topic
# is the existing aws_sns_topic.alarms, kept under its name so an apply does not replace the topic and drop the
# subscriptions already confirmed on it. Both topics use the observability key, as the alarm topic always has.
# Every alarm's description starts with its severity and ends with its runbook link (local.alarm_runbook); a test
# (tests/terraform/test_paging.py) holds both, and that every runbook entry has an alarm.

locals {
  alarm_topic_arns = {
    page   = aws_sns_topic.page.arn
    ticket = aws_sns_topic.alarms.arn
  }
  alarm_runbook = "docs/operations.md#"
  # One subscription per (severity, protocol, endpoint). HTTPS endpoints are pagers' and ticket systems' event URLs
  # (PagerDuty, Opsgenie), which confirm the subscription themselves.
  alarm_subscriptions = merge(
    { for address in var.page_email_addresses : "page email ${address}" => { severity = "page", protocol = "email", endpoint = address } },
    { for url in var.page_https_endpoints : "page https ${url}" => { severity = "page", protocol = "https", endpoint = url } },
    { for address in var.ticket_email_addresses : "ticket email ${address}" => { severity = "ticket", protocol = "email", endpoint = address } },
    { for url in var.ticket_https_endpoints : "ticket https ${url}" => { severity = "ticket", protocol = "https", endpoint = url } },
  )
}

resource "aws_sns_topic" "page" {
  name              = "${local.name_prefix}-page"
  kms_master_key_id = aws_kms_key.observability.arn
}

resource "aws_sns_topic_subscription" "alarm" {
  for_each               = local.alarm_subscriptions
  topic_arn              = local.alarm_topic_arns[each.value.severity]
  protocol               = each.value.protocol
  endpoint               = each.value.endpoint
  endpoint_auto_confirms = each.value.protocol == "https"
}

resource "aws_sns_topic_subscription" "edge_ticket" {
  # CloudFront's WAF alarm notifies the us-east-1 edge topic (waf.tf): a ticket, so the ticket subscribers hear it.
  for_each               = local.waf_cloudfront_enabled ? { for key, subscription in local.alarm_subscriptions : key => subscription if subscription.severity == "ticket" } : {}
  provider               = aws.us_east_1
  topic_arn              = aws_sns_topic.edge_alarms[0].arn
  protocol               = each.value.protocol
  endpoint               = each.value.endpoint
  endpoint_auto_confirms = each.value.protocol == "https"
}

resource "aws_cloudwatch_log_metric_filter" "stage_throttled_requests" {
  # REST's 4XXError and HTTP's 4xx lump a 429 from the stage's throttle with every client error (404, 400, 403 from
  # WAF), so the access log is the one place a throttled request is told apart: both front doors log
  # $context.status. It counts against the availability SLO (slo.tf); a WAF block is a 403 and does not.
  name           = "${local.name_prefix}-stage-throttled-requests"
  log_group_name = aws_cloudwatch_log_group.api_access.name
  pattern        = "{ $.status = \"429\" }"
  metric_transformation {
    name          = "StageThrottledRequests"
    namespace     = local.access_log_metrics_namespace
    value         = "1"
    default_value = "0"
    unit          = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "api_down" {
  # The one non-SLO page: most answers are failing right now. The burn-rate pages need an hour (or 5 minutes at
  # 14.4x) of history; this fires in 3 minutes when half the requests fail, which the fast burn also catches but
  # only after its 1-hour window has filled.
  alarm_name        = "${local.name_prefix}-api-down"
  alarm_description = "PAGE: ${var.api_down_alarm_percent} % or more of API requests failed (5xx or throttled 429) in each of 3 consecutive minutes (checked when a minute has at least ${var.api_down_min_requests} requests). Runbook: ${local.alarm_runbook}api-down"
  metric_query {
    id          = "requests"
    return_data = false
    metric {
      namespace   = local.api_metrics.namespace
      metric_name = local.api_metrics.requests
      dimensions  = local.api_metrics.dimensions
      period      = 60
      stat        = "Sum"
    }
  }
  metric_query {
    id          = "errors"
    return_data = false
    metric {
      namespace   = local.api_metrics.namespace
      metric_name = local.api_metrics.errors_5xx
      dimensions  = local.api_metrics.dimensions
      period      = 60
      stat        = "Sum"
    }
  }
  metric_query {
    id          = "throttled"
    return_data = false
    metric {
      namespace   = local.access_log_metrics_namespace
      metric_name = "StageThrottledRequests"
      period      = 60
      stat        = "Sum"
    }
  }
  metric_query {
    id          = "failed_share"
    expression  = local.failed_share_expression
    label       = "failed requests (5xx or 429), % of all"
    return_data = true
  }
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = var.api_down_alarm_percent
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.page]
  ok_actions          = [local.alarm_topic_arns.page]
}

locals {
  # Log metric filters publish without dimensions, so the stage is in the namespace.
  access_log_metrics_namespace = "${local.metrics_namespace}/${local.name_prefix}"
  failed_share_expression      = "IF(requests >= ${var.api_down_min_requests}, 100 * (FILL(errors, 0) + FILL(throttled, 0)) / requests, 0)"
}

output "page_topic_arn" {
  description = "PAGE severity: subscribe the on-call pager here (or set page_https_endpoints)."
  value       = aws_sns_topic.page.arn
}

output "ticket_topic_arn" {
  description = "TICKET severity: subscribe the team's queue here (or set ticket_email_addresses / ticket_https_endpoints)."
  value       = aws_sns_topic.alarms.arn
}
