# A probe from outside the service (docs/decisions/0019-synthetic-probe.md): Route 53 health checkers in three regions
# GET the public URL's deep health every 30 s, and a PAGE alarm fires when it fails for 3 minutes. Every other
# alarm reads what the service publishes, so with no traffic, or a broken DNS record, certificate or distribution,
# none of them sees a thing. This is the stop-gap the decision prices at about $2.50 a month; the scheduled smoke
# function it prefers needs its own zip in the export. Route 53 publishes health-check metrics in us-east-1 only,
# and an alarm notifies a topic in its own region: hence a us-east-1 page topic, with its own key.

locals {
  # The URL users reach: the custom domain, else CloudFront, else the API's own (REST carries the stage in the path).
  probe_host = var.custom_domain_name != "" ? var.custom_domain_name : (var.cloudfront_enabled ? one(aws_cloudfront_distribution.api[*].domain_name) : split("/", local.api_endpoint_url)[2])
  probe_path = var.custom_domain_name != "" || var.cloudfront_enabled || var.api_type == "HTTP" ? "/health?deep=true" : "/${local.api_gateway_stage_name}/health?deep=true"
  probe_key_policy = {
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

resource "aws_route53_health_check" "probe" {
  # Deep health answers 200 only while /llms can be served (chalicelib/service.py), with "status" in the body.
  fqdn              = local.probe_host
  port              = 443
  type              = "HTTPS_STR_MATCH"
  resource_path     = local.probe_path
  search_string     = "\"status\""
  enable_sni        = true
  request_interval  = 30
  failure_threshold = 3
  # Three regions, the fewest Route 53 accepts: fewer checker requests against the API, still outside it.
  regions = ["us-east-1", "eu-west-1", "ap-southeast-1"]
  tags = {
    Name = "${local.name_prefix}-probe"
  }
}

resource "aws_kms_key" "probe_us_east_1" {
  provider                = aws.us_east_1
  description             = "${local.name_prefix}: encrypts the us-east-1 page topic the outside probe's alarm notifies"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = jsonencode(local.probe_key_policy)
}

resource "aws_sns_topic" "page_us_east_1" {
  provider          = aws.us_east_1
  name              = "${local.name_prefix}-page-us-east-1"
  kms_master_key_id = aws_kms_key.probe_us_east_1.arn
}

resource "aws_sns_topic_subscription" "page_us_east_1" {
  for_each               = { for key, subscription in local.alarm_subscriptions : key => subscription if subscription.severity == "page" }
  provider               = aws.us_east_1
  topic_arn              = aws_sns_topic.page_us_east_1.arn
  protocol               = each.value.protocol
  endpoint               = each.value.endpoint
  endpoint_auto_confirms = each.value.protocol == "https"
}

resource "aws_cloudwatch_metric_alarm" "probe" {
  provider          = aws.us_east_1
  alarm_name        = "${local.name_prefix}-probe"
  alarm_description = "PAGE: Route 53's health checkers (3 regions, every 30 s) found the public URL's deep health failing in each of 3 minutes: users cannot reach the API, whatever its own metrics say. Runbook: ${local.alarm_runbook}probe"
  namespace         = "AWS/Route53"
  metric_name       = "HealthCheckStatus"
  dimensions = {
    HealthCheckId = aws_route53_health_check.probe.id
  }
  period              = 60
  evaluation_periods  = 3
  datapoints_to_alarm = 3
  statistic           = "Minimum"
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  # No data from the health checker is itself a failure to see the API.
  treat_missing_data = "breaching"
  alarm_actions      = [aws_sns_topic.page_us_east_1.arn]
  ok_actions         = [aws_sns_topic.page_us_east_1.arn]
}

output "probe_health_check_id" {
  description = "The outside probe's Route 53 health check (its status and checker results are in the Route 53 console)."
  value       = aws_route53_health_check.probe.id
}
