variable "name" {
  description = "Name of the cluster; also the prefix of the VPC, bucket, roles and repositories."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lower-case letters, digits and '-', starting with a letter."
  }
}

variable "region" {
  description = "AWS region (used in the kubeconfig command output; the provider decides where resources go)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (<major>.<minor>). The StockOps CRDs need >= 1.30 (CEL validation)."
  type        = string
  default     = "1.33"

  validation {
    condition     = can(regex("^1\\.(3[0-9])$", var.kubernetes_version))
    error_message = "kubernetes_version must be 1.30 or later, as <major>.<minor> (e.g. 1.33)."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; a /16 leaves room for /20 private subnets (nodes and pods) per zone."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 16
    error_message = "vpc_cidr must be a valid IPv4 CIDR of size /16 or larger."
  }
}

variable "availability_zones" {
  description = "Zones to use (e.g. [\"us-east-1a\", \"us-east-1b\"]); empty: the first az_count zones of the region."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.availability_zones) == 0 || length(var.availability_zones) >= 2
    error_message = "availability_zones must be empty or name at least two zones."
  }
}

variable "az_count" {
  description = "Availability zones to spread subnets and nodes over."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count must be between 2 and 4 (EKS needs subnets in at least two zones)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper) instead of one per zone (zone-failure safe)."
  type        = bool
  default     = true
}

variable "endpoint_public_access" {
  description = "Expose the EKS API endpoint publicly (restricted to endpoint_public_access_cidrs)."
  type        = bool
  default     = true
}

variable "endpoint_public_access_cidrs" {
  description = "CIDRs allowed to reach the public EKS API endpoint, e.g. your office or VPN egress."
  type        = list(string)

  validation {
    condition     = length(var.endpoint_public_access_cidrs) > 0 && alltrue([for c in var.endpoint_public_access_cidrs : can(cidrhost(c, 0))])
    error_message = "endpoint_public_access_cidrs must be a non-empty list of valid CIDRs."
  }
}

variable "cpu_instance_types" {
  description = "Instance types of the CPU node group (operator, MLflow, Redis, predictors, CPU training)."
  type        = list(string)
  default     = ["m6i.xlarge"]

  validation {
    condition     = length(var.cpu_instance_types) > 0
    error_message = "cpu_instance_types must name at least one instance type."
  }
}

variable "cpu_node_count" {
  description = "Minimum, desired and maximum size of the CPU node group."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = { min = 2, desired = 2, max = 5 }

  validation {
    condition     = var.cpu_node_count.min >= 1 && var.cpu_node_count.min <= var.cpu_node_count.desired && var.cpu_node_count.desired <= var.cpu_node_count.max
    error_message = "cpu_node_count needs 1 <= min <= desired <= max."
  }
}

variable "gpu_instance_types" {
  description = "Instance types of the GPU node group (NVIDIA GPUs: g4dn, g5, g6, p-families)."
  type        = list(string)
  default     = ["g5.xlarge"]

  validation {
    condition     = length(var.gpu_instance_types) > 0 && alltrue([for t in var.gpu_instance_types : can(regex("^(g4dn|g5|g6|g6e|gr6|p3|p4d|p4de|p5|p5e)\\.", t))])
    error_message = "gpu_instance_types must be NVIDIA GPU instance types (g4dn, g5, g6, g6e, gr6, p3, p4d, p5 families)."
  }
}

variable "gpu_node_count" {
  description = "Minimum, desired and maximum size of the GPU node group; desired = 0 costs nothing while idle."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = { min = 0, desired = 1, max = 2 }

  validation {
    condition     = var.gpu_node_count.min >= 0 && var.gpu_node_count.min <= var.gpu_node_count.desired && var.gpu_node_count.desired <= var.gpu_node_count.max && var.gpu_node_count.max >= 1
    error_message = "gpu_node_count needs 0 <= min <= desired <= max and max >= 1."
  }
}

variable "gpu_ami_type" {
  description = "EKS AMI of the GPU nodes. AL2023_x86_64_NVIDIA ships the driver but not the device plugin (installed here); Bottlerocket's NVIDIA variant ships both."
  type        = string
  default     = "AL2023_x86_64_NVIDIA"

  validation {
    condition     = contains(["AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA"], var.gpu_ami_type)
    error_message = "gpu_ami_type must be AL2023_x86_64_NVIDIA or BOTTLEROCKET_x86_64_NVIDIA."
  }
}

variable "create_ecr_repositories" {
  description = "Create private ECR repositories for the four StockOps images (stockops/operator, trainer, predictor, agent)."
  type        = bool
  default     = true
}

variable "stockops_namespace" {
  description = "Namespace of the StockOps Helm release (operator, MLflow, Redis)."
  type        = string
  default     = "stockops-system"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.stockops_namespace))
    error_message = "stockops_namespace must be a valid Kubernetes namespace name."
  }
}

variable "stockops_chart_path" {
  description = "Path of the StockOps Helm chart (charts/stockops in this repository)."
  type        = string
  default     = null
}

variable "stockops_image_tag" {
  description = "Tag of the StockOps images; null: the chart's appVersion."
  type        = string
  default     = null
}

variable "kserve_deployment_mode" {
  description = "KServe deployment mode for InferenceServices: RawDeployment (KServe <= 0.15) or Standard (its newer name); no Knative needed for either."
  type        = string
  default     = "RawDeployment"

  validation {
    condition     = contains(["RawDeployment", "Standard"], var.kserve_deployment_mode)
    error_message = "kserve_deployment_mode must be RawDeployment or Standard (Serverless needs Knative, which this module does not install)."
  }
}

variable "chart_versions" {
  description = "Pinned versions of the Helm charts installed into the cluster."
  type = object({
    cert_manager         = string
    kserve               = string
    nvidia_device_plugin = string
  })
  default = {
    cert_manager         = "v1.18.2"
    kserve               = "v0.15.2"
    nvidia_device_plugin = "0.17.4"
  }
}

variable "artifact_prefix" {
  description = "Key prefix of the MLflow artifacts in the bucket; MLflow's role may touch nothing else."
  type        = string
  default     = "mlflow-artifacts"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]*[a-z0-9]$", var.artifact_prefix))
    error_message = "artifact_prefix must be lower-case letters, digits and '-', without slashes."
  }
}

variable "tags" {
  description = "Tags added to every AWS resource."
  type        = map(string)
  default     = {}
}
