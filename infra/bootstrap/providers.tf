provider "aws" {
  region = var.aws_region
  default_tags {
    tags = {
      project    = "llm-scores"
      stage      = "account"
      managed-by = "terraform"
    }
  }
}
