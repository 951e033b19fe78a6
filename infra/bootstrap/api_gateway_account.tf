# API Gateway's CloudWatch Logs role is one setting per account and region, shared by every API and stage there.
# It lives here, not in a stage, so that destroying a stage cannot stop the other stages' access logs. Apply
# once per account and region, before the first stage.

data "aws_partition" "current" {
}

data "aws_region" "current" {
}

locals {
  api_gateway_cloudwatch_assume_role_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Effect = "Allow"
        Principal = {
          Service = "apigateway.amazonaws.com"
        }
        Action = "sts:AssumeRole"
      },
    ]
  }
}

resource "aws_iam_role" "api_gateway_cloudwatch" {
  # IAM names are global but the setting is regional, so the region is in the name: one bootstrap per region can
  # coexist.
  name               = "apigateway-cloudwatch-logs-${data.aws_region.current.id}"
  description        = "Lets API Gateway write access and execution logs in ${data.aws_region.current.id} (account-level setting)."
  assume_role_policy = jsonencode(local.api_gateway_cloudwatch_assume_role_policy)
}

resource "aws_iam_role_policy_attachment" "api_gateway_cloudwatch" {
  role       = aws_iam_role.api_gateway_cloudwatch.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  # Registered only once the policy is attached, so API Gateway never holds a role that cannot write logs.
  cloudwatch_role_arn = aws_iam_role.api_gateway_cloudwatch.arn
  depends_on          = [aws_iam_role_policy_attachment.api_gateway_cloudwatch]
}
