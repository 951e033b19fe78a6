# API keys with a usage plan per client (var.api_clients): a daily quota and a steady rate and burst on the
# REST stage. With var.api_keys_required the REST API serves Chalice's body with an api_key required on every
# operation but OPTIONS (local.api_body below), which a browser sends without a key as a CORS preflight. An HTTP
# API has no usage plans: terraform_data.edge_options (waf.tf) refuses the combinations that cannot work.

locals {
  chalice_api = jsondecode(local.chalice_api_swagger)
  chalice_api_with_api_keys = merge(local.chalice_api, {
    "x-amazon-apigateway-api-key-source" = "HEADER"
    securityDefinitions                  = { api_key = { type = "apiKey", name = "x-api-key", in = "header" } }
    paths = {
      for path, operations in local.chalice_api.paths : path => merge(operations, {
        for method, operation in operations : method => merge(operation, { security = [{ api_key = [] }] })
        if method != "options"
      })
    }
  })
  api_body    = var.api_keys_required ? jsonencode(local.chalice_api_with_api_keys) : local.chalice_api_swagger
  api_clients = var.api_keys_required && var.api_type == "REST" ? var.api_clients : {}
  usage_plan_stage = {
    api_id = one(aws_api_gateway_rest_api.rest_api[*].id)
    stage  = one(aws_api_gateway_stage.api[*].stage_name)
  }
}

resource "aws_api_gateway_api_key" "client" {
  for_each    = local.api_clients
  name        = "${local.name_prefix}-${each.key}"
  description = "${local.name_prefix}: API key of client ${each.key}"
  enabled     = true
}

resource "aws_api_gateway_usage_plan" "client" {
  for_each    = local.api_clients
  name        = "${local.name_prefix}-${each.key}"
  description = "${local.name_prefix}: quota and throttle of client ${each.key}"
  api_stages {
    api_id = local.usage_plan_stage.api_id
    stage  = local.usage_plan_stage.stage
  }
  quota_settings {
    limit  = each.value.quota_per_day
    period = "DAY"
  }
  throttle_settings {
    rate_limit  = each.value.rate_limit
    burst_limit = each.value.burst_limit
  }
}

resource "aws_api_gateway_usage_plan_key" "client" {
  for_each      = local.api_clients
  key_id        = aws_api_gateway_api_key.client[each.key].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.client[each.key].id
}

output "api_key_ids" {
  description = "API key id by client; the key itself: aws apigateway get-api-key --include-value --api-key <id>."
  value       = { for name, key in aws_api_gateway_api_key.client : name => key.id }
}
