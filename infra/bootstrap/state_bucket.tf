# The S3 bucket that holds every stage's Terraform state (docs/delivery.md, "State locking"): keys
# llm-scores/<stage>.tfstate, each locked by S3's native lock object <key>.tflock (use_lockfile, Terraform >= 1.10;
# no DynamoDB lock table). One bucket serves both stages, so it is created in one account only: by default the
# prod account's bootstrap. Roles of another account (a dev account's pipeline roles) reach it through the bucket
# policy, which names them in state_bucket_stage_principal_arns, and their own policy, which names the bucket.
#
# Encryption is SSE-S3, not KMS: the workflows' backend sets `encrypt = true` with no kms_key_id, and Terraform's S3
# backend then asks for AES256 on every object it writes, which overrides a KMS default. A KMS key would protect
# nothing here, and cross-account roles would also need grants in its key policy.
#
# Each stage's role may list its own key, read and write its own state object (the production-plan role only
# reads it) and take and release its own lock object: the statements are below, and pipeline_roles.tf attaches them.

variable "state_bucket_enabled" {
  type        = bool
  default     = null
  description = "Create the Terraform state bucket here; null follows account_environment (on in prod). Turn it off in every other region's bootstrap of the same account: one bucket serves every stage."
}

variable "state_bucket_name" {
  type        = string
  default     = ""
  description = "The state bucket's name (the workflow's TF_STATE_BUCKET). Empty names the bucket created here llm-scores-terraform-state-<account id>; where none is created, the pipeline roles need the name of the one the prod account's bootstrap created."
  validation {
    condition     = var.state_bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens), or empty."
  }
}

variable "state_bucket_stage_principal_arns" {
  type        = map(list(string))
  default     = {}
  description = "IAM roles of other accounts that plan and apply a stage, by stage ({ dev = [\"arn:aws:iam::<dev account>:role/llm-scores-github-dev-deploy\"] }): the bucket policy lets them list, read and write that stage's state and lock objects only. Roles of this account need no entry."
  validation {
    condition     = alltrue([for stage, arns in var.state_bucket_stage_principal_arns : contains(["dev", "prod"], stage) && alltrue([for arn in arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", arn))])])
    error_message = "state_bucket_stage_principal_arns maps dev or prod to IAM role ARNs."
  }
}

variable "state_noncurrent_version_expiration_days" {
  type        = number
  default     = 90
  description = "Days a replaced or deleted state version is kept (to roll a state back) before it expires."
  validation {
    condition     = var.state_noncurrent_version_expiration_days >= 1 && floor(var.state_noncurrent_version_expiration_days) == var.state_noncurrent_version_expiration_days
    error_message = "state_noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
}

locals {
  state_bucket_enabled = var.state_bucket_enabled != null ? var.state_bucket_enabled : var.account_environment == "prod"
  state_bucket_name    = var.state_bucket_name != "" ? var.state_bucket_name : (local.state_bucket_enabled ? "llm-scores-terraform-state-${data.aws_caller_identity.current.account_id}" : "")
  state_bucket_arn     = "arn:${data.aws_partition.current.partition}:s3:::${local.state_bucket_name}"
  # What a stage's roles may do in the bucket. ListBucket only with the state key as prefix: Terraform's listing of
  # other workspaces (prefix env:/) is refused, which it ignores for the default workspace.
  pipeline_state_statements = {
    for stage in ["dev", "prod"] : stage => {
      write = [
        {
          Sid       = "ListTheStagesStateOnly"
          Effect    = "Allow"
          Action    = ["s3:ListBucket"]
          Resource  = [local.state_bucket_arn]
          Condition = { StringEquals = { "s3:prefix" = "llm-scores/${stage}.tfstate" } }
        },
        {
          Sid      = "ReadAndWriteTheStagesState"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject"]
          Resource = ["${local.state_bucket_arn}/llm-scores/${stage}.tfstate"]
        },
        {
          Sid      = "TakeAndReleaseTheStagesLock"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          Resource = ["${local.state_bucket_arn}/llm-scores/${stage}.tfstate.tflock"]
        },
      ]
      # The production-plan role: the same, but the state object is read-only; a plan writes only the lock.
      plan = [
        {
          Sid       = "ListTheStagesStateOnly"
          Effect    = "Allow"
          Action    = ["s3:ListBucket"]
          Resource  = [local.state_bucket_arn]
          Condition = { StringEquals = { "s3:prefix" = "llm-scores/${stage}.tfstate" } }
        },
        {
          Sid      = "ReadTheStagesState"
          Effect   = "Allow"
          Action   = ["s3:GetObject"]
          Resource = ["${local.state_bucket_arn}/llm-scores/${stage}.tfstate"]
        },
        {
          Sid      = "TakeAndReleaseTheStagesLock"
          Effect   = "Allow"
          Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
          Resource = ["${local.state_bucket_arn}/llm-scores/${stage}.tfstate.tflock"]
        },
      ]
    }
  }
  state_bucket_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid       = "DenyInsecureTransport"
          Effect    = "Deny"
          Principal = "*"
          Action    = "s3:*"
          Resource  = [local.state_bucket_arn, "${local.state_bucket_arn}/*"]
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
        },
      ],
      flatten([
        for stage, arns in var.state_bucket_stage_principal_arns : [
          for statement in local.pipeline_state_statements[stage].write : merge(statement, { Sid = "${statement.Sid}${upper(stage)}FromOtherAccounts", Principal = { AWS = arns } })
        ] if length(arns) > 0
      ]),
    )
  }
}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_145:SSE-S3 on purpose: the workflows' S3 backend (encrypt = true, no kms_key_id) writes every state object with AES256, which overrides a KMS default (state_bucket.tf).
  count  = local.state_bucket_enabled ? 1 : 0
  bucket = local.state_bucket_name
  # Every stage's state, and its history: `terraform destroy` of the bootstrap must not take it along.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_ownership_controls" "state" {
  count  = local.state_bucket_enabled ? 1 : 0
  bucket = aws_s3_bucket.state[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  count                   = local.state_bucket_enabled ? 1 : 0
  bucket                  = aws_s3_bucket.state[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "state" {
  # A state overwritten by a bad apply, or deleted, is rolled back from its previous version.
  count  = local.state_bucket_enabled ? 1 : 0
  bucket = aws_s3_bucket.state[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  count  = local.state_bucket_enabled ? 1 : 0
  bucket = aws_s3_bucket.state[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  # Every apply writes a version, so old ones expire; the current state never does.
  count  = local.state_bucket_enabled ? 1 : 0
  bucket = aws_s3_bucket.state[0].id
  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"
    filter {
    }
    noncurrent_version_expiration {
      noncurrent_days = var.state_noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.state]
}

resource "aws_s3_bucket_policy" "state" {
  count      = local.state_bucket_enabled ? 1 : 0
  bucket     = aws_s3_bucket.state[0].id
  policy     = jsonencode(local.state_bucket_policy)
  depends_on = [aws_s3_bucket_public_access_block.state]
}

output "state_bucket_name" {
  description = "The Terraform state bucket the pipeline roles use (the workflow's TF_STATE_BUCKET); null when there is none."
  value       = local.state_bucket_name != "" ? local.state_bucket_name : null
}

output "state_bucket_region" {
  description = "The state bucket's region (the workflow's TF_STATE_REGION) when it is created here; null otherwise."
  value       = local.state_bucket_enabled ? data.aws_region.current.id : null
}
