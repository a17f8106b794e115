# What runs in the cluster, installed through the Helm provider: the NVIDIA device plugin (AL2023 GPU
# nodes), cert-manager (KServe's webhook certificates), KServe in RawDeployment/Standard mode (plain
# Deployments, no Knative or Istio) and the StockOps chart, with MLflow's artifacts on S3.

locals {
  install_device_plugin = var.gpu_ami_type == "AL2023_x86_64_NVIDIA"
  ecr_registry          = "${data.aws_caller_identity.current.account_id}.dkr.ecr.${var.region}.amazonaws.com/${var.name}"
  chart_path            = coalesce(var.stockops_chart_path, "${path.module}/../../../../charts/stockops")

  # The operator's GPU placement: node selector = the GPU nodes' label, toleration = their taint
  # (the operator adds the toleration itself; see local.gpu_taint).
  stockops_values = {
    image = merge(
      { registry = var.create_ecr_repositories ? local.ecr_registry : "" },
      var.stockops_image_tag == null ? {} : { tag = var.stockops_image_tag },
    )
    training = {
      gpuNodeSelector = local.gpu_node_selector
    }
    predictor = {
      kserveDeploymentMode = var.kserve_deployment_mode
    }
    mlflow = {
      artifactsDestination = "s3://${aws_s3_bucket.mlflow.bucket}/${var.artifact_prefix}"
      serviceAccount = {
        create = true
        name   = local.mlflow_service_account
      }
    }
  }
}

resource "helm_release" "nvidia_device_plugin" {
  count = local.install_device_plugin ? 1 : 0

  name       = "nvidia-device-plugin"
  namespace  = "kube-system"
  repository = "https://nvidia.github.io/k8s-device-plugin"
  chart      = "nvidia-device-plugin"
  version    = var.chart_versions.nvidia_device_plugin

  # Only on the GPU nodes, through their taint.
  values = [yamlencode({
    nodeSelector = local.gpu_node_selector
    tolerations  = [local.gpu_toleration]
  })]

  depends_on = [module.eks]
}

resource "helm_release" "cert_manager" {
  name             = "cert-manager"
  namespace        = "cert-manager"
  create_namespace = true
  repository       = "https://charts.jetstack.io"
  chart            = "cert-manager"
  version          = var.chart_versions.cert_manager

  values = [yamlencode({ crds = { enabled = true } })]

  depends_on = [module.eks]
}

resource "helm_release" "kserve_crd" {
  name             = "kserve-crd"
  namespace        = "kserve"
  create_namespace = true
  repository       = "oci://ghcr.io/kserve/charts"
  chart            = "kserve-crd"
  version          = var.chart_versions.kserve

  depends_on = [module.eks]
}

resource "helm_release" "kserve" {
  name       = "kserve"
  namespace  = "kserve"
  repository = "oci://ghcr.io/kserve/charts"
  chart      = "kserve"
  version    = var.chart_versions.kserve

  values = [yamlencode({
    kserve = {
      controller = {
        deploymentMode = var.kserve_deployment_mode
      }
    }
  })]

  depends_on = [helm_release.cert_manager, helm_release.kserve_crd]
}

resource "helm_release" "stockops" {
  name             = "stockops"
  namespace        = var.stockops_namespace
  create_namespace = true
  chart            = local.chart_path

  values = [yamlencode(local.stockops_values)]

  depends_on = [helm_release.kserve, aws_eks_pod_identity_association.mlflow]
}
