# What the active front door publishes to CloudWatch, so alarms and dashboard widgets name metrics through
# local.api_metrics.* instead of hard-coding REST's names. REST publishes 5XXError/4XXError with ApiName+Stage;
# an HTTP API publishes 5xx/4xx with ApiId+Stage (ARCHITECTURE.md). one(...[*].attr) yields null for the API
# type that is not deployed, so neither branch raises.

locals {
  api_metric_dimensions_by_type = {
    REST = {
      ApiName = one(aws_api_gateway_rest_api.rest_api[*].name)
      Stage   = one(aws_api_gateway_stage.api[*].stage_name)
    }
    HTTP = {
      ApiId = one(aws_apigatewayv2_api.http[*].id)
      Stage = one(aws_apigatewayv2_stage.http[*].name)
    }
  }
  api_metrics = {
    namespace           = "AWS/ApiGateway"
    requests            = "Count"
    errors_5xx          = var.api_type == "HTTP" ? "5xx" : "5XXError"
    errors_4xx          = var.api_type == "HTTP" ? "4xx" : "4XXError"
    latency             = "Latency"
    integration_latency = "IntegrationLatency"
    dimensions          = var.api_type == "HTTP" ? tomap(local.api_metric_dimensions_by_type.HTTP) : tomap(local.api_metric_dimensions_by_type.REST)
    id_dimension        = var.api_type == "HTTP" ? "ApiId" : "ApiName"
  }
}
