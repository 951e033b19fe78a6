provider "aws" {
  region = var.aws_region
  default_tags {
    tags = {
      project    = local.app_name
      stage      = local.stage
      managed-by = "terraform"
    }
  }
}
