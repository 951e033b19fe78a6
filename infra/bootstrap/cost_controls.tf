# Cost controls: a monthly AWS Budgets budget (alerts at 80 % of actual and 100 % of forecast spend) and a Cost
# Anomaly Detection monitor with an alert subscription, both sending to one cost-alert topic. Budgets and
# anomaly monitors are per account, not per stage or region, so they live here and nowhere else: on by default
# only where account_environment is prod (the account that runs the prod stage), and off in every other region's
# bootstrap of that account (set budget_enabled and cost_anomaly_detection_enabled to false there).

data "aws_caller_identity" "current" {
}

locals {
  budget_enabled                 = var.budget_enabled != null ? var.budget_enabled : var.account_environment == "prod"
  cost_anomaly_detection_enabled = var.cost_anomaly_detection_enabled != null ? var.cost_anomaly_detection_enabled : var.account_environment == "prod"
  cost_controls_enabled          = local.budget_enabled || local.cost_anomaly_detection_enabled
  cost_alert_topic_arn           = var.cost_alert_topic_arn != "" ? var.cost_alert_topic_arn : one(aws_sns_topic.cost_alerts[*].arn)
  cost_anomaly_monitor_arn       = var.cost_anomaly_monitor_arn != "" ? var.cost_anomaly_monitor_arn : one(aws_ce_anomaly_monitor.services[*].arn)
  cost_alerts_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "AccountAdministersKey"
        Effect = "Allow"
        Principal = {
          AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
        }
        Action   = "kms:*"
        Resource = "*"
      },
      {
        Sid    = "BudgetsAndCostAnomalyDetectionPublishToEncryptedTopic"
        Effect = "Allow"
        Principal = {
          Service = ["budgets.amazonaws.com", "costalerts.amazonaws.com"]
        }
        Action   = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource = "*"
        Condition = {
          StringEquals = {
            "aws:SourceAccount" = data.aws_caller_identity.current.account_id
          }
        }
      },
    ]
  }
  cost_alerts_topic_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "BudgetsPublishesThisAccountsBudgetAlerts"
        Effect = "Allow"
        Principal = {
          Service = "budgets.amazonaws.com"
        }
        Action   = "SNS:Publish"
        Resource = one(aws_sns_topic.cost_alerts[*].arn)
        Condition = {
          StringEquals = {
            "aws:SourceAccount" = data.aws_caller_identity.current.account_id
          }
          ArnLike = {
            "aws:SourceArn" = "arn:${data.aws_partition.current.partition}:budgets::${data.aws_caller_identity.current.account_id}:*"
          }
        }
      },
      {
        Sid    = "CostAnomalyDetectionPublishesThisAccountsAnomalies"
        Effect = "Allow"
        Principal = {
          Service = "costalerts.amazonaws.com"
        }
        Action   = "SNS:Publish"
        Resource = one(aws_sns_topic.cost_alerts[*].arn)
        Condition = {
          StringEquals = {
            "aws:SourceAccount" = data.aws_caller_identity.current.account_id
          }
        }
      },
    ]
  }
}

resource "aws_kms_key" "cost_alerts" {
  count                   = local.cost_controls_enabled && var.cost_alert_topic_arn == "" ? 1 : 0
  description             = "llm-scores ${var.account_environment}: encrypts the cost-alert topic (Budgets and Cost Anomaly Detection publish to it)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = jsonencode(local.cost_alerts_key_policy)
}

resource "aws_kms_alias" "cost_alerts" {
  count         = local.cost_controls_enabled && var.cost_alert_topic_arn == "" ? 1 : 0
  name          = "alias/llm-scores-${var.account_environment}-cost-alerts"
  target_key_id = one(aws_kms_key.cost_alerts[*].key_id)
}

resource "aws_sns_topic" "cost_alerts" {
  count             = local.cost_controls_enabled && var.cost_alert_topic_arn == "" ? 1 : 0
  name              = "llm-scores-${var.account_environment}-cost-alerts"
  kms_master_key_id = one(aws_kms_key.cost_alerts[*].arn)
}

resource "aws_sns_topic_policy" "cost_alerts" {
  # Replaces the default topic policy: principals of this account still reach the topic through their IAM
  # policies; the two services may only publish for this account.
  count  = local.cost_controls_enabled && var.cost_alert_topic_arn == "" ? 1 : 0
  arn    = one(aws_sns_topic.cost_alerts[*].arn)
  policy = jsonencode(local.cost_alerts_topic_policy)
}

resource "aws_sns_topic_subscription" "cost_alert_email" {
  count     = local.cost_controls_enabled && var.cost_alert_topic_arn == "" && var.cost_alert_email != "" ? 1 : 0
  topic_arn = one(aws_sns_topic.cost_alerts[*].arn)
  protocol  = "email"
  endpoint  = var.cost_alert_email
}

resource "aws_budgets_budget" "monthly" {
  # The whole account's spend, not only this service's: in an account shared with other workloads, add a
  # cost_filter (a tag needs activating as a cost allocation tag first).
  count        = local.budget_enabled ? 1 : 0
  name         = "llm-scores-${var.account_environment}-monthly"
  budget_type  = "COST"
  limit_amount = var.budget_monthly_limit_usd
  limit_unit   = "USD"
  time_unit    = "MONTHLY"
  notification {
    notification_type         = "ACTUAL"
    comparison_operator       = "GREATER_THAN"
    threshold                 = 80
    threshold_type            = "PERCENTAGE"
    subscriber_sns_topic_arns = [local.cost_alert_topic_arn]
  }
  notification {
    notification_type         = "FORECASTED"
    comparison_operator       = "GREATER_THAN"
    threshold                 = 100
    threshold_type            = "PERCENTAGE"
    subscriber_sns_topic_arns = [local.cost_alert_topic_arn]
  }
  depends_on = [aws_sns_topic_policy.cost_alerts]
}

resource "aws_ce_anomaly_monitor" "services" {
  # An account has at most one AWS-services monitor, and newer accounts get one by default: pass its ARN as
  # cost_anomaly_monitor_arn instead of creating a second.
  count             = local.cost_anomaly_detection_enabled && var.cost_anomaly_monitor_arn == "" ? 1 : 0
  name              = "llm-scores-${var.account_environment}-services"
  monitor_type      = "DIMENSIONAL"
  monitor_dimension = "SERVICE"
}

resource "aws_ce_anomaly_subscription" "cost_alerts" {
  # SNS subscribers take IMMEDIATE alerts only (DAILY and WEEKLY are email summaries).
  count            = local.cost_anomaly_detection_enabled ? 1 : 0
  name             = "llm-scores-${var.account_environment}-cost-anomalies"
  frequency        = "IMMEDIATE"
  monitor_arn_list = [local.cost_anomaly_monitor_arn]
  subscriber {
    type    = "SNS"
    address = local.cost_alert_topic_arn
  }
  threshold_expression {
    dimension {
      key           = "ANOMALY_TOTAL_IMPACT_ABSOLUTE"
      match_options = ["GREATER_THAN_OR_EQUAL"]
      values        = [var.cost_anomaly_alert_threshold_usd]
    }
  }
  depends_on = [aws_sns_topic_policy.cost_alerts]
}
