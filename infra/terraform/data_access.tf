# Who may write the scores table's items (issue 20; docs/operations.md, "Data changes"). The API function's own
# role can only read (.chalice/policy-api-<stage>.json: GetItem and Scan). This resource policy closes the table
# to every other writer too, whatever their IAM allows (an administrator, the deploy role): item writes are
# denied unless they come from the pipeline's data role, the documented break-glass role, or DynamoDB's own
# replication (a global table replica, docs/disaster-recovery.md). Off until the data role's ARN is set.

variable "data_writer_role_arn" {
  description = "The pipeline's data role (the deploy workflow's AWS_DATA_ROLE_ARN in the stage's writing environment). Set, only it and break_glass_role_arn may write the table's items; empty leaves the table without a resource policy."
  type        = string
  default     = ""
  validation {
    condition     = var.data_writer_role_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.data_writer_role_arn))
    error_message = "data_writer_role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), or empty."
  }
}

variable "break_glass_role_arn" {
  description = "The break-glass role that may also write the table's items when the pipeline cannot (docs/operations.md). Empty: none."
  type        = string
  default     = ""
  validation {
    condition     = var.break_glass_role_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.break_glass_role_arn))
    error_message = "break_glass_role_arn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>), or empty."
  }
}

locals {
  # Every action that writes or deletes an item, through the item API, batches, transactions or PartiQL.
  table_item_write_actions = [
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
  ]
  table_writers = [
    for arn in [
      var.data_writer_role_arn,
      var.break_glass_role_arn,
      # Global tables replicate with this service-linked role; denying it would stop a replica in another region.
      "arn:${data.aws_partition.data_access.partition}:iam::*:role/aws-service-role/replication.dynamodb.amazonaws.com/AWSServiceRoleForDynamoDBReplication",
    ] : arn if arn != ""
  ]
}

data "aws_partition" "data_access" {}

resource "aws_dynamodb_resource_policy" "scores_writers" {
  count        = var.data_writer_role_arn != "" ? 1 : 0
  resource_arn = aws_dynamodb_table.scores.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "OnlyTheDataRolesWriteItems"
        Effect    = "Deny"
        Principal = "*"
        Action    = local.table_item_write_actions
        Resource  = aws_dynamodb_table.scores.arn
        Condition = {
          ArnNotLike = { "aws:PrincipalArn" = local.table_writers }
        }
      },
    ]
  })
}
