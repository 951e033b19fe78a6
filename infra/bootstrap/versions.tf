# Version constraints for the account-level bootstrap directory (the same as a stage export).
#
# HCL rather than JSON on purpose: checkov's terraform_json parser rejects a
# `terraform {}` block inside a .tf.json file and then runs no check at all.
# Upper bounds are the majors this configuration has been written against:
# AWS provider 6 removed attributes Chalice's raw output relied on, so it must
# be tested before the bound moves.
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}
