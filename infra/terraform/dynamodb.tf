resource "aws_dynamodb_table" "scores" {
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "model_name"
  attribute {
    name = "model_name"
    type = "S"
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled     = true
    kms_key_arn = var.dynamodb_kms_key_arn != "" ? var.dynamodb_kms_key_arn : null
  }
  deletion_protection_enabled = var.dynamodb_deletion_protection
}
