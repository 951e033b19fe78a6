# Optional CloudFront in front of the active API (var.cloudfront_enabled). The cache policy honours the API's
# Cache-Control (min and default TTL 0: no-store answers and answers without Cache-Control are never cached; max
# TTL bounds the rest), keys on the contract's query parameters only (local.api_query_parameters in
# stage.tf.json, generated from chalicelib/contract.py), on no header unless CORS answers depend on the caller's Origin (cors_allowed_origins
# lists origins, not "*": then Origin), and compresses. WAF at the edge is local.cloudfront_web_acl_arn (a
# CLOUDFRONT-scoped web ACL, null when off): the only WAF an HTTP API can have.

locals {
  cloudfront_cache_key_has_origin = length(var.cors_allowed_origins) > 0 && !contains(var.cors_allowed_origins, "*")
  cloudfront_origin_domain        = split("/", local.api_endpoint_url)[2]
  cloudfront_origin_path          = var.api_type == "HTTP" ? "" : format("/%s", local.api_gateway_stage_name)
  cloudfront_cache_policy_id      = local.cloudfront_cache_key_has_origin ? one(aws_cloudfront_cache_policy.api_cors[*].id) : one(aws_cloudfront_cache_policy.api[*].id)
  cloudfront_logs_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "AccountAdministersKey"
        Effect = "Allow"
        Principal = {
          AWS = "arn:${data.aws_partition.chalice.partition}:iam::${data.aws_caller_identity.chalice.account_id}:root"
        }
        Action   = "kms:*"
        Resource = "*"
      },
      {
        Sid    = "CloudFrontDeliversEncryptedAccessLogs"
        Effect = "Allow"
        Principal = {
          Service = "delivery.logs.amazonaws.com"
        }
        Action   = ["kms:GenerateDataKey*", "kms:Decrypt"]
        Resource = "*"
        Condition = {
          StringEquals = {
            "aws:SourceAccount" = data.aws_caller_identity.chalice.account_id
          }
        }
      },
    ]
  }
}

resource "aws_cloudfront_cache_policy" "api" {
  count       = var.cloudfront_enabled && !local.cloudfront_cache_key_has_origin ? 1 : 0
  name        = "${local.name_prefix}-api"
  comment     = "${local.name_prefix}: honours the API's Cache-Control; keyed on the contract's query parameters"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = var.cloudfront_max_ttl_seconds
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "whitelist"
      query_strings {
        items = local.api_query_parameters
      }
    }
  }
}

resource "aws_cloudfront_cache_policy" "api_cors" {
  count       = var.cloudfront_enabled && local.cloudfront_cache_key_has_origin ? 1 : 0
  name        = "${local.name_prefix}-api-cors"
  comment     = "${local.name_prefix}: honours the API's Cache-Control; keyed on the contract's query parameters and Origin (CORS)"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = var.cloudfront_max_ttl_seconds
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "whitelist"
      headers {
        items = ["Origin"]
      }
    }
    query_strings_config {
      query_string_behavior = "whitelist"
      query_strings {
        items = local.api_query_parameters
      }
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "api" {
  count   = var.cloudfront_enabled ? 1 : 0
  name    = "${local.name_prefix}-api-security-headers"
  comment = "${local.name_prefix}: security headers at the edge; HSTS enforced, the rest as the API sends them"
  security_headers_config {
    strict_transport_security {
      access_control_max_age_sec = 63072000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    content_type_options {
      override = false
    }
    frame_options {
      frame_option = "DENY"
      override     = false
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = false
    }
  }
}

resource "aws_cloudfront_distribution" "api" {
  # No origin request policy: the origin receives only what is in the cache key (the contract's query
  # parameters, the normalised Accept-Encoding, Origin under CORS), so an unknown parameter can neither split
  # the cache nor reach the API. The API's own Host must not be forwarded, and is not.
  count           = var.cloudfront_enabled ? 1 : 0
  enabled         = true
  comment         = "${local.name_prefix}: CDN in front of the ${var.api_type} API"
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = var.cloudfront_price_class
  web_acl_id      = local.cloudfront_web_acl_arn
  origin {
    origin_id   = "api"
    domain_name = local.cloudfront_origin_domain
    origin_path = local.cloudfront_origin_path
    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }
  }
  default_cache_behavior {
    target_origin_id           = "api"
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = local.cloudfront_cache_policy_id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.api[0].id
  }
  logging_config {
    bucket          = aws_s3_bucket.cloudfront_logs[0].bucket_domain_name
    include_cookies = false
    prefix          = "${local.name_prefix}/"
  }
  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }
  viewer_certificate {
    cloudfront_default_certificate = true
  }
  depends_on = [aws_s3_bucket_ownership_controls.cloudfront_logs]
  lifecycle {
    precondition {
      condition     = length(var.api_clients) == 0
      error_message = "api_clients: API keys are checked by the REST stage on X-Api-Key, which this distribution neither forwards nor keys its cache on, so keyed requests would be refused or answered from another caller's cache entry. Leave cloudfront_enabled off while API keys are in use."
    }
  }
}

resource "aws_kms_key" "cloudfront_logs" {
  count                   = var.cloudfront_enabled ? 1 : 0
  description             = "${local.name_prefix}: encrypts the CloudFront access log bucket"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = jsonencode(local.cloudfront_logs_key_policy)
}

resource "aws_s3_bucket" "cloudfront_logs" {
  count         = var.cloudfront_enabled ? 1 : 0
  bucket        = "${local.name_prefix}-cloudfront-logs-${data.aws_caller_identity.chalice.account_id}"
  force_destroy = false
}

resource "aws_s3_bucket_ownership_controls" "cloudfront_logs" {
  # CloudFront's standard logs are written through a bucket ACL grant to the awslogsdelivery account, so ACLs
  # stay enabled on this bucket only.
  count  = var.cloudfront_enabled ? 1 : 0
  bucket = aws_s3_bucket.cloudfront_logs[0].id
  rule {
    object_ownership = "BucketOwnerPreferred"
  }
}

resource "aws_s3_bucket_public_access_block" "cloudfront_logs" {
  count                   = var.cloudfront_enabled ? 1 : 0
  bucket                  = aws_s3_bucket.cloudfront_logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "cloudfront_logs" {
  count  = var.cloudfront_enabled ? 1 : 0
  bucket = aws_s3_bucket.cloudfront_logs[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.cloudfront_logs[0].arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "cloudfront_logs" {
  count  = var.cloudfront_enabled ? 1 : 0
  bucket = aws_s3_bucket.cloudfront_logs[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "cloudfront_logs" {
  count  = var.cloudfront_enabled ? 1 : 0
  bucket = aws_s3_bucket.cloudfront_logs[0].id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {
    }
    expiration {
      days = var.log_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.cloudfront_logs]
}

resource "aws_s3_bucket_policy" "cloudfront_logs" {
  count      = var.cloudfront_enabled ? 1 : 0
  bucket     = aws_s3_bucket.cloudfront_logs[0].id
  policy     = jsonencode({ Version = "2012-10-17", Statement = [{ Sid = "DenyInsecureTransport", Effect = "Deny", Principal = "*", Action = "s3:*", Resource = [aws_s3_bucket.cloudfront_logs[0].arn, "${aws_s3_bucket.cloudfront_logs[0].arn}/*"], Condition = { Bool = { "aws:SecureTransport" = "false" } } }] })
  depends_on = [aws_s3_bucket_public_access_block.cloudfront_logs]
}

output "cloudfront_url" {
  description = "The CDN's URL when cloudfront_enabled (clients use it, or a custom domain pointing at it); null otherwise. EndpointURL stays the API's own URL, which the deploy smoke test checks uncached."
  value       = var.cloudfront_enabled ? format("https://%s", one(aws_cloudfront_distribution.api[*].domain_name)) : null
}

output "cloudfront_distribution_id" {
  description = "For cache invalidations (aws cloudfront create-invalidation); null when cloudfront_enabled is false."
  value       = one(aws_cloudfront_distribution.api[*].id)
}
