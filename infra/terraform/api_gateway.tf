# The REST API stage Chalice does not generate: access logs, X-Ray, throttling, optional cache and WAF.
# Everything here exists only when var.api_type is "REST", like Chalice's REST API (the export gives it the
# same count). The account-wide API Gateway CloudWatch Logs role is in infra/bootstrap/, once per account.

locals {
  api_access_log_format = {
    requestId               = "$context.requestId"
    extendedRequestId       = "$context.extendedRequestId"
    requestTime             = "$context.requestTimeEpoch"
    httpMethod              = "$context.httpMethod"
    resourcePath            = "$context.resourcePath"
    path                    = "$context.path"
    status                  = "$context.status"
    responseLength          = "$context.responseLength"
    responseLatency         = "$context.responseLatency"
    integrationLatency      = "$context.integration.latency"
    integrationStatus       = "$context.integration.status"
    integrationError        = "$context.integration.error"
    integrationErrorMessage = "$context.integrationErrorMessage"
    errorType               = "$context.error.responseType"
    errorMessage            = "$context.error.message"
    sourceIp                = "$context.identity.sourceIp"
    userAgent               = "$context.identity.userAgent"
    xrayTraceId             = "$context.xrayTraceId"
    wafStatus               = "$context.waf.status"
  }
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${local.name_prefix}/access"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.observability.arn
}

resource "aws_api_gateway_stage" "api" {
  count                 = var.api_type == "REST" ? 1 : 0
  stage_name            = local.api_gateway_stage_name
  rest_api_id           = aws_api_gateway_rest_api.rest_api[0].id
  deployment_id         = aws_api_gateway_deployment.rest_api[0].id
  description           = local.name_prefix
  xray_tracing_enabled  = local.xray_tracing_enabled
  cache_cluster_enabled = var.api_cache_enabled
  cache_cluster_size    = var.api_cache_enabled ? var.api_cache_size : null
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format          = jsonencode(local.api_access_log_format)
  }
}

resource "aws_api_gateway_method_settings" "all" {
  # Execution logging OFF: at ERROR or INFO, API Gateway creates its own execution log group, with no
  # retention and no KMS, that outlives terraform destroy (managing it would make a dependency cycle through
  # the observability key). The access log carries what ERROR execution logs would say for this Lambda-proxy
  # API: status, integration status and error, error type and message.
  count       = var.api_type == "REST" ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.rest_api[0].id
  stage_name  = aws_api_gateway_stage.api[0].stage_name
  method_path = "*/*"
  settings {
    metrics_enabled                            = true
    logging_level                              = "OFF"
    data_trace_enabled                         = false
    throttling_rate_limit                      = var.api_throttling_rate_limit
    throttling_burst_limit                     = var.api_throttling_burst_limit
    caching_enabled                            = var.api_cache_enabled
    cache_data_encrypted                       = true
    cache_ttl_in_seconds                       = var.api_cache_ttl_seconds
    require_authorization_for_cache_control    = true
    unauthorized_cache_control_header_strategy = "SUCCEED_WITH_RESPONSE_HEADER"
  }
}

# /health is never cached. HEAD has its own settings: API Gateway applies `*/*` to a method without an
# override, so an enabled stage cache would otherwise cache HEAD /health while GET /health stays uncached.
resource "aws_api_gateway_method_settings" "health" {
  count       = var.api_type == "REST" ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.rest_api[0].id
  stage_name  = aws_api_gateway_stage.api[0].stage_name
  method_path = "health/GET"
  settings {
    metrics_enabled        = true
    logging_level          = "OFF"
    data_trace_enabled     = false
    throttling_rate_limit  = var.api_throttling_rate_limit
    throttling_burst_limit = var.api_throttling_burst_limit
    caching_enabled        = false
    cache_data_encrypted   = true
  }
}

resource "aws_api_gateway_method_settings" "health_head" {
  count       = var.api_type == "REST" ? 1 : 0
  rest_api_id = aws_api_gateway_rest_api.rest_api[0].id
  stage_name  = aws_api_gateway_stage.api[0].stage_name
  method_path = "health/HEAD"
  settings {
    metrics_enabled        = true
    logging_level          = "OFF"
    data_trace_enabled     = false
    throttling_rate_limit  = var.api_throttling_rate_limit
    throttling_burst_limit = var.api_throttling_burst_limit
    caching_enabled        = false
    cache_data_encrypted   = true
  }
}

resource "aws_wafv2_web_acl_association" "api" {
  # A caller's own web ACL (var.web_acl_arn); waf.tf's association serves the export's ACL.
  count        = var.web_acl_arn != "" && var.api_type == "REST" ? 1 : 0
  resource_arn = aws_api_gateway_stage.api[0].arn
  web_acl_arn  = var.web_acl_arn
}
