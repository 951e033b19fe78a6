# Service level objectives and their multi-window, multi-burn-rate alerts (Google SRE workbook, chapter 5), plus
# the cache-hit ratio alarm. Availability counts a 5xx and a 429 from the stage's throttle as failed (paging.tf).
# Every API metric comes from local.api_metrics (api_metrics.tf), so the same alarms work for a REST and an HTTP
# API. The count alarms in observability.tf stay: they catch what a
# ratio misses at low traffic. Burn rate = the error rate over a window / the error budget (1 - target). A burn
# rate of 1 spends exactly the budget in the SLO period; the thresholds are the workbook's: the share of the
# 30-day budget an alert tolerates spending within its long window, so burn_rate = share x period / long window
# (2 % in 1 h = 14.4, 5 % in 6 h = 6, 10 % in 3 days = 1). One metric alarm per window, its period the whole
# window: a metric-math alarm's period may be any multiple of 60 s, and Period x EvaluationPeriods may reach 7
# days once the period is an hour or longer (PutMetricAlarm), so the 3-day window is one 259,200 s period
# evaluated as a sliding window. There is no moving-window function in metric math, so a sum over shorter
# periods would not be the same ratio. Appended to the service dashboard (observability.tf). No x/y:
# CloudWatch places them after the template's widgets, whatever else is added there.

locals {
  slo_period_seconds = 2592000
  slo_burn_rate_alerts = {
    page-fast = {
      notify                  = "page"
      budget_consumed_percent = 2
      long_window_seconds     = 3600
      short_window_seconds    = 300
    }
    page-slow = {
      notify                  = "page"
      budget_consumed_percent = 5
      long_window_seconds     = 21600
      short_window_seconds    = 1800
    }
    ticket = {
      notify                  = "ticket"
      budget_consumed_percent = 10
      long_window_seconds     = 259200
      short_window_seconds    = 21600
    }
  }
  slo_burn_rates = { for name, alert in local.slo_burn_rate_alerts : name => alert.budget_consumed_percent * local.slo_period_seconds / alert.long_window_seconds / 100 }
  slo_burn_rate_windows = {
    page-fast-1h = {
      alert   = "page-fast"
      size    = "long"
      seconds = 3600
      label   = "1 h"
    }
    page-fast-5m = {
      alert   = "page-fast"
      size    = "short"
      seconds = 300
      label   = "5 min"
    }
    page-slow-6h = {
      alert   = "page-slow"
      size    = "long"
      seconds = 21600
      label   = "6 h"
    }
    page-slow-30m = {
      alert   = "page-slow"
      size    = "short"
      seconds = 1800
      label   = "30 min"
    }
    ticket-3d = {
      alert   = "ticket"
      size    = "long"
      seconds = 259200
      label   = "3 days"
    }
    ticket-6h = {
      alert   = "ticket"
      size    = "short"
      seconds = 21600
      label   = "6 h"
    }
  }
  slo_page_topic_arn      = local.alarm_topic_arns.page
  slo_ticket_topic_arn    = var.slo_ticket_topic_arn != "" ? var.slo_ticket_topic_arn : local.alarm_topic_arns.ticket
  slo_api_dimension_pairs = flatten([for name, value in local.api_metrics.dimensions : [name, value]])
  slo_dashboard_metrics = {
    requests      = concat([local.api_metrics.namespace, local.api_metrics.requests], local.slo_api_dimension_pairs, [{ id = "requests", stat = "Sum", visible = false }])
    errors        = concat([local.api_metrics.namespace, local.api_metrics.errors_5xx], local.slo_api_dimension_pairs, [{ id = "errors", stat = "Sum", visible = false }])
    throttled     = [local.access_log_metrics_namespace, "StageThrottledRequests", { id = "throttled", stat = "Sum", visible = false }]
    within        = concat([local.api_metrics.namespace, local.api_metrics.latency], local.slo_api_dimension_pairs, [{ id = "within", stat = "PR(:${var.slo_latency_threshold_ms})", label = "% of requests within ${var.slo_latency_threshold_ms} ms (target ${var.slo_latency_target_percent})" }])
    within_hidden = concat([local.api_metrics.namespace, local.api_metrics.latency], local.slo_api_dimension_pairs, [{ id = "within", stat = "PR(:${var.slo_latency_threshold_ms})", visible = false }])
  }
  slo_dashboard_widgets = [
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title                = "Availability SLO, last 30 days"
        region               = data.aws_region.chalice.id
        view                 = "singleValue"
        start                = "-P30D"
        setPeriodToTimeRange = true
        stat                 = "Sum"
        metrics = [
          local.slo_dashboard_metrics.requests,
          local.slo_dashboard_metrics.errors,
          local.slo_dashboard_metrics.throttled,
          [
            {
              id         = "availability"
              expression = "100 * (1 - (FILL(errors, 0) + FILL(throttled, 0)) / requests)"
              label      = "% of requests without a 5xx or 429 (target ${var.slo_availability_target_percent})"
            },
          ],
          [
            {
              id         = "budget_left"
              expression = "100 * (1 - 100 * (FILL(errors, 0) + FILL(throttled, 0)) / requests / (100 - ${var.slo_availability_target_percent}))"
              label      = "% of the error budget left"
            },
          ],
        ]
      }
    },
    {
      type   = "metric"
      width  = 8
      height = 6
      properties = {
        title                = "Latency SLO, last 30 days"
        region               = data.aws_region.chalice.id
        view                 = "singleValue"
        start                = "-P30D"
        setPeriodToTimeRange = true
        metrics = [
          local.slo_dashboard_metrics.within,
          [
            {
              id         = "budget_left"
              expression = "100 * (1 - (100 - within) / (100 - ${var.slo_latency_target_percent}))"
              label      = "% of the error budget left"
            },
          ],
        ]
      }
    },
    {
      type   = "alarm"
      width  = 8
      height = 6
      properties = {
        title = "SLO alerts"
        alarms = [
          aws_cloudwatch_composite_alarm.slo_availability_page.arn,
          aws_cloudwatch_composite_alarm.slo_latency_page.arn,
          aws_cloudwatch_composite_alarm.slo_availability_ticket.arn,
          aws_cloudwatch_composite_alarm.slo_latency_ticket.arn,
        ]
      }
    },
    {
      type   = "metric"
      width  = 24
      height = 6
      properties = {
        title   = "SLO burn rate per hour (1 = the budget lasts exactly 30 days)"
        region  = data.aws_region.chalice.id
        view    = "timeSeries"
        stacked = false
        period  = 3600
        metrics = [
          local.slo_dashboard_metrics.requests,
          local.slo_dashboard_metrics.errors,
          local.slo_dashboard_metrics.throttled,
          local.slo_dashboard_metrics.within_hidden,
          [
            {
              id         = "availability_burn"
              expression = "100 * (FILL(errors, 0) + FILL(throttled, 0)) / requests / (100 - ${var.slo_availability_target_percent})"
              label      = "availability burn rate"
            },
          ],
          [
            {
              id         = "latency_burn"
              expression = "(100 - within) / (100 - ${var.slo_latency_target_percent})"
              label      = "latency burn rate"
            },
          ],
        ]
        annotations = {
          horizontal = [for name, alert in local.slo_burn_rate_alerts : { label = format("%s (%s)", name, alert.notify), value = local.slo_burn_rates[name] }]
        }
      }
    },
  ]
}

resource "aws_cloudwatch_metric_alarm" "slo_availability_burn_rate" {
  # No actions of its own: the composite alarms below notify, and only when a long and a short window burn
  # together.
  for_each          = local.slo_burn_rate_windows
  alarm_name        = "${local.name_prefix}-slo-availability-${each.key}"
  alarm_description = "SILENT: Burn rate of the availability SLO over ${each.value.label} above ${local.slo_burn_rates[each.value.alert]}x (the ${each.value.alert} alert's ${each.value.size} window). Notifies nobody by itself: see ${local.name_prefix}-slo-availability-page and -ticket. Runbook: ${local.alarm_runbook}slo-burn-rate-alerts"
  metric_query {
    id          = "requests"
    return_data = false
    metric {
      namespace   = local.api_metrics.namespace
      metric_name = local.api_metrics.requests
      dimensions  = local.api_metrics.dimensions
      period      = each.value.seconds
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
      period      = each.value.seconds
      stat        = "Sum"
    }
  }
  metric_query {
    # 429s from the stage's throttle, counted from the access log (paging.tf): REST's 4XXError cannot tell them
    # from a 404 or a WAF block's 403.
    id          = "throttled"
    return_data = false
    metric {
      namespace   = local.access_log_metrics_namespace
      metric_name = "StageThrottledRequests"
      period      = each.value.seconds
      stat        = "Sum"
    }
  }
  metric_query {
    id          = "burn_rate"
    expression  = "IF(requests >= ${var.slo_burn_rate_min_requests}, 100 * (FILL(errors, 0) + FILL(throttled, 0)) / requests / (100 - ${var.slo_availability_target_percent}), 0)"
    label       = "availability burn rate over ${each.value.label}"
    return_data = true
  }
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = local.slo_burn_rates[each.value.alert]
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
}

resource "aws_cloudwatch_metric_alarm" "slo_latency_burn_rate" {
  # No actions of its own: the composite alarms below notify, and only when a long and a short window burn
  # together.
  for_each          = local.slo_burn_rate_windows
  alarm_name        = "${local.name_prefix}-slo-latency-${each.key}"
  alarm_description = "SILENT: Burn rate of the latency SLO over ${each.value.label} above ${local.slo_burn_rates[each.value.alert]}x (the ${each.value.alert} alert's ${each.value.size} window). Notifies nobody by itself: see ${local.name_prefix}-slo-latency-page and -ticket. Runbook: ${local.alarm_runbook}slo-burn-rate-alerts"
  metric_query {
    id          = "requests"
    return_data = false
    metric {
      namespace   = local.api_metrics.namespace
      metric_name = local.api_metrics.requests
      dimensions  = local.api_metrics.dimensions
      period      = each.value.seconds
      stat        = "Sum"
    }
  }
  metric_query {
    id          = "within"
    return_data = false
    metric {
      namespace   = local.api_metrics.namespace
      metric_name = local.api_metrics.latency
      dimensions  = local.api_metrics.dimensions
      period      = each.value.seconds
      stat        = "PR(:${var.slo_latency_threshold_ms})"
    }
  }
  metric_query {
    id          = "burn_rate"
    expression  = "IF(requests >= ${var.slo_burn_rate_min_requests}, (100 - within) / (100 - ${var.slo_latency_target_percent}), 0)"
    label       = "latency burn rate over ${each.value.label}"
    return_data = true
  }
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  threshold           = local.slo_burn_rates[each.value.alert]
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
}

resource "aws_cloudwatch_metric_alarm" "cache_hit_ratio" {
  alarm_name        = "${local.name_prefix}-cache-hit-ratio"
  alarm_description = "TICKET: Under ${var.cache_hit_ratio_alarm_threshold_percent} % of snapshot lookups were cache hits for 15 minutes (checked only when a 5-minute period has at least ${var.ratio_alarm_min_requests} lookups): containers are churning or refreshes fail. Runbook: ${local.alarm_runbook}cache-hit-ratio"
  metric_query {
    id          = "hit"
    return_data = false
    metric {
      namespace   = local.metrics_namespace
      metric_name = "CacheHit"
      dimensions = {
        service = local.service_name
      }
      period = 300
      stat   = "Sum"
    }
  }
  metric_query {
    id          = "miss"
    return_data = false
    metric {
      namespace   = local.metrics_namespace
      metric_name = "CacheMiss"
      dimensions = {
        service = local.service_name
      }
      period = 300
      stat   = "Sum"
    }
  }
  metric_query {
    id          = "stale"
    return_data = false
    metric {
      namespace   = local.metrics_namespace
      metric_name = "CacheStale"
      dimensions = {
        service = local.service_name
      }
      period = 300
      stat   = "Sum"
    }
  }
  metric_query {
    id          = "lookups"
    expression  = "FILL(hit, 0) + FILL(miss, 0) + FILL(stale, 0)"
    label       = "snapshot lookups"
    return_data = false
  }
  metric_query {
    id          = "hit_share"
    expression  = "IF(lookups >= ${var.ratio_alarm_min_requests}, 100 * FILL(hit, 0) / lookups, 100)"
    label       = "cache-hit share (%)"
    return_data = true
  }
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  threshold           = var.cache_hit_ratio_alarm_threshold_percent
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arns.ticket]
  ok_actions          = [local.alarm_topic_arns.ticket]
}

resource "aws_cloudwatch_composite_alarm" "slo_availability_page" {
  alarm_name        = "${local.name_prefix}-slo-availability-page"
  alarm_description = "PAGE: The availability SLO (${var.slo_availability_target_percent} % of API requests answered without a 5xx or a throttling 429 over 30 days) is burning its error budget at ${local.slo_burn_rates["page-fast"]}x or more over 1 h and 5 min, or ${local.slo_burn_rates["page-slow"]}x or more over 6 h and 30 min. Runbook: ${local.alarm_runbook}slo-availability-page"
  alarm_rule        = "(ALARM(\"${aws_cloudwatch_metric_alarm.slo_availability_burn_rate["page-fast-1h"].alarm_name}\") AND ALARM(\"${aws_cloudwatch_metric_alarm.slo_availability_burn_rate["page-fast-5m"].alarm_name}\")) OR (ALARM(\"${aws_cloudwatch_metric_alarm.slo_availability_burn_rate["page-slow-6h"].alarm_name}\") AND ALARM(\"${aws_cloudwatch_metric_alarm.slo_availability_burn_rate["page-slow-30m"].alarm_name}\"))"
  alarm_actions     = [local.slo_page_topic_arn]
  ok_actions        = [local.slo_page_topic_arn]
}

resource "aws_cloudwatch_composite_alarm" "slo_availability_ticket" {
  alarm_name        = "${local.name_prefix}-slo-availability-ticket"
  alarm_description = "TICKET: The availability SLO (${var.slo_availability_target_percent} % of API requests answered without a 5xx or a throttling 429 over 30 days) is burning its error budget at ${local.slo_burn_rates["ticket"]}x or more over 3 days and 6 h: at this rate the budget runs out within the 30 days. Runbook: ${local.alarm_runbook}slo-ticket"
  alarm_rule        = "(ALARM(\"${aws_cloudwatch_metric_alarm.slo_availability_burn_rate["ticket-3d"].alarm_name}\") AND ALARM(\"${aws_cloudwatch_metric_alarm.slo_availability_burn_rate["ticket-6h"].alarm_name}\"))"
  alarm_actions     = [local.slo_ticket_topic_arn]
  ok_actions        = [local.slo_ticket_topic_arn]
}

resource "aws_cloudwatch_composite_alarm" "slo_latency_page" {
  alarm_name        = "${local.name_prefix}-slo-latency-page"
  alarm_description = "PAGE: The latency SLO (${var.slo_latency_target_percent} % of API requests answered within ${var.slo_latency_threshold_ms} ms at API Gateway over 30 days) is burning its error budget at ${local.slo_burn_rates["page-fast"]}x or more over 1 h and 5 min, or ${local.slo_burn_rates["page-slow"]}x or more over 6 h and 30 min. Runbook: ${local.alarm_runbook}slo-latency-page"
  alarm_rule        = "(ALARM(\"${aws_cloudwatch_metric_alarm.slo_latency_burn_rate["page-fast-1h"].alarm_name}\") AND ALARM(\"${aws_cloudwatch_metric_alarm.slo_latency_burn_rate["page-fast-5m"].alarm_name}\")) OR (ALARM(\"${aws_cloudwatch_metric_alarm.slo_latency_burn_rate["page-slow-6h"].alarm_name}\") AND ALARM(\"${aws_cloudwatch_metric_alarm.slo_latency_burn_rate["page-slow-30m"].alarm_name}\"))"
  alarm_actions     = [local.slo_page_topic_arn]
  ok_actions        = [local.slo_page_topic_arn]
}

resource "aws_cloudwatch_composite_alarm" "slo_latency_ticket" {
  alarm_name        = "${local.name_prefix}-slo-latency-ticket"
  alarm_description = "TICKET: The latency SLO (${var.slo_latency_target_percent} % of API requests answered within ${var.slo_latency_threshold_ms} ms at API Gateway over 30 days) is burning its error budget at ${local.slo_burn_rates["ticket"]}x or more over 3 days and 6 h: at this rate the budget runs out within the 30 days. Runbook: ${local.alarm_runbook}slo-ticket"
  alarm_rule        = "(ALARM(\"${aws_cloudwatch_metric_alarm.slo_latency_burn_rate["ticket-3d"].alarm_name}\") AND ALARM(\"${aws_cloudwatch_metric_alarm.slo_latency_burn_rate["ticket-6h"].alarm_name}\"))"
  alarm_actions     = [local.slo_ticket_topic_arn]
  ok_actions        = [local.slo_ticket_topic_arn]
}
