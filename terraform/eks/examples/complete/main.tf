# A complete StockOps platform on EKS: `tofu init && tofu plan && tofu apply` (or terraform). See
# ../../README.md for the steps, what it costs and what to do after apply.

provider "aws" {
  region = var.region

  default_tags {
    tags = { "app.kubernetes.io/part-of" = "stockops" }
  }
}

# The Helm provider talks to the cluster created in the same apply, with a short-lived token from the
# AWS CLI (no kubeconfig file needed).
provider "helm" {
  kubernetes = {
    host                   = module.stockops_eks.cluster_endpoint
    cluster_ca_certificate = base64decode(module.stockops_eks.cluster_certificate_authority_data)
    exec = {
      api_version = "client.authentication.k8s.io/v1beta1"
      command     = "aws"
      args        = ["eks", "get-token", "--cluster-name", module.stockops_eks.cluster_name, "--region", var.region]
    }
  }
}

module "stockops_eks" {
  source = "../../modules/stockops-eks"

  name                         = var.name
  region                       = var.region
  endpoint_public_access_cidrs = var.admin_cidrs
  gpu_instance_types           = var.gpu_instance_types
  gpu_node_count               = var.gpu_node_count
  stockops_image_tag           = var.stockops_image_tag

  tags = { environment = var.environment }
}
