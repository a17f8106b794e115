variable "name" {
  description = "Cluster name and prefix of everything created."
  type        = string
  default     = "stockops"
}

variable "region" {
  description = "AWS region to create the platform in."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Value of the environment tag on every resource."
  type        = string
  default     = "production"

  validation {
    condition     = contains(["dev", "staging", "production"], var.environment)
    error_message = "environment must be dev, staging or production."
  }
}

variable "admin_cidrs" {
  description = "CIDRs allowed to reach the EKS API endpoint (your VPN or office egress), e.g. [\"203.0.113.0/24\"]."
  type        = list(string)
}

variable "gpu_instance_types" {
  description = "GPU node instance types; g5.xlarge (1x A10G, 24 GiB) fits the LSTM trainings."
  type        = list(string)
  default     = ["g5.xlarge"]
}

variable "gpu_node_count" {
  description = "Minimum, desired and maximum GPU nodes; set desired = 0 when no training runs."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = { min = 0, desired = 1, max = 2 }
}

variable "stockops_image_tag" {
  description = "Tag of the StockOps images pushed to ECR; null: the chart's appVersion."
  type        = string
  default     = null
}
