variable "aws_region" {
  type        = string
  default     = null
  description = "Region to deploy into; null uses AWS_REGION / the profile's region."
}

variable "lambda_runtime" {
  type        = string
  default     = "python3.13"
  description = "Lambda runtime for every function. Only Amazon Linux 2023 lines (python3.12+) are accepted."
  validation {
    condition     = can(regex("^python3\\.(1[2-9]|[2-9][0-9])$", var.lambda_runtime))
    error_message = "lambda_runtime must be python3.12 or newer (an Amazon Linux 2023 runtime)."
  }
}

variable "log_retention_days" {
  type        = number
  default     = 30
  description = "Retention of the Lambda and API Gateway access log groups."
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "api_throttling_rate_limit" {
  type        = number
  default     = 50
  description = "Steady-state requests per second the API stage accepts before answering 429."
  validation {
    condition     = var.api_throttling_rate_limit > 0
    error_message = "api_throttling_rate_limit must be positive."
  }
}

variable "api_throttling_burst_limit" {
  type        = number
  default     = 100
  description = "Burst of requests the API stage accepts above the rate limit."
  validation {
    condition     = var.api_throttling_burst_limit > 0 && floor(var.api_throttling_burst_limit) == var.api_throttling_burst_limit
    error_message = "api_throttling_burst_limit must be a positive whole number."
  }
}

variable "enable_live_alias" {
  type        = bool
  default     = false
  description = "Publish a version on every code change and route API Gateway through the alias `live`. Needed for provisioned concurrency, SnapStart and alias rollback."
}

variable "provisioned_concurrency" {
  type        = number
  default     = 0
  description = "Provisioned concurrency on the `live` alias; 0 disables it. Billed per hour whether used or not."
  validation {
    condition     = var.provisioned_concurrency >= 0 && floor(var.provisioned_concurrency) == var.provisioned_concurrency
    error_message = "provisioned_concurrency must be a whole number >= 0."
  }
}

variable "source_commit" {
  type        = string
  default     = "unknown"
  description = "The commit this apply deploys (CI: github.sha), sent in every response's X-Api-Version beside the Lambda version. In the function's environment, not its code, so the zip stays the same for the same code; a new value publishes a new version."
  validation {
    condition     = can(regex("^[0-9A-Za-z._+-]{1,64}$", var.source_commit))
    error_message = "source_commit must be 1-64 characters of [0-9A-Za-z._+-], e.g. a git SHA."
  }
}

variable "codedeploy_deployment_config" {
  type        = string
  default     = "CodeDeployDefault.LambdaCanary10Percent5Minutes"
  description = "How CodeDeploy shifts the `live` alias to a new version (make deploy): a CodeDeployDefault.Lambda* configuration or the name of a custom Lambda deployment configuration."
  validation {
    condition     = !startswith(var.codedeploy_deployment_config, "CodeDeployDefault.") || startswith(var.codedeploy_deployment_config, "CodeDeployDefault.Lambda")
    error_message = "codedeploy_deployment_config must be a Lambda configuration (CodeDeployDefault.Lambda*): the EC2 and ECS defaults are refused for a Lambda deployment group."
  }
}

variable "dynamodb_deletion_protection" {
  type        = bool
  default     = true
  description = "Refuse DeleteTable on the scores table."
}

variable "dynamodb_kms_key_arn" {
  type        = string
  default     = ""
  description = "Customer-managed KMS key for the table; empty uses the AWS-managed key aws/dynamodb."
}

variable "role_permissions_boundary_arn" {
  type        = string
  default     = ""
  description = "The permissions boundary every IAM role of the stage carries: the account bootstrap's stage_role_boundary_arns output for this stage (infra/bootstrap/README.md). The pipeline's deploy roles may write the stage's roles only with it. Empty: no boundary."
  validation {
    condition     = var.role_permissions_boundary_arn == "" || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[A-Za-z0-9+=,.@_/-]+$", var.role_permissions_boundary_arn))
    error_message = "role_permissions_boundary_arn must be an IAM managed policy ARN (arn:aws:iam::<account>:policy/<name>), or empty."
  }
}

variable "api_cache_enabled" {
  type        = bool
  default     = false
  description = "Provision an API Gateway stage cache (billed per hour by size)."
}

variable "api_cache_size" {
  type        = string
  default     = "0.5"
  description = "Stage cache size in GB when api_cache_enabled."
}

variable "api_cache_ttl_seconds" {
  type        = number
  default     = 60
  description = "Stage cache TTL when api_cache_enabled."
}

variable "web_acl_arn" {
  type        = string
  default     = ""
  description = "ARN of a regional WAFv2 web ACL to associate with the API stage; empty associates none."
}

variable "alarm_email" {
  type        = string
  default     = ""
  description = "Email address subscribed to the TICKET topic (the old alarm topic) and the us-east-1 edge topic; empty subscribes nobody. Prefer ticket_email_addresses; pagers go in page_https_endpoints (paging.tf)."
}

variable "api_5xx_alarm_threshold" {
  type        = number
  default     = 5
  description = "5XX answers per 5 minutes that raise the API 5XX alarm."
}

variable "api_latency_p99_alarm_threshold_ms" {
  type        = number
  default     = 1000
  description = "p99 API Gateway latency (ms) over 5 minutes that raises the latency alarm."
}

variable "lambda_duration_p99_alarm_threshold_ms" {
  type        = number
  default     = 2000
  description = "p99 API function duration (ms) over 5 minutes that raises the duration alarm."
}

variable "api_type" {
  type        = string
  default     = "REST"
  description = "Front door in front of the `live` alias: REST (API Gateway REST API: WAF on the stage, usage plans, stage cache, X-Ray; $3.50 per million requests) or HTTP (HTTP API, payload format 1.0: $1.00 per million, none of those). docs/decisions/0005-rest-api-not-http-api.md."
  validation {
    condition     = contains(["REST", "HTTP"], var.api_type)
    error_message = "api_type must be \"REST\" or \"HTTP\"."
  }
}

variable "cloudfront_enabled" {
  type        = bool
  default     = false
  description = "Put a CloudFront distribution in front of the active API (cloudfront.tf): caches what the API's Cache-Control allows, compresses, and carries WAF at the edge (the only WAF an HTTP API can have). Its *.cloudfront.net URL is the cloudfront_url output."
}

variable "cloudfront_price_class" {
  type        = string
  default     = "PriceClass_100"
  description = "CloudFront edge locations to serve from (PriceClass_100: North America and Europe, the cheapest)."
  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.cloudfront_price_class)
    error_message = "cloudfront_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "cloudfront_max_ttl_seconds" {
  type        = number
  default     = 300
  description = "Longest CloudFront keeps an answer, whatever the API's Cache-Control max-age says (min and default TTL are 0: answers without Cache-Control, or with no-store, are never cached)."
  validation {
    condition     = var.cloudfront_max_ttl_seconds >= 0 && var.cloudfront_max_ttl_seconds <= 86400 && floor(var.cloudfront_max_ttl_seconds) == var.cloudfront_max_ttl_seconds
    error_message = "cloudfront_max_ttl_seconds must be a whole number of seconds from 0 to 86400."
  }
}

variable "slo_availability_target_percent" {
  type        = number
  default     = 99.9
  description = "Availability SLO: the share (%) of API requests over 30 days that must be answered without a 5xx. Its error budget (100 - target) drives the burn-rate alerts in slo.tf."
  validation {
    condition     = var.slo_availability_target_percent > 0 && var.slo_availability_target_percent < 100
    error_message = "slo_availability_target_percent must be a percentage above 0 and below 100."
  }
}

variable "slo_latency_target_percent" {
  type        = number
  default     = 99
  description = "Latency SLO: the share (%) of API requests over 30 days that API Gateway must answer within slo_latency_threshold_ms."
  validation {
    condition     = var.slo_latency_target_percent > 0 && var.slo_latency_target_percent < 100
    error_message = "slo_latency_target_percent must be a percentage above 0 and below 100."
  }
}

variable "slo_latency_threshold_ms" {
  type        = number
  default     = 300
  description = "Latency SLO threshold in ms at API Gateway (its Latency metric, measured with the percentile-rank statistic PR(:threshold))."
  validation {
    condition     = var.slo_latency_threshold_ms >= 1 && floor(var.slo_latency_threshold_ms) == var.slo_latency_threshold_ms
    error_message = "slo_latency_threshold_ms must be a whole number >= 1."
  }
}

variable "slo_burn_rate_min_requests" {
  type        = number
  default     = 100
  description = "Requests a burn-rate window must hold before its burn rate counts; with fewer, a single error would page (one 5xx in 10 requests is a 100x burn at 99.9 %). The count alarms still see those errors."
  validation {
    condition     = var.slo_burn_rate_min_requests >= 1 && floor(var.slo_burn_rate_min_requests) == var.slo_burn_rate_min_requests
    error_message = "slo_burn_rate_min_requests must be a whole number >= 1."
  }
}

variable "slo_ticket_topic_arn" {
  type        = string
  default     = ""
  description = "SNS topic for the SLO ticket alerts (slow burn: 3 days and 6 h); empty sends them to the alarm topic with the pages. Its policy must let cloudwatch.amazonaws.com publish."
}

variable "cache_hit_ratio_alarm_threshold_percent" {
  type        = number
  default     = 90
  description = "Cache-hit share (%) of snapshot lookups below which the cache-hit ratio alarm fires (15 minutes in a row)."
  validation {
    condition     = var.cache_hit_ratio_alarm_threshold_percent > 0 && var.cache_hit_ratio_alarm_threshold_percent <= 100
    error_message = "cache_hit_ratio_alarm_threshold_percent must be a percentage above 0 up to 100."
  }
}

variable "ratio_alarm_min_requests" {
  type        = number
  default     = 100
  description = "Requests (or alias invocations) a 5-minute period must hold before the cache-hit and spillover ratio alarms judge it; quieter periods count as healthy."
  validation {
    condition     = var.ratio_alarm_min_requests >= 1 && floor(var.ratio_alarm_min_requests) == var.ratio_alarm_min_requests
    error_message = "ratio_alarm_min_requests must be a whole number >= 1."
  }
}

variable "concurrency_alarm_threshold_percent" {
  type        = number
  default     = 80
  description = "Share (%) of the API function's reserved concurrency at which the concurrency alarm fires."
  validation {
    condition     = var.concurrency_alarm_threshold_percent > 0 && var.concurrency_alarm_threshold_percent <= 100
    error_message = "concurrency_alarm_threshold_percent must be a percentage above 0 up to 100."
  }
}

variable "provisioned_concurrency_spillover_alarm_threshold_percent" {
  type        = number
  default     = 10
  description = "Share (%) of the live alias's invocations that may run beyond provisioned concurrency before the spillover ratio alarm fires."
  validation {
    condition     = var.provisioned_concurrency_spillover_alarm_threshold_percent > 0 && var.provisioned_concurrency_spillover_alarm_threshold_percent < 100
    error_message = "provisioned_concurrency_spillover_alarm_threshold_percent must be a percentage above 0 and below 100."
  }
}

variable "provisioned_concurrency_schedule_enabled" {
  type        = bool
  default     = false
  description = "Business-hours provisioned concurrency on the `live` alias: Application Auto Scaling scheduled actions switch between the two levels below. Needs enable_live_alias and provisioned_concurrency = 0 (the schedule owns the setting); refused together with SnapStart."
}

variable "provisioned_concurrency_business_hours" {
  type        = number
  default     = 5
  description = "Provisioned concurrency from provisioned_concurrency_business_hours_start until _end (at most the reserved concurrency)."
  validation {
    condition     = var.provisioned_concurrency_business_hours >= 0 && floor(var.provisioned_concurrency_business_hours) == var.provisioned_concurrency_business_hours
    error_message = "provisioned_concurrency_business_hours must be a whole number >= 0."
  }
}

variable "provisioned_concurrency_off_hours" {
  type        = number
  default     = 0
  description = "Provisioned concurrency outside business hours; 0 removes it (the warm-up schedule still keeps a few containers warm)."
  validation {
    condition     = var.provisioned_concurrency_off_hours >= 0 && floor(var.provisioned_concurrency_off_hours) == var.provisioned_concurrency_off_hours
    error_message = "provisioned_concurrency_off_hours must be a whole number >= 0."
  }
}

variable "provisioned_concurrency_business_hours_start" {
  type        = string
  default     = "cron(30 7 ? * MON-FRI *)"
  description = "When business hours start (Application Auto Scaling schedule: cron(minutes hours day-of-month month day-of-week year)); a little early, so containers are initialised before the traffic."
  validation {
    condition     = can(regex("^(cron|at|rate)\\(.+\\)$", var.provisioned_concurrency_business_hours_start))
    error_message = "provisioned_concurrency_business_hours_start must be an Application Auto Scaling schedule: cron(...), rate(...) or at(...)."
  }
}

variable "provisioned_concurrency_business_hours_end" {
  type        = string
  default     = "cron(0 19 ? * MON-FRI *)"
  description = "When business hours end (Application Auto Scaling schedule)."
  validation {
    condition     = can(regex("^(cron|at|rate)\\(.+\\)$", var.provisioned_concurrency_business_hours_end))
    error_message = "provisioned_concurrency_business_hours_end must be an Application Auto Scaling schedule: cron(...), rate(...) or at(...)."
  }
}

variable "provisioned_concurrency_schedule_timezone" {
  type        = string
  default     = "UTC"
  description = "IANA time zone of the business-hours schedule (for example Europe/Berlin); Application Auto Scaling follows its daylight saving time."
}

variable "waf_enabled" {
  type        = bool
  default     = false
  description = "Put the export's web ACL in front of the API (infra/terraform/waf.tf): AWS managed Common, KnownBadInputs and Amazon IP reputation groups and a per-address rate rule, logged to aws-waf-logs-<prefix>. REGIONAL on the REST stage; CLOUDFRONT-scoped on the distribution when cloudfront_enabled. Block or count mode: waf_block_mode. Billed per web ACL, rule and million requests."
}

variable "waf_rate_limit_per_5_minutes" {
  type        = number
  default     = 1500
  description = "Requests one client address may send in any 5 minutes before the rate rule blocks it (429). A user at 1 request/s sends 300: the default leaves 5x for paging bursts and addresses shared behind NAT."
  validation {
    condition     = var.waf_rate_limit_per_5_minutes >= 100 && var.waf_rate_limit_per_5_minutes <= 2000000000 && floor(var.waf_rate_limit_per_5_minutes) == var.waf_rate_limit_per_5_minutes
    error_message = "waf_rate_limit_per_5_minutes must be a whole number from 100 to 2000000000."
  }
}

variable "waf_blocked_requests_alarm_percent" {
  type        = number
  default     = 5
  description = "Share of requests (percent, per 5 minutes, at least 50 blocked) the web ACL blocks before the blocked-requests alarm fires: an attack being refused, or legitimate clients being refused."
  validation {
    condition     = var.waf_blocked_requests_alarm_percent > 0 && var.waf_blocked_requests_alarm_percent <= 100
    error_message = "waf_blocked_requests_alarm_percent must be above 0 and at most 100."
  }
}

variable "api_clients" {
  type        = map(object({ quota_per_day = optional(number, 100000), rate_limit = optional(number, 10), burst_limit = optional(number, 20) }))
  default     = {}
  description = "API clients by name, each given an API key and a usage plan on the REST stage: requests per day, and a steady rate (requests/s) and burst over the stage throttle's share. Needs api_keys_required, which makes every GET and HEAD require the x-api-key header. Key values stay in AWS and in Terraform state: aws apigateway get-api-key --include-value --api-key <id>."
  validation {
    condition     = alltrue([for name, client in var.api_clients : can(regex("^[a-z0-9][a-z0-9-]{0,39}$", name)) && client.quota_per_day >= 1 && floor(client.quota_per_day) == client.quota_per_day && client.rate_limit > 0 && client.burst_limit >= 1 && floor(client.burst_limit) == client.burst_limit])
    error_message = "api_clients: names are lower-case letters, digits and hyphens (at most 40); quota_per_day and burst_limit are whole numbers of at least 1; rate_limit is above 0."
  }
}

variable "cors_allowed_origins" {
  type        = list(string)
  default     = []
  description = "Origins whose browser pages may read the API (CORS), passed to the function as CORS_ALLOWED_ORIGINS; [] turns CORS off (OPTIONS answers 405), [\"*\"] allows every origin. Each is scheme://host[:port] in lower case, with no path."
  validation {
    condition     = alltrue([for origin in var.cors_allowed_origins : origin == "*" || can(regex("^https?://([a-z0-9-]+(\\.[a-z0-9-]+)*|\\[[0-9a-f:.]+\\])(:[0-9]{1,5})?$", origin))]) && (!contains(var.cors_allowed_origins, "*") || length(var.cors_allowed_origins) == 1)
    error_message = "cors_allowed_origins: each entry is scheme://host[:port] in lower case with no path or trailing slash, or the list is exactly [\"*\"]."
  }
}

variable "custom_domain_name" {
  type        = string
  default     = ""
  description = "A host name for the API (api.example.com) with a DNS-validated ACM certificate and Route 53 alias records in route53_zone_id; empty serves the API on its execute-api URL only."
  validation {
    condition     = var.custom_domain_name == "" || can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.custom_domain_name))
    error_message = "custom_domain_name must be a lower-case host name without a wildcard, or empty."
  }
}

variable "route53_zone_id" {
  type        = string
  default     = ""
  description = "The public Route 53 hosted zone that holds custom_domain_name: the certificate's validation record and the alias records go there. Required with custom_domain_name."
  validation {
    condition     = var.route53_zone_id == "" || can(regex("^Z[A-Z0-9]{1,31}$", var.route53_zone_id))
    error_message = "route53_zone_id must be a hosted zone id (Z...), or empty."
  }
}

variable "snap_start_enabled" {
  type        = bool
  default     = false
  description = "SnapStart on the API function's published versions (needs enable_live_alias and python3.12+; not with provisioned concurrency). Fixed at export, from stages/<stage>.json: the export writes the block into Chalice's function only when on (apply_on = \"None\" would plan a change on every run), and the plan refuses another value."
}

variable "waf_block_mode" {
  type        = bool
  default     = true
  description = "With waf_enabled: true blocks what the web ACL's rules match; false only counts and logs it (a rule set's first days, a load test)."
}

variable "api_keys_required" {
  type        = bool
  default     = false
  description = "Every GET and HEAD of the REST API requires the x-api-key header (OPTIONS stays open for CORS preflights). Goes with api_clients: each client gets a key and a usage plan."
}

variable "page_email_addresses" {
  type        = list(string)
  default     = []
  description = "Email addresses subscribed to the PAGE topic (SLO burn-rate pages, API down). Each must confirm the subscription."
}

variable "page_https_endpoints" {
  type        = list(string)
  default     = []
  description = "HTTPS endpoints subscribed to the PAGE topic: a pager's events URL (PagerDuty's or Opsgenie's CloudWatch integration), which confirms the subscription itself."
  validation {
    condition     = alltrue([for url in var.page_https_endpoints : startswith(url, "https://")])
    error_message = "page_https_endpoints must be https:// URLs."
  }
}

variable "ticket_email_addresses" {
  type        = list(string)
  default     = []
  description = "Email addresses subscribed to the TICKET topic (every alarm that does not page)."
}

variable "ticket_https_endpoints" {
  type        = list(string)
  default     = []
  description = "HTTPS endpoints subscribed to the TICKET topic: a ticket system's events URL."
  validation {
    condition     = alltrue([for url in var.ticket_https_endpoints : startswith(url, "https://")])
    error_message = "ticket_https_endpoints must be https:// URLs."
  }
}

variable "api_down_alarm_percent" {
  type        = number
  default     = 50
  description = "Share (%) of requests failing (5xx or 429) in each of 3 consecutive minutes that pages as API down. 50 %: a fault most users feel, far above any burn the SLO alerts tolerate."
  validation {
    condition     = var.api_down_alarm_percent > 0 && var.api_down_alarm_percent <= 100
    error_message = "api_down_alarm_percent must be in (0, 100]."
  }
}

variable "api_down_min_requests" {
  type        = number
  default     = 20
  description = "Requests a minute must hold before the API-down share counts: below it, 1 failure in 2 requests is noise, not an outage."
  validation {
    condition     = var.api_down_min_requests >= 1 && floor(var.api_down_min_requests) == var.api_down_min_requests
    error_message = "api_down_min_requests must be a whole number >= 1."
  }
}
