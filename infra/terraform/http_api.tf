# The HTTP API front door (var.api_type = "HTTP"): payload format 1.0 to the same `live` alias, throttling and
# JSON access logs on the $default stage. One route per path and method Chalice serves (local.api_route_keys,
# which the export writes into stage.tf.json): Chalice routes on requestContext.resourcePath, so a $default or
# {proxy+} route would break routing. What it gives up against
# REST: docs/decisions/0005-rest-api-not-http-api.md.

locals {
  http_api_stage_name = "$default"
  api_endpoint_url    = var.api_type == "HTTP" ? trimsuffix(one(aws_apigatewayv2_stage.http[*].invoke_url), "/") : one(aws_api_gateway_stage.api[*].invoke_url)
  http_api_access_log_format = {
    requestId               = "$context.requestId"
    extendedRequestId       = "$context.extendedRequestId"
    requestTime             = "$context.requestTimeEpoch"
    httpMethod              = "$context.httpMethod"
    routeKey                = "$context.routeKey"
    path                    = "$context.path"
    protocol                = "$context.protocol"
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
    dataProcessed           = "$context.dataProcessed"
  }
}

resource "aws_apigatewayv2_api" "http" {
  count         = var.api_type == "HTTP" ? 1 : 0
  name          = local.name_prefix
  description   = "${local.name_prefix}: HTTP API (payload format 1.0) in front of the API function's live alias"
  protocol_type = "HTTP"
  lifecycle {
    precondition {
      condition     = !var.api_cache_enabled
      error_message = "api_cache_enabled: an HTTP API has no stage cache. Turn it off, or keep api_type = \"REST\" (docs/decisions/0005-rest-api-not-http-api.md)."
    }
    precondition {
      condition     = var.web_acl_arn == ""
      error_message = "web_acl_arn: a regional web ACL cannot be associated with an HTTP API. Put CloudFront in front (cloudfront_enabled) with a CLOUDFRONT-scoped web ACL, or keep api_type = \"REST\"."
    }
  }
}

resource "aws_apigatewayv2_integration" "live" {
  count                  = var.api_type == "HTTP" ? 1 : 0
  api_id                 = aws_apigatewayv2_api.http[0].id
  description            = "The API function, through the live alias when enabled (local.api_invoke_arn, as the REST integration)."
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = local.api_invoke_arn
  payload_format_version = "1.0"
}

resource "aws_apigatewayv2_stage" "http" {
  # The same access log group as the REST stage (one place to query whichever API is live).
  # detailed_metrics_enabled off: per-route metrics are billed as custom metrics, and the API-wide
  # Count/4xx/5xx/Latency the alarms watch are published without it.
  count       = var.api_type == "HTTP" ? 1 : 0
  api_id      = aws_apigatewayv2_api.http[0].id
  name        = local.http_api_stage_name
  description = local.name_prefix
  auto_deploy = true
  default_route_settings {
    throttling_rate_limit    = var.api_throttling_rate_limit
    throttling_burst_limit   = var.api_throttling_burst_limit
    detailed_metrics_enabled = false
  }
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format          = jsonencode(local.http_api_access_log_format)
  }
}

resource "aws_lambda_permission" "http_api_invoke" {
  count         = var.api_type == "HTTP" ? 1 : 0
  function_name = aws_lambda_function.api_handler.arn
  action        = "lambda:InvokeFunction"
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http[0].execution_arn}/*"
  qualifier     = var.enable_live_alias ? one(aws_lambda_alias.live[*].name) : null
}

resource "aws_apigatewayv2_route" "contract" {
  for_each           = var.api_type == "HTTP" ? toset(local.api_route_keys) : toset([])
  api_id             = aws_apigatewayv2_api.http[0].id
  route_key          = each.value
  target             = "integrations/${aws_apigatewayv2_integration.live[0].id}"
  authorization_type = "NONE"
  # With auto_deploy, a route is live as soon as it exists: API Gateway must already be allowed to invoke.
  depends_on = [aws_lambda_permission.http_api_invoke]
}
