output "api_gateway_cloudwatch_role_arn" {
  description = "The role API Gateway writes every stage's logs with in this account and region."
  value       = aws_api_gateway_account.this.cloudwatch_role_arn
}

output "cost_alert_topic_arn" {
  description = "Where budget and cost-anomaly alerts go; null when the cost controls are off."
  value       = local.cost_controls_enabled ? local.cost_alert_topic_arn : null
}

output "budget_name" {
  description = "The account's monthly budget; null when budget_enabled is off."
  value       = one(aws_budgets_budget.monthly[*].name)
}

output "cost_anomaly_monitor_arn" {
  description = "The monitor the anomaly subscription watches; null when cost anomaly detection is off."
  value       = local.cost_anomaly_detection_enabled ? local.cost_anomaly_monitor_arn : null
}
