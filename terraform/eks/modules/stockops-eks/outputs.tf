output "cluster_name" {
  description = "Name of the EKS cluster."
  value       = module.eks.cluster_name
}

output "cluster_endpoint" {
  description = "Endpoint of the EKS API server (for the Helm provider)."
  value       = module.eks.cluster_endpoint
}

output "cluster_certificate_authority_data" {
  description = "Base64 CA certificate of the EKS API server (for the Helm provider)."
  value       = module.eks.cluster_certificate_authority_data
}

output "kubeconfig_command" {
  description = "Writes a kubeconfig entry for the cluster."
  value       = "aws eks update-kubeconfig --region ${var.region} --name ${module.eks.cluster_name}"
}

output "mlflow_artifacts_bucket" {
  description = "S3 bucket of the MLflow artifacts."
  value       = aws_s3_bucket.mlflow.bucket
}

output "mlflow_artifacts_uri" {
  description = "MLflow's --artifacts-destination (the chart's mlflow.artifactsDestination)."
  value       = "s3://${aws_s3_bucket.mlflow.bucket}/${var.artifact_prefix}"
}

output "mlflow_role_arn" {
  description = "IAM role MLflow's ServiceAccount assumes through EKS Pod Identity."
  value       = aws_iam_role.mlflow.arn
}

output "ecr_repository_urls" {
  description = "Image name -> ECR repository URL (empty without create_ecr_repositories)."
  value       = { for name, repo in aws_ecr_repository.stockops : name => repo.repository_url }
}

output "image_registry" {
  description = "The chart's image.registry for images pushed to the ECR repositories."
  value       = var.create_ecr_repositories ? local.ecr_registry : ""
}

output "gpu_node_taint" {
  description = "Taint of the GPU nodes (pods that need a GPU tolerate it; the operator does so itself)."
  value       = "${local.gpu_taint.key}=${local.gpu_taint.value}:NoSchedule"
}
