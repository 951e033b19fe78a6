# What the deploy pipeline's roles may do in a stage (pipeline_roles.tf attaches these statements): read every
# resource the stage export manages, which is what `terraform plan` does; write them, which is what `terraform
# apply` and scripts/operations/deploy.py do; and the stage's own object in the state bucket (state_bucket.tf).
#
# Scoped to the stage's names wherever the service authorises by resource: `llm-scores-<stage>...` for functions,
# alarms, log groups, the rule, the CodeDeploy application; the table `llm_scores-<stage>`; the export's roles,
# topics and alias by their exact names, because the bootstrap's own `llm-scores-<account_environment>-...` role,
# topic and alias would otherwise match `llm-scores-prod-*`. Where a service names resources by a generated id
# (API Gateway, CloudFront, certificates, health checks, hosted zones, KMS keys), the id cannot be scoped: those
# statements cover the service's resources of that type in the account, and KMS keys are scoped by their `stage`
# tag instead (the stage provider's default_tags). Actions that take no resource at all sit in statements whose
# Resource is "*", each saying so. tests/terraform/test_pipeline_roles.py keeps every resource kind, name and
# role of the stage exports covered, and the read statements free of any write. The stage's own IAM roles are
# written only within their permissions boundary (stage_role_boundary.tf; tests/terraform/test_role_boundary.py).
#
# The stage runs in this bootstrap's region, plus us-east-1 for what CloudFront and Route 53 need there (waf.tf,
# probe.tf: the CloudFront web ACL, its log group and key, the us-east-1 topics and alarms).

locals {
  pipeline_partition = data.aws_partition.current.partition
  pipeline_account   = data.aws_caller_identity.current.account_id
  pipeline_region    = data.aws_region.current.id
  pipeline_regions   = [local.pipeline_region, "us-east-1"]
  # Chalice names each function's role after the function; codedeploy.tf adds CodeDeploy's. By exact name, so the
  # deploy role can write no other llm-scores-<stage>-* role (the bootstrap's acceptance role is one).
  pipeline_function_roles = ["api_handler", "warm_up", "before_allow_traffic", "after_allow_traffic"]
  # The export's topics and the regions they live in (observability.tf, paging.tf, probe.tf, waf.tf).
  pipeline_topics = { "alarms" = local.pipeline_region, "page" = local.pipeline_region, "page-us-east-1" = "us-east-1", "edge-alarms" = "us-east-1" }

  pipeline_stage_arns = {
    for stage in ["dev", "prod"] : stage => {
      prefix = "llm-scores-${stage}"
      # The API function, the others (-warm_up, the hooks) and every version or alias of each.
      functions       = ["arn:${local.pipeline_partition}:lambda:${local.pipeline_region}:${local.pipeline_account}:function:llm-scores-${stage}", "arn:${local.pipeline_partition}:lambda:${local.pipeline_region}:${local.pipeline_account}:function:llm-scores-${stage}-*", "arn:${local.pipeline_partition}:lambda:${local.pipeline_region}:${local.pipeline_account}:function:llm-scores-${stage}:*"]
      function_roles  = [for role in local.pipeline_function_roles : "arn:${local.pipeline_partition}:iam::${local.pipeline_account}:role/llm-scores-${stage}-${role}"]
      codedeploy_role = "arn:${local.pipeline_partition}:iam::${local.pipeline_account}:role/llm-scores-${stage}-codedeploy"
      # API ids are generated, so API Gateway's paths are scoped to the kinds of resource the export writes.
      apis       = [for path in ["/restapis", "/restapis/*", "/apis", "/apis/*", "/domainnames", "/domainnames/*", "/usageplans", "/usageplans/*", "/apikeys", "/apikeys/*", "/tags/*"] : "arn:${local.pipeline_partition}:apigateway:${local.pipeline_region}::${path}"]
      api_stages = "arn:${local.pipeline_partition}:apigateway:${local.pipeline_region}::/restapis/*/stages/*"
      web_acls = [
        "arn:${local.pipeline_partition}:wafv2:${local.pipeline_region}:${local.pipeline_account}:regional/webacl/llm-scores-${stage}-*/*",
        "arn:${local.pipeline_partition}:wafv2:us-east-1:${local.pipeline_account}:global/webacl/llm-scores-${stage}-*/*",
      ]
      # A web ACL's AWS managed rule groups are read when it is created or updated.
      managed_rule_sets = [
        "arn:${local.pipeline_partition}:wafv2:${local.pipeline_region}:${local.pipeline_account}:regional/managedruleset/*/*",
        "arn:${local.pipeline_partition}:wafv2:us-east-1:${local.pipeline_account}:global/managedruleset/*/*",
      ]
      # var.web_acl_arn may name a web ACL the stage does not own: it is associated, never changed.
      any_regional_web_acl = "arn:${local.pipeline_partition}:wafv2:${local.pipeline_region}:${local.pipeline_account}:regional/webacl/*/*"
      cloudfront           = [for kind in ["distribution", "cache-policy", "response-headers-policy"] : "arn:${local.pipeline_partition}:cloudfront::${local.pipeline_account}:${kind}/*"]
      log_bucket           = "arn:${local.pipeline_partition}:s3:::llm-scores-${stage}-cloudfront-logs-${local.pipeline_account}"
      keys                 = [for region in local.pipeline_regions : "arn:${local.pipeline_partition}:kms:${region}:${local.pipeline_account}:key/*"]
      key_alias            = "arn:${local.pipeline_partition}:kms:${local.pipeline_region}:${local.pipeline_account}:alias/llm-scores-${stage}-observability"
      topics               = [for topic, region in local.pipeline_topics : "arn:${local.pipeline_partition}:sns:${region}:${local.pipeline_account}:llm-scores-${stage}-${topic}"]
      alarms               = [for region in local.pipeline_regions : "arn:${local.pipeline_partition}:cloudwatch:${region}:${local.pipeline_account}:alarm:llm-scores-${stage}-*"]
      dashboard            = "arn:${local.pipeline_partition}:cloudwatch::${local.pipeline_account}:dashboard/llm-scores-${stage}"
      log_groups = concat(
        [for name in ["/aws/lambda/llm-scores-${stage}*", "/aws/apigateway/llm-scores-${stage}/*", "aws-waf-logs-llm-scores-${stage}*"] : "arn:${local.pipeline_partition}:logs:${local.pipeline_region}:${local.pipeline_account}:log-group:${name}"],
        ["arn:${local.pipeline_partition}:logs:us-east-1:${local.pipeline_account}:log-group:aws-waf-logs-llm-scores-${stage}-cloudfront*"],
      )
      rules              = "arn:${local.pipeline_partition}:events:${local.pipeline_region}:${local.pipeline_account}:rule/llm-scores-${stage}-*"
      table              = "arn:${local.pipeline_partition}:dynamodb:${local.pipeline_region}:${local.pipeline_account}:table/llm_scores-${stage}"
      scalable_targets   = "arn:${local.pipeline_partition}:application-autoscaling:${local.pipeline_region}:${local.pipeline_account}:scalable-target/*"
      route53            = [for kind in ["healthcheck", "hostedzone", "change"] : "arn:${local.pipeline_partition}:route53:::${kind}/*"]
      certificates       = "arn:${local.pipeline_partition}:acm:${local.pipeline_region}:${local.pipeline_account}:certificate/*"
      codedeploy_app     = "arn:${local.pipeline_partition}:codedeploy:${local.pipeline_region}:${local.pipeline_account}:application:llm-scores-${stage}"
      codedeploy_group   = "arn:${local.pipeline_partition}:codedeploy:${local.pipeline_region}:${local.pipeline_account}:deploymentgroup:llm-scores-${stage}/llm-scores-${stage}-live"
      codedeploy_configs = "arn:${local.pipeline_partition}:codedeploy:${local.pipeline_region}:${local.pipeline_account}:deploymentconfig:*"
      # scripts/operations/deploy.py's record of rolled-back versions, /<function>/rolled-back-versions.
      rolled_back_versions = "arn:${local.pipeline_partition}:ssm:${local.pipeline_region}:${local.pipeline_account}:parameter/llm-scores-${stage}/rolled-back-versions"
    }
  }

  # Everything `terraform plan` reads of a stage: Describe, Get and List only, and none that returns data (no
  # item, object, log event or parameter value). The production-plan role holds these and nothing else.
  pipeline_read_statements = {
    for stage, arns in local.pipeline_stage_arns : stage => {
      compute = [
        {
          Sid      = "ReadTheStagesFunctions"
          Effect   = "Allow"
          Action   = ["lambda:Get*", "lambda:List*"]
          Resource = arns.functions
        },
        {
          Sid      = "ReadTheStagesRoles"
          Effect   = "Allow"
          Action   = ["iam:GetRole", "iam:GetRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies", "iam:ListInstanceProfilesForRole", "iam:ListRoleTags"]
          Resource = concat(arns.function_roles, [arns.codedeploy_role])
        },
        {
          # The table's description, backups, TTL, tags and resource policy; never an item.
          Sid      = "ReadTheStagesTable"
          Effect   = "Allow"
          Action   = ["dynamodb:Describe*", "dynamodb:ListTagsOfResource", "dynamodb:GetResourcePolicy"]
          Resource = [arns.table]
        },
        {
          Sid      = "ReadTheWarmUpRule"
          Effect   = "Allow"
          Action   = ["events:DescribeRule", "events:ListTargetsByRule", "events:ListTagsForResource"]
          Resource = [arns.rules]
        },
        {
          Sid      = "ReadTheScalableTargetsTags"
          Effect   = "Allow"
          Action   = ["application-autoscaling:ListTagsForResource"]
          Resource = [arns.scalable_targets]
        },
        {
          Sid      = "ReadTheCodeDeployApplication"
          Effect   = "Allow"
          Action   = ["codedeploy:GetApplication", "codedeploy:GetDeploymentGroup", "codedeploy:ListTagsForResource", "codedeploy:GetDeploymentConfig"]
          Resource = [arns.codedeploy_app, arns.codedeploy_group, arns.codedeploy_configs]
        },
      ]
      edge = [
        {
          # The REST API, its stage, deployment, usage plans and keys, the HTTP API, the custom domain. Terraform
          # reads an API key's value to refresh it: the value is in the state, which this role reads anyway.
          Sid      = "ReadTheStagesApis"
          Effect   = "Allow"
          Action   = ["apigateway:GET"]
          Resource = arns.apis
        },
        {
          Sid      = "ReadTheStagesWebAcls"
          Effect   = "Allow"
          Action   = ["wafv2:GetWebACL", "wafv2:GetLoggingConfiguration", "wafv2:ListTagsForResource"]
          Resource = arns.web_acls
        },
        {
          Sid      = "ReadTheRestStagesWebAcl"
          Effect   = "Allow"
          Action   = ["wafv2:GetWebACLForResource"]
          Resource = [arns.any_regional_web_acl, arns.api_stages]
        },
        {
          Sid      = "ReadTheDistributionAndItsPolicies"
          Effect   = "Allow"
          Action   = ["cloudfront:GetDistribution", "cloudfront:GetDistributionConfig", "cloudfront:ListTagsForResource", "cloudfront:GetCachePolicy", "cloudfront:GetResponseHeadersPolicy"]
          Resource = arns.cloudfront
        },
        {
          # The bucket's configuration only (HeadBucket needs ListBucket): no object is read.
          Sid      = "ReadTheCloudFrontLogBucket"
          Effect   = "Allow"
          Action   = ["s3:GetBucket*", "s3:GetAccelerateConfiguration", "s3:GetLifecycleConfiguration", "s3:GetEncryptionConfiguration", "s3:GetReplicationConfiguration", "s3:ListBucket"]
          Resource = [arns.log_bucket]
        },
        {
          Sid      = "ReadTheProbeAndTheDomainsRecords"
          Effect   = "Allow"
          Action   = ["route53:GetHealthCheck", "route53:ListTagsForResource", "route53:ListResourceRecordSets", "route53:GetHostedZone", "route53:GetChange"]
          Resource = arns.route53
        },
        {
          Sid      = "ReadTheCertificates"
          Effect   = "Allow"
          Action   = ["acm:DescribeCertificate", "acm:ListTagsForCertificate"]
          Resource = [arns.certificates]
        },
      ]
      observability = [
        {
          Sid      = "ReadTheKeys"
          Effect   = "Allow"
          Action   = ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"]
          Resource = arns.keys
        },
        {
          Sid      = "ReadTheStagesTopics"
          Effect   = "Allow"
          Action   = ["sns:GetTopicAttributes", "sns:ListTagsForResource", "sns:ListSubscriptionsByTopic"]
          Resource = arns.topics
        },
        {
          Sid      = "ReadTheStagesAlarmsAndDashboard"
          Effect   = "Allow"
          Action   = ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource", "cloudwatch:GetDashboard"]
          Resource = concat(arns.alarms, [arns.dashboard])
        },
        {
          Sid      = "ReadTheStagesLogGroups"
          Effect   = "Allow"
          Action   = ["logs:ListTagsForResource", "logs:ListTagsLogGroup", "logs:DescribeMetricFilters"]
          Resource = arns.log_groups
        },
        {
          # These take no resource: AWS authorises them account-wide only.
          Sid      = "DescribeWhatTakesNoResource"
          Effect   = "Allow"
          Action   = ["application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScheduledActions", "kms:ListAliases", "logs:DescribeLogGroups", "logs:DescribeQueryDefinitions", "logs:DescribeResourcePolicies", "sns:GetSubscriptionAttributes"]
          Resource = ["*"]
        },
      ]
    }
  }

  # What `terraform apply` writes in a stage, and what scripts/operations/deploy.py calls beyond the reads above:
  # the dev and production deploy roles hold these on top of the reads.
  pipeline_write_statements = {
    for stage, arns in local.pipeline_stage_arns : stage => {
      # The stage's IAM roles: a policy of their own, as compute's would pass IAM's 6,144 characters with them.
      roles = [
        {
          # None of these takes iam:PermissionsBoundary (UpdateAssumeRolePolicy included): a trust policy the
          # deploy role rewrites still hands over no more than the boundary allows.
          Sid      = "ManageTheStagesRoles"
          Effect   = "Allow"
          Action   = ["iam:DeleteRole", "iam:UpdateRole", "iam:UpdateRoleDescription", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole"]
          Resource = concat(arns.function_roles, [arns.codedeploy_role])
        },
        {
          # The stage's roles are created with its boundary, and their policies written only while they carry it
          # (stage_role_boundary.tf): for CreateRole and PutRolePermissionsBoundary the key is the boundary asked
          # for, for the policy writes the role's own.
          Sid       = "WriteTheStagesRolesWithinTheirBoundary"
          Effect    = "Allow"
          Action    = ["iam:CreateRole", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:DeleteRolePolicy"]
          Resource  = concat(arns.function_roles, [arns.codedeploy_role])
          Condition = { StringEquals = { "iam:PermissionsBoundary" = local.stage_role_boundary_arns[stage] } }
        },
        {
          # It may take no role's boundary off, nor rewrite a boundary policy, whatever else it is ever given.
          Sid      = "KeepEveryRolesBoundary"
          Effect   = "Deny"
          Action   = ["iam:DeleteRolePermissionsBoundary"]
          Resource = ["*"]
        },
        {
          Sid      = "KeepTheBoundaryPolicies"
          Effect   = "Deny"
          Action   = ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"]
          Resource = [for boundary_stage, arn in local.stage_role_boundary_arns : arn]
        },
        {
          Sid       = "PassTheFunctionRolesToLambda"
          Effect    = "Allow"
          Action    = ["iam:PassRole"]
          Resource  = arns.function_roles
          Condition = { StringEquals = { "iam:PassedToService" = "lambda.amazonaws.com" } }
        },
        {
          Sid       = "PassTheCodeDeployRoleToCodeDeploy"
          Effect    = "Allow"
          Action    = ["iam:PassRole"]
          Resource  = [arns.codedeploy_role]
          Condition = { StringEquals = { "iam:PassedToService" = "codedeploy.amazonaws.com" } }
        },
        {
          # Application Auto Scaling's role for Lambda provisioned concurrency, created on the first scalable target.
          Sid       = "CreateTheProvisionedConcurrencyScalingRole"
          Effect    = "Allow"
          Action    = ["iam:CreateServiceLinkedRole"]
          Resource  = ["arn:${local.pipeline_partition}:iam::${local.pipeline_account}:role/aws-service-role/lambda.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency"]
          Condition = { StringEquals = { "iam:AWSServiceName" = "lambda.application-autoscaling.amazonaws.com" } }
        },
        {
          # The stage's roles' policies are this role's to write, so a trust policy naming this role would hand
          # it their permissions (capped by their boundary); it assumes no role at all.
          Sid      = "AssumeNoOtherRole"
          Effect   = "Deny"
          Action   = ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"]
          Resource = ["*"]
        },
      ]
      compute = [
        {
          # UpdateAlias is also deploy.py's --clear-weights.
          Sid      = "ManageTheStagesFunctions"
          Effect   = "Allow"
          Action   = ["lambda:CreateFunction", "lambda:DeleteFunction", "lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:PublishVersion", "lambda:PutFunctionConcurrency", "lambda:DeleteFunctionConcurrency", "lambda:CreateAlias", "lambda:UpdateAlias", "lambda:DeleteAlias", "lambda:AddPermission", "lambda:RemovePermission", "lambda:PutProvisionedConcurrencyConfig", "lambda:DeleteProvisionedConcurrencyConfig", "lambda:TagResource", "lambda:UntagResource"]
          Resource = arns.functions
        },
        {
          # The table itself, never its items: the data role writes those (data_access.tf's resource policy
          # refuses every other writer).
          Sid      = "ManageTheStagesTable"
          Effect   = "Allow"
          Action   = ["dynamodb:CreateTable", "dynamodb:UpdateTable", "dynamodb:DeleteTable", "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTimeToLive", "dynamodb:TagResource", "dynamodb:UntagResource", "dynamodb:PutResourcePolicy", "dynamodb:DeleteResourcePolicy"]
          Resource = [arns.table]
        },
        {
          Sid      = "ManageTheWarmUpRule"
          Effect   = "Allow"
          Action   = ["events:PutRule", "events:DeleteRule", "events:EnableRule", "events:DisableRule", "events:PutTargets", "events:RemoveTargets", "events:TagResource", "events:UntagResource"]
          Resource = [arns.rules]
        },
        {
          # Scalable targets have generated ids; the namespace condition keeps these to Lambda's.
          Sid       = "ScheduleTheProvisionedConcurrency"
          Effect    = "Allow"
          Action    = ["application-autoscaling:RegisterScalableTarget", "application-autoscaling:DeregisterScalableTarget", "application-autoscaling:PutScheduledAction", "application-autoscaling:DeleteScheduledAction", "application-autoscaling:TagResource", "application-autoscaling:UntagResource"]
          Resource  = [arns.scalable_targets]
          Condition = { StringEquals = { "application-autoscaling:service-namespace" = "lambda" } }
        },
        {
          Sid      = "ManageTheCodeDeployApplication"
          Effect   = "Allow"
          Action   = ["codedeploy:CreateApplication", "codedeploy:DeleteApplication", "codedeploy:CreateDeploymentGroup", "codedeploy:UpdateDeploymentGroup", "codedeploy:DeleteDeploymentGroup", "codedeploy:TagResource", "codedeploy:UntagResource"]
          Resource = [arns.codedeploy_app, arns.codedeploy_group]
        },
        {
          # scripts/operations/deploy.py: one deployment of the live alias, its AppSpec revision, and its status.
          Sid      = "DeployTheLiveAlias"
          Effect   = "Allow"
          Action   = ["codedeploy:CreateDeployment", "codedeploy:GetDeployment", "codedeploy:ListDeployments", "codedeploy:RegisterApplicationRevision", "codedeploy:GetApplicationRevision", "codedeploy:GetDeploymentConfig"]
          Resource = [arns.codedeploy_app, arns.codedeploy_group, arns.codedeploy_configs]
        },
        {
          Sid      = "RecordRolledBackVersions"
          Effect   = "Allow"
          Action   = ["ssm:GetParameter", "ssm:PutParameter"]
          Resource = [arns.rolled_back_versions]
        },
      ]
      edge = [
        {
          Sid      = "ManageTheStagesApis"
          Effect   = "Allow"
          Action   = ["apigateway:POST", "apigateway:PUT", "apigateway:PATCH", "apigateway:DELETE"]
          Resource = arns.apis
        },
        {
          Sid      = "ManageTheStagesWebAcls"
          Effect   = "Allow"
          Action   = ["wafv2:CreateWebACL", "wafv2:UpdateWebACL", "wafv2:DeleteWebACL", "wafv2:PutLoggingConfiguration", "wafv2:DeleteLoggingConfiguration", "wafv2:TagResource", "wafv2:UntagResource"]
          Resource = concat(arns.web_acls, arns.managed_rule_sets)
        },
        {
          Sid      = "AssociateAWebAclWithTheRestStage"
          Effect   = "Allow"
          Action   = ["wafv2:AssociateWebACL", "wafv2:DisassociateWebACL", "apigateway:SetWebACL"]
          Resource = [arns.any_regional_web_acl, arns.api_stages]
        },
        {
          # WAF's logs, and the HTTP API stage's access log, reach CloudWatch Logs through a log delivery the
          # caller sets up, and the log groups' resource policy. None of these takes a resource.
          Sid      = "DeliverLogsToCloudWatchLogs"
          Effect   = "Allow"
          Action   = ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy"]
          Resource = ["*"]
        },
        {
          Sid      = "ManageTheDistributionAndItsPolicies"
          Effect   = "Allow"
          Action   = ["cloudfront:CreateDistribution", "cloudfront:UpdateDistribution", "cloudfront:DeleteDistribution", "cloudfront:TagResource", "cloudfront:UntagResource", "cloudfront:CreateCachePolicy", "cloudfront:UpdateCachePolicy", "cloudfront:DeleteCachePolicy", "cloudfront:CreateResponseHeadersPolicy", "cloudfront:UpdateResponseHeadersPolicy", "cloudfront:DeleteResponseHeadersPolicy"]
          Resource = arns.cloudfront
        },
        {
          # CloudFront standard logging grants its log delivery account through the bucket ACL, as the caller.
          Sid      = "ManageTheCloudFrontLogBucket"
          Effect   = "Allow"
          Action   = ["s3:CreateBucket", "s3:DeleteBucket", "s3:PutBucketOwnershipControls", "s3:PutBucketPublicAccessBlock", "s3:PutEncryptionConfiguration", "s3:PutBucketVersioning", "s3:PutLifecycleConfiguration", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketTagging", "s3:PutBucketAcl"]
          Resource = [arns.log_bucket]
        },
        {
          # CreateHealthCheck and RequestCertificate take no resource.
          Sid      = "CreateTheProbeAndTheCertificate"
          Effect   = "Allow"
          Action   = ["route53:CreateHealthCheck", "acm:RequestCertificate"]
          Resource = ["*"]
        },
        {
          # The hosted zone is the stage's route53_zone_id, which this bootstrap does not know.
          Sid      = "ManageTheProbeAndTheDomainsRecords"
          Effect   = "Allow"
          Action   = ["route53:UpdateHealthCheck", "route53:DeleteHealthCheck", "route53:ChangeTagsForResource", "route53:ChangeResourceRecordSets"]
          Resource = arns.route53
        },
        {
          Sid      = "ManageTheCertificates"
          Effect   = "Allow"
          Action   = ["acm:DeleteCertificate", "acm:AddTagsToCertificate", "acm:RemoveTagsFromCertificate"]
          Resource = [arns.certificates]
        },
      ]
      observability = [
        {
          # CreateKey takes no resource; the key must carry the stage's tag, so the statement below covers it.
          Sid       = "CreateKeysTaggedForTheStage"
          Effect    = "Allow"
          Action    = ["kms:CreateKey"]
          Resource  = ["*"]
          Condition = { StringEquals = { "aws:RequestTag/stage" = stage } }
        },
        {
          # KMS checks tags given to CreateKey against every key of the account and region. A key tagged for
          # another stage or the account (the bootstrap's) cannot be retagged; every key the export creates has one.
          Sid       = "TagTheStagesKeys"
          Effect    = "Allow"
          Action    = ["kms:TagResource"]
          Resource  = arns.keys
          Condition = { StringEqualsIfExists = { "aws:RequestTag/stage" = stage, "aws:ResourceTag/stage" = stage } }
        },
        {
          Sid       = "ManageTheStagesKeys"
          Effect    = "Allow"
          Action    = ["kms:PutKeyPolicy", "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:UpdateKeyDescription", "kms:ScheduleKeyDeletion", "kms:UntagResource", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"]
          Resource  = arns.keys
          Condition = { StringEquals = { "aws:ResourceTag/stage" = stage } }
        },
        {
          Sid      = "NameTheStagesKey"
          Effect   = "Allow"
          Action   = ["kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias"]
          Resource = [arns.key_alias]
        },
        {
          Sid      = "ManageTheStagesTopics"
          Effect   = "Allow"
          Action   = ["sns:CreateTopic", "sns:DeleteTopic", "sns:SetTopicAttributes", "sns:Subscribe", "sns:TagResource", "sns:UntagResource"]
          Resource = arns.topics
        },
        {
          # A subscription is authorised by no resource: SNS takes none for these.
          Sid      = "ManageTheTopicsSubscriptions"
          Effect   = "Allow"
          Action   = ["sns:Unsubscribe", "sns:SetSubscriptionAttributes"]
          Resource = ["*"]
        },
        {
          Sid      = "ManageTheStagesAlarmsAndDashboard"
          Effect   = "Allow"
          Action   = ["cloudwatch:PutMetricAlarm", "cloudwatch:PutCompositeAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"]
          Resource = concat(arns.alarms, [arns.dashboard])
        },
        {
          Sid      = "ManageTheStagesLogGroups"
          Effect   = "Allow"
          Action   = ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:DeleteRetentionPolicy", "logs:AssociateKmsKey", "logs:DisassociateKmsKey", "logs:TagResource", "logs:UntagResource", "logs:TagLogGroup", "logs:UntagLogGroup", "logs:PutMetricFilter", "logs:DeleteMetricFilter"]
          Resource = arns.log_groups
        },
        {
          # Logs Insights query definitions take no resource.
          Sid      = "ManageTheSavedQueries"
          Effect   = "Allow"
          Action   = ["logs:PutQueryDefinition", "logs:DeleteQueryDefinition"]
          Resource = ["*"]
        },
      ]
    }
  }
}
