output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.stockops_eks.cluster_name
}

output "kubeconfig_command" {
  description = "Run this to point kubectl at the cluster."
  value       = module.stockops_eks.kubeconfig_command
}

output "mlflow_artifacts_bucket" {
  description = "S3 bucket holding the MLflow artifacts."
  value       = module.stockops_eks.mlflow_artifacts_bucket
}

output "ecr_repository_urls" {
  description = "Where to push the four StockOps images."
  value       = module.stockops_eks.ecr_repository_urls
}

output "image_registry" {
  description = "The chart's image.registry (set it in Argo CD's Application too)."
  value       = module.stockops_eks.image_registry
}
