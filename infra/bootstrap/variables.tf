variable "aws_region" {
  type        = string
  default     = null
  description = "Region whose API Gateway account settings this directory owns; null uses AWS_REGION / the profile's region. Apply once per region."
}

variable "account_environment" {
  type        = string
  description = "What this account runs: prod for the account with the prod stage (alone or with others), otherwise dev or another name. The account-wide cost controls (Budgets, Cost Anomaly Detection) default to on in prod and off elsewhere. No default: every account's bootstrap says which it is."
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,20}$", var.account_environment))
    error_message = "account_environment must be a short lower-case name such as prod or dev (it is part of resource names)."
  }
}

variable "budget_enabled" {
  type        = bool
  default     = null
  description = "The monthly AWS Budgets budget; null follows account_environment (on in prod). Set false in every other region's bootstrap of the same account: a budget is per account."
}

variable "budget_monthly_limit_usd" {
  type        = number
  default     = 1050
  description = "The account's monthly budget in USD: alerts at 80 % of actual spend and at 100 % of forecast spend. The default is make cost's month for prod at 100 M requests ($698) with 1.5x headroom (`make cost` prints it; tests/unit/test_cost_model.py keeps them equal)."
  validation {
    condition     = var.budget_monthly_limit_usd > 0
    error_message = "budget_monthly_limit_usd must be positive."
  }
}

variable "cost_anomaly_detection_enabled" {
  type        = bool
  default     = null
  description = "A Cost Anomaly Detection monitor (AWS services) and an alert subscription; null follows account_environment (on in prod). Per account, like the budget."
}

variable "cost_anomaly_monitor_arn" {
  type        = string
  default     = ""
  description = "An existing anomaly monitor to subscribe to instead of creating one. An account has at most one AWS-services monitor, and new accounts get a default one: `aws ce get-anomaly-monitors` shows it."
}

variable "cost_anomaly_alert_threshold_usd" {
  type        = number
  default     = 70
  description = "Total impact (USD) an anomaly must reach before it is sent to the cost-alert topic. The default is a tenth of make cost's month for prod (`make cost` prints it)."
  validation {
    condition     = var.cost_anomaly_alert_threshold_usd >= 0
    error_message = "cost_anomaly_alert_threshold_usd must not be negative."
  }
}

variable "cost_alert_topic_arn" {
  type        = string
  default     = ""
  description = "An existing SNS topic for budget and anomaly alerts instead of the one created here. Its policy must let budgets.amazonaws.com and costalerts.amazonaws.com publish, and its KMS key (if any) let them encrypt."
}

variable "cost_alert_email" {
  type        = string
  default     = ""
  description = "Email address subscribed to the cost-alert topic created here; empty subscribes nobody."
}
