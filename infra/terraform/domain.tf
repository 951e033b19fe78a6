# Optional custom domain (var.custom_domain_name in var.route53_zone_id): a DNS-validated ACM certificate in the
# stage's region, a REGIONAL API Gateway domain name with TLS 1.2 mapped to the active front door (a base path
# mapping to the REST stage, or an API mapping to the HTTP API's stage), and Route 53 alias A and AAAA records.
# The API then answers at https://<domain>/llms. terraform_data.edge_options (waf.tf) refuses a domain
# without its zone, and a domain with CloudFront in front.

locals {
  custom_domain_target = var.api_type == "REST" ? { name = one(aws_api_gateway_domain_name.api[*].regional_domain_name), zone_id = one(aws_api_gateway_domain_name.api[*].regional_zone_id) } : { name = one(aws_apigatewayv2_domain_name.api[*].domain_name_configuration[0].target_domain_name), zone_id = one(aws_apigatewayv2_domain_name.api[*].domain_name_configuration[0].hosted_zone_id) }
}

resource "aws_acm_certificate" "api" {
  count             = var.custom_domain_name != "" ? 1 : 0
  domain_name       = var.custom_domain_name
  validation_method = "DNS"
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_route53_record" "certificate_validation" {
  for_each        = { for option in flatten(aws_acm_certificate.api[*].domain_validation_options) : option.domain_name => option }
  zone_id         = var.route53_zone_id
  name            = each.value.resource_record_name
  type            = each.value.resource_record_type
  records         = [each.value.resource_record_value]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_route53_record" "api_alias" {
  for_each = var.custom_domain_name != "" ? toset(["A", "AAAA"]) : toset([])
  zone_id  = var.route53_zone_id
  name     = var.custom_domain_name
  type     = each.key
  alias {
    name                   = local.custom_domain_target.name
    zone_id                = local.custom_domain_target.zone_id
    evaluate_target_health = false
  }
}

resource "aws_acm_certificate_validation" "api" {
  count                   = var.custom_domain_name != "" ? 1 : 0
  certificate_arn         = aws_acm_certificate.api[0].arn
  validation_record_fqdns = [for record in aws_route53_record.certificate_validation : record.fqdn]
}

resource "aws_api_gateway_domain_name" "api" {
  count                    = var.custom_domain_name != "" && var.api_type == "REST" ? 1 : 0
  domain_name              = var.custom_domain_name
  regional_certificate_arn = aws_acm_certificate_validation.api[0].certificate_arn
  security_policy          = "TLS_1_2"
  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

resource "aws_api_gateway_base_path_mapping" "api" {
  count       = var.custom_domain_name != "" && var.api_type == "REST" ? 1 : 0
  api_id      = aws_api_gateway_rest_api.rest_api[0].id
  stage_name  = aws_api_gateway_stage.api[0].stage_name
  domain_name = aws_api_gateway_domain_name.api[0].domain_name
}

resource "aws_apigatewayv2_domain_name" "api" {
  count       = var.custom_domain_name != "" && var.api_type == "HTTP" ? 1 : 0
  domain_name = var.custom_domain_name
  domain_name_configuration {
    certificate_arn = aws_acm_certificate_validation.api[0].certificate_arn
    endpoint_type   = "REGIONAL"
    security_policy = "TLS_1_2"
  }
}

resource "aws_apigatewayv2_api_mapping" "api" {
  count       = var.custom_domain_name != "" && var.api_type == "HTTP" ? 1 : 0
  api_id      = aws_apigatewayv2_api.http[0].id
  domain_name = aws_apigatewayv2_domain_name.api[0].id
  stage       = aws_apigatewayv2_stage.http[0].name
}

output "custom_domain_url" {
  description = "https://<custom_domain_name>, once its certificate validates; null without a custom domain."
  value       = var.custom_domain_name != "" ? "https://${var.custom_domain_name}" : null
}
