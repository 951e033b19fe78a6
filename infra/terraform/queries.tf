# Saved CloudWatch Logs Insights queries over the API function's log group, filed in the console under the
# stage's folder (<prefix>/...). The fields are those of the request line (chalicelib/observability.py) and
# Lambda's REPORT line; docs/operations.md explains them.

resource "aws_cloudwatch_query_definition" "slow_requests" {
  # Requests the function took longer than the latency SLO's threshold to answer (duration_ms is the function's
  # share of the API latency): cold_start, cache and dynamodb_ms say why.
  name            = "${local.name_prefix}/slow requests"
  log_group_names = [aws_cloudwatch_log_group.api_handler.name]
  query_string    = "fields @timestamp, request_id, method, route, path, status, duration_ms, cache, cold_start, dynamodb_ms, dynamodb_error\n| filter message = \"request\" and duration_ms >= ${var.slo_latency_threshold_ms}\n| sort duration_ms desc\n| limit 100"
}

resource "aws_cloudwatch_query_definition" "errors_by_code" {
  # 4xx and 5xx answers by status, error_code and route, with the ERROR lines (stack traces) counted beside
  # them; a 502/504 from API Gateway has no line here (the function failed before writing one).
  name            = "${local.name_prefix}/errors by code"
  log_group_names = [aws_cloudwatch_log_group.api_handler.name]
  query_string    = "filter (message = \"request\" and status >= 400) or level = \"ERROR\"\n| stats count(*) as lines by status, error_code, route, level\n| sort lines desc"
}

resource "aws_cloudwatch_query_definition" "cache_misses_and_cold_starts" {
  # Misses, stale answers and cold starts over time next to Lambda's init time from REPORT lines (AWS/Lambda
  # publishes no InitDuration metric).
  name            = "${local.name_prefix}/cache misses and cold starts"
  log_group_names = [aws_cloudwatch_log_group.api_handler.name]
  query_string    = "filter message = \"request\" or (@type = \"REPORT\" and ispresent(@initDuration))\n| stats sum(message = \"request\") as requests, sum(cache = \"MISS\") as cache_misses, sum(cache = \"STALE\") as stale,\n        sum(cold_start) as cold_starts, count(@initDuration) as inits, avg(@initDuration) as avg_init_ms,\n        max(@initDuration) as max_init_ms, pct(dynamodb_ms, 99) as p99_dynamodb_ms\n  by bin(5m)"
}

resource "aws_cloudwatch_query_definition" "refreshes_per_container" {
  # Table reads per execution environment: each container writes its own log stream, and every line that read
  # the table (a request that refreshed, a catalogue preload, a warm-up ping) carries dynamodb_ms. Warm-up ping
  # lines also name the container (container_id).
  name            = "${local.name_prefix}/refreshes per container"
  log_group_names = [aws_cloudwatch_log_group.api_handler.name]
  query_string    = "filter ispresent(dynamodb_ms)\n| stats count(*) as refreshes, sum(ispresent(dynamodb_error)) as failed, avg(dynamodb_ms) as avg_ms,\n        max(dynamodb_ms) as max_ms, earliest(@timestamp) as first_refresh, latest(@timestamp) as last_refresh\n  by @logStream\n| sort refreshes desc\n| limit 100"
}

output "logs_insights_url" {
  description = "CloudWatch Logs Insights in the console; the saved queries are under Queries, in the folder named after the stage."
  value       = "https://${data.aws_region.chalice.id}.console.aws.amazon.com/cloudwatch/home?region=${data.aws_region.chalice.id}#logsV2:logs-insights"
}

output "saved_query_ids" {
  description = "Query definition ids of the saved Logs Insights queries, by name."
  value       = { for query in [aws_cloudwatch_query_definition.slow_requests, aws_cloudwatch_query_definition.errors_by_code, aws_cloudwatch_query_definition.cache_misses_and_cold_starts, aws_cloudwatch_query_definition.refreshes_per_container] : query.name => query.query_definition_id }
}
