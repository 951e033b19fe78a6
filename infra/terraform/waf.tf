# Edge protection: one web ACL definition in two scopes (docs/operations.md#edge-protection). REGIONAL on the
# REST stage when var.api_type is REST; CLOUDFRONT-scoped (us-east-1) on the distribution when
# var.cloudfront_enabled, exposed as local.cloudfront_web_acl_arn. Rules: AWS IP reputation, a per-address rate
# rule (429), AWS KnownBadInputs and Common. var.waf_block_mode picks each rule's action: block, or count
# (matches are counted and logged, nothing is refused). Behind CloudFront, API
# Gateway sees edge addresses, not clients, so the per-address limit applies at the CLOUDFRONT-scoped ACL and
# the regional rule's is lifted to WAF's maximum (local.waf_regional_rate_limit). WAF logs keep only blocked and
# counted requests (allowed ones are in the API access log), with credentials' headers redacted.

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
  default_tags {
    tags = {
      project    = local.app_name
      stage      = local.stage
      managed-by = "terraform"
    }
  }
}

locals {
  waf_regional_enabled    = var.waf_enabled && var.api_type == "REST"
  waf_cloudfront_enabled  = var.waf_enabled && var.cloudfront_enabled
  cloudfront_web_acl_arn  = one(aws_wafv2_web_acl.cloudfront[*].arn)
  waf_regional_rate_limit = var.cloudfront_enabled ? 2000000000 : var.waf_rate_limit_per_5_minutes
  waf_logs_key_policy = {
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
        Sid    = "CloudWatchLogsEncryptsTheWafLogGroup"
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
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.chalice.partition}:logs:${data.aws_region.chalice.id}:${data.aws_caller_identity.chalice.account_id}:log-group:aws-waf-logs-${local.name_prefix}"
          }
        }
      },
    ]
  }
  edge_us_east_1_key_policy = {
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
        Sid    = "CloudWatchLogsEncryptsTheWafLogGroup"
        Effect = "Allow"
        Principal = {
          Service = "logs.us-east-1.amazonaws.com"
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
          ArnEquals = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.chalice.partition}:logs:us-east-1:${data.aws_caller_identity.chalice.account_id}:log-group:aws-waf-logs-${local.name_prefix}-cloudfront"
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

resource "aws_wafv2_web_acl" "regional" {
  count       = local.waf_regional_enabled ? 1 : 0
  name        = "${local.name_prefix}-api"
  description = "${local.name_prefix}: the REST API stage"
  scope       = "REGIONAL"
  default_action {
    allow {
    }
  }
  # First of the rules: checkov 3.3 renders a dynamic block correctly only in the first `rule`, and its
  # Log4j check (CKV_AWS_192) reads this one. WAF orders rules by priority, not by position.
  rule {
    name     = "aws-known-bad-inputs"
    priority = 30
    override_action {
      dynamic "none" {
        for_each = var.waf_block_mode ? [1] : []
        content {}
      }
      dynamic "count" {
        for_each = var.waf_block_mode ? [] : [1]
        content {}
      }
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "aws-ip-reputation"
    priority = 10
    override_action {
      dynamic "none" {
        for_each = var.waf_block_mode ? [1] : []
        content {}
      }
      dynamic "count" {
        for_each = var.waf_block_mode ? [] : [1]
        content {}
      }
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-ip-reputation"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "rate-per-address"
    priority = 20
    action {
      dynamic "block" {
        for_each = var.waf_block_mode ? [1] : []
        content {
          custom_response {
            response_code            = 429
            custom_response_body_key = "too_many_requests"
          }
        }
      }
      dynamic "count" {
        for_each = var.waf_block_mode ? [] : [1]
        content {}
      }
    }
    statement {
      rate_based_statement {
        limit              = local.waf_regional_rate_limit
        aggregate_key_type = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "rate-per-address"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "aws-common"
    priority = 40
    override_action {
      dynamic "none" {
        for_each = var.waf_block_mode ? [1] : []
        content {}
      }
      dynamic "count" {
        for_each = var.waf_block_mode ? [] : [1]
        content {}
      }
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-common"
      sampled_requests_enabled   = true
    }
  }
  custom_response_body {
    key          = "too_many_requests"
    content      = "{\"message\":\"Too Many Requests\"}"
    content_type = "APPLICATION_JSON"
  }
  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${local.name_prefix}-api"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl" "cloudfront" {
  count       = local.waf_cloudfront_enabled ? 1 : 0
  provider    = aws.us_east_1
  name        = "${local.name_prefix}-cloudfront"
  description = "${local.name_prefix}: the CloudFront distribution"
  scope       = "CLOUDFRONT"
  default_action {
    allow {
    }
  }
  # First of the rules: checkov 3.3 renders a dynamic block correctly only in the first `rule`, and its
  # Log4j check (CKV_AWS_192) reads this one. WAF orders rules by priority, not by position.
  rule {
    name     = "aws-known-bad-inputs"
    priority = 30
    override_action {
      dynamic "none" {
        for_each = var.waf_block_mode ? [1] : []
        content {}
      }
      dynamic "count" {
        for_each = var.waf_block_mode ? [] : [1]
        content {}
      }
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesKnownBadInputsRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-known-bad-inputs"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "aws-ip-reputation"
    priority = 10
    override_action {
      dynamic "none" {
        for_each = var.waf_block_mode ? [1] : []
        content {}
      }
      dynamic "count" {
        for_each = var.waf_block_mode ? [] : [1]
        content {}
      }
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesAmazonIpReputationList"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-ip-reputation"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "rate-per-address"
    priority = 20
    action {
      dynamic "block" {
        for_each = var.waf_block_mode ? [1] : []
        content {
          custom_response {
            response_code            = 429
            custom_response_body_key = "too_many_requests"
          }
        }
      }
      dynamic "count" {
        for_each = var.waf_block_mode ? [] : [1]
        content {}
      }
    }
    statement {
      rate_based_statement {
        limit              = var.waf_rate_limit_per_5_minutes
        aggregate_key_type = "IP"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "rate-per-address"
      sampled_requests_enabled   = true
    }
  }
  rule {
    name     = "aws-common"
    priority = 40
    override_action {
      dynamic "none" {
        for_each = var.waf_block_mode ? [1] : []
        content {}
      }
      dynamic "count" {
        for_each = var.waf_block_mode ? [] : [1]
        content {}
      }
    }
    statement {
      managed_rule_group_statement {
        vendor_name = "AWS"
        name        = "AWSManagedRulesCommonRuleSet"
      }
    }
    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "aws-common"
      sampled_requests_enabled   = true
    }
  }
  custom_response_body {
    key          = "too_many_requests"
    content      = "{\"message\":\"Too Many Requests\"}"
    content_type = "APPLICATION_JSON"
  }
  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${local.name_prefix}-cloudfront"
    sampled_requests_enabled   = true
  }
}

resource "aws_wafv2_web_acl_association" "regional" {
  count        = local.waf_regional_enabled ? 1 : 0
  resource_arn = aws_api_gateway_stage.api[0].arn
  web_acl_arn  = aws_wafv2_web_acl.regional[0].arn
}

resource "aws_kms_key" "waf_logs" {
  count                   = local.waf_regional_enabled ? 1 : 0
  description             = "${local.name_prefix}: encrypts the regional WAF log group"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = jsonencode(local.waf_logs_key_policy)
}

resource "aws_kms_key" "edge_us_east_1" {
  count                   = local.waf_cloudfront_enabled ? 1 : 0
  provider                = aws.us_east_1
  description             = "${local.name_prefix}: encrypts the CloudFront WAF log group and the us-east-1 alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = jsonencode(local.edge_us_east_1_key_policy)
}

resource "aws_cloudwatch_log_group" "waf_regional" {
  count             = local.waf_regional_enabled ? 1 : 0
  name              = "aws-waf-logs-${local.name_prefix}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.waf_logs[0].arn
}

resource "aws_cloudwatch_log_group" "waf_cloudfront" {
  count             = local.waf_cloudfront_enabled ? 1 : 0
  provider          = aws.us_east_1
  name              = "aws-waf-logs-${local.name_prefix}-cloudfront"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.edge_us_east_1[0].arn
}

resource "aws_wafv2_web_acl_logging_configuration" "regional" {
  count                   = local.waf_regional_enabled ? 1 : 0
  resource_arn            = aws_wafv2_web_acl.regional[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf_regional[0].arn]
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
  redacted_fields {
    single_header {
      name = "x-api-key"
    }
  }
  logging_filter {
    default_behavior = "DROP"
    filter {
      behavior    = "KEEP"
      requirement = "MEETS_ANY"
      condition {
        action_condition {
          action = "BLOCK"
        }
      }
      condition {
        action_condition {
          action = "COUNT"
        }
      }
      condition {
        action_condition {
          action = "EXCLUDED_AS_COUNT"
        }
      }
    }
  }
}

resource "aws_wafv2_web_acl_logging_configuration" "cloudfront" {
  count                   = local.waf_cloudfront_enabled ? 1 : 0
  provider                = aws.us_east_1
  resource_arn            = aws_wafv2_web_acl.cloudfront[0].arn
  log_destination_configs = [aws_cloudwatch_log_group.waf_cloudfront[0].arn]
  redacted_fields {
    single_header {
      name = "authorization"
    }
  }
  redacted_fields {
    single_header {
      name = "cookie"
    }
  }
  redacted_fields {
    single_header {
      name = "x-api-key"
    }
  }
  logging_filter {
    default_behavior = "DROP"
    filter {
      behavior    = "KEEP"
      requirement = "MEETS_ANY"
      condition {
        action_condition {
          action = "BLOCK"
        }
      }
      condition {
        action_condition {
          action = "COUNT"
        }
      }
      condition {
        action_condition {
          action = "EXCLUDED_AS_COUNT"
        }
      }
    }
  }
}

resource "aws_sns_topic" "edge_alarms" {
  # CloudFront's WAF metrics live in us-east-1, and an alarm can only notify a topic in its own region.
  count             = local.waf_cloudfront_enabled ? 1 : 0
  provider          = aws.us_east_1
  name              = "${local.name_prefix}-edge-alarms"
  kms_master_key_id = aws_kms_key.edge_us_east_1[0].arn
}

resource "aws_sns_topic_subscription" "edge_alarm_email" {
  count     = local.waf_cloudfront_enabled && var.alarm_email != "" ? 1 : 0
  provider  = aws.us_east_1
  topic_arn = aws_sns_topic.edge_alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "waf_blocked_requests" {
  count               = local.waf_regional_enabled ? 1 : 0
  alarm_name          = "${local.name_prefix}-waf-blocked-requests"
  alarm_description   = "TICKET: The web ACL blocked more than ${var.waf_blocked_requests_alarm_percent} % of requests in 5 minutes (at least 50): an attack being refused, or legitimate clients refused by a managed rule or the rate rule. Runbook: ${local.alarm_runbook}waf-blocked-requests"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.waf_blocked_requests_alarm_percent
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"
  metric_query {
    id          = "blocked_percent"
    label       = "Blocked requests (% of all, 0 below 50 blocked)"
    expression  = "IF(blocked >= 50, 100 * blocked / (blocked + FILL(allowed, 0)), 0)"
    return_data = true
  }
  metric_query {
    id          = "blocked"
    return_data = false
    metric {
      namespace   = "AWS/WAFV2"
      metric_name = "BlockedRequests"
      dimensions = {
        WebACL = aws_wafv2_web_acl.regional[0].name
        Rule   = "ALL"
        Region = data.aws_region.chalice.id
      }
      period = 300
      stat   = "Sum"
    }
  }
  metric_query {
    id          = "allowed"
    return_data = false
    metric {
      namespace   = "AWS/WAFV2"
      metric_name = "AllowedRequests"
      dimensions = {
        WebACL = aws_wafv2_web_acl.regional[0].name
        Rule   = "ALL"
        Region = data.aws_region.chalice.id
      }
      period = 300
      stat   = "Sum"
    }
  }
  alarm_actions = [local.alarm_topic_arns.ticket]
  ok_actions    = [local.alarm_topic_arns.ticket]
}

resource "aws_cloudwatch_metric_alarm" "waf_cloudfront_blocked_requests" {
  count               = local.waf_cloudfront_enabled ? 1 : 0
  provider            = aws.us_east_1
  alarm_name          = "${local.name_prefix}-waf-cloudfront-blocked-requests"
  alarm_description   = "TICKET: The web ACL blocked more than ${var.waf_blocked_requests_alarm_percent} % of requests in 5 minutes (at least 50): an attack being refused, or legitimate clients refused by a managed rule or the rate rule. Runbook: ${local.alarm_runbook}waf-blocked-requests"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.waf_blocked_requests_alarm_percent
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"
  metric_query {
    id          = "blocked_percent"
    label       = "Blocked requests (% of all, 0 below 50 blocked)"
    expression  = "IF(blocked >= 50, 100 * blocked / (blocked + FILL(allowed, 0)), 0)"
    return_data = true
  }
  metric_query {
    id          = "blocked"
    return_data = false
    metric {
      namespace   = "AWS/WAFV2"
      metric_name = "BlockedRequests"
      dimensions = {
        WebACL = aws_wafv2_web_acl.cloudfront[0].name
        Rule   = "ALL"
      }
      period = 300
      stat   = "Sum"
    }
  }
  metric_query {
    id          = "allowed"
    return_data = false
    metric {
      namespace   = "AWS/WAFV2"
      metric_name = "AllowedRequests"
      dimensions = {
        WebACL = aws_wafv2_web_acl.cloudfront[0].name
        Rule   = "ALL"
      }
      period = 300
      stat   = "Sum"
    }
  }
  alarm_actions = [aws_sns_topic.edge_alarms[0].arn]
  ok_actions    = [aws_sns_topic.edge_alarms[0].arn]
}

resource "terraform_data" "edge_options" {
  # Edge-protection options that depend on each other or on the front door, refused at plan time: Terraform 1.5
  # variable validations cannot read other variables.
  lifecycle {
    precondition {
      condition     = !(var.waf_enabled && var.api_type == "HTTP" && !var.cloudfront_enabled)
      error_message = "waf_enabled with an HTTP API protects nothing: an HTTP API takes no web ACL. Enable cloudfront_enabled (the ACL then sits on the distribution) or use api_type REST."
    }
    precondition {
      condition     = !(var.waf_enabled && var.web_acl_arn != "")
      error_message = "waf_enabled and web_acl_arn both put a web ACL on the stage, which takes only one: choose one."
    }
    precondition {
      condition     = !(var.api_keys_required && var.api_type == "HTTP")
      error_message = "This export requires API keys (api_keys_required), which only a REST API has: an HTTP API has no usage plans. Use api_type REST, or set api_keys_required false."
    }
    precondition {
      condition     = !(var.api_keys_required && var.cloudfront_enabled)
      error_message = "API keys behind CloudFront are not wired: the distribution neither forwards x-api-key nor keys its cache on it, so it would refuse every request or serve cached answers to clients without a key. Leave cloudfront_enabled off, or set api_keys_required false."
    }
    precondition {
      condition     = var.api_keys_required == (length(var.api_clients) > 0)
      error_message = "api_clients and api_keys_required disagree: with keys required and no client every request is refused (403); with clients and keys not required their keys and quotas do nothing. Set both or neither."
    }
    precondition {
      condition     = !(var.api_cache_enabled && length(var.cors_allowed_origins) > 0 && !contains(var.cors_allowed_origins, "*"))
      error_message = "The API Gateway stage cache keys on path and query only, so it would hand one origin's Access-Control-Allow-Origin to another: with cors_allowed_origins listing origins, leave api_cache_enabled off (or allow \"*\")."
    }
    precondition {
      condition     = (var.custom_domain_name == "") == (var.route53_zone_id == "")
      error_message = "custom_domain_name and route53_zone_id go together: the certificate's validation record and the alias records are written to that zone."
    }
    precondition {
      condition     = !(var.custom_domain_name != "" && var.cloudfront_enabled)
      error_message = "With cloudfront_enabled, a custom domain belongs on the distribution (a us-east-1 certificate), not on API Gateway, or clients bypass the CDN and its web ACL; not wired yet: leave custom_domain_name empty."
    }
  }
}

output "waf_web_acl_arns" {
  description = "The export's web ACLs by scope (REGIONAL, CLOUDFRONT); empty when waf_enabled is false."
  value       = merge({ for acl in aws_wafv2_web_acl.regional : "REGIONAL" => acl.arn }, { for acl in aws_wafv2_web_acl.cloudfront : "CLOUDFRONT" => acl.arn })
}

output "edge_alarm_topic_arn" {
  description = "The us-east-1 topic the CloudFront web ACL's alarm notifies (subscribe the pager here too); null without it."
  value       = one(aws_sns_topic.edge_alarms[*].arn)
}
