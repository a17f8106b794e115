terraform {
  # terraform-aws-modules/eks v21 needs Terraform >= 1.5.7 and the AWS provider 6.x; OpenTofu >= 1.6 works.
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 6.13, < 7.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = ">= 3.0, < 4.0"
    }
  }
}
