# Version constraints for the exported stage directory.
#
# HCL, and the only terraform {} block: checkov's terraform_json parser runs no check at all on a .tf.json
# file that holds one. AWS provider 6 is allowed and 5.x kept while it costs nothing: the configuration
# uses nothing added or removed between 5.40 and 6.x (data.aws_region is read by `id`, which both have;
# docs/decisions/0014-aws-provider-6.md). The upper bounds are the majors tested against.
terraform {
  required_version = ">= 1.10.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 7.0"
    }
  }
}
