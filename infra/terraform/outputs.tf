output "EndpointURL" {
  description = "The active front door's own URL (REST: .../api; HTTP: no stage path), which the deploy's smoke test checks uncached."
  value       = local.api_endpoint_url
}

output "RestAPIId" {
  description = "Chalice's REST API; null when api_type is HTTP."
  value       = one(aws_api_gateway_rest_api.rest_api[*].id)
}

output "api_function_name" {
  value = aws_lambda_function.api_handler.function_name
}

output "live_alias_arn" {
  description = "The alias API Gateway invokes; null when enable_live_alias is false."
  value       = one(aws_lambda_alias.live[*].arn)
}

output "live_alias_version" {
  description = "The published version the alias points at (what a rollback changes)."
  value       = one(aws_lambda_alias.live[*].function_version)
}

output "dynamodb_table_name" {
  value = aws_dynamodb_table.scores.name
}

output "alarm_topic_arn" {
  description = "TICKET severity (the topic keeps its old name, so confirmed subscriptions survive): subscribe the team's queue here. Pages go to page_topic_arn."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  value = aws_cloudwatch_dashboard.service.dashboard_name
}
