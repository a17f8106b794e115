# The network and the cluster: a VPC whose nodes live in private subnets (egress through NAT), the EKS
# control plane in its own intra subnets, a CPU node group for everything and a tainted GPU node group
# that only GPU training pods tolerate.

data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394:Only read when availability_zones is empty; set that variable to pin the zones of an existing cluster.
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  azs  = length(var.availability_zones) > 0 ? var.availability_zones : slice(data.aws_availability_zones.available.names, 0, var.az_count)
  tags = merge(var.tags, { "stockops.io/cluster" = var.name })

  # The taint keeps everything but GPU training off the expensive nodes. The operator adds a toleration
  # {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule} to every Job that asks for a GPU, and
  # this module also passes the chart training.gpuNodeSelector = the nvidia.com/gpu.present label its GPU
  # nodes carry (the operator's own default is no selector).
  # tests/unit/test_terraform_eks.py keeps these, the operator and the chart in step.
  gpu_taint = {
    key    = "nvidia.com/gpu"
    value  = "true"
    effect = "NO_SCHEDULE"
  }
  # What a pod needs to land on a GPU node: the toleration (as the operator writes it) and the selector.
  gpu_toleration = {
    key      = "nvidia.com/gpu"
    operator = "Exists"
    effect   = "NoSchedule"
  }
  gpu_node_selector = {
    "nvidia.com/gpu.present" = "true"
  }
  gpu_labels = merge(local.gpu_node_selector, {
    "stockops.io/node-role" = "gpu"
  })
  cpu_labels = {
    "stockops.io/node-role" = "cpu"
  }
}

module "vpc" {
  # checkov:skip=CKV_TF_1:A registry module pinned by version (terraform-aws-modules releases are immutable); a commit hash would bypass the registry.
  source  = "terraform-aws-modules/vpc/aws"
  version = "~> 6.0"

  name = var.name
  cidr = var.vpc_cidr
  azs  = local.azs

  # /20 private subnets: nodes and (VPC CNI) pod IPs. Small public subnets for NAT and load balancers,
  # intra subnets (no internet route) for the control plane's network interfaces.
  private_subnets = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 4, i)]
  public_subnets  = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 64 + i)]
  intra_subnets   = [for i, _ in local.azs : cidrsubnet(var.vpc_cidr, 8, 80 + i)]

  enable_nat_gateway = true
  single_nat_gateway = var.single_nat_gateway

  public_subnet_tags  = { "kubernetes.io/role/elb" = "1" }
  private_subnet_tags = { "kubernetes.io/role/internal-elb" = "1" }

  tags = local.tags
}

module "eks" {
  # checkov:skip=CKV_TF_1:A registry module pinned by version (terraform-aws-modules releases are immutable); a commit hash would bypass the registry.
  source  = "terraform-aws-modules/eks/aws"
  version = "~> 21.0"

  name               = var.name
  kubernetes_version = var.kubernetes_version

  endpoint_public_access       = var.endpoint_public_access
  endpoint_public_access_cidrs = var.endpoint_public_access_cidrs
  enabled_log_types            = ["api", "audit", "authenticator"]

  # Whoever runs `apply` administers the cluster (the Helm releases below need it).
  enable_cluster_creator_admin_permissions = true

  addons = {
    coredns                = {}
    kube-proxy             = {}
    eks-pod-identity-agent = { before_compute = true }
    vpc-cni                = { before_compute = true }
    # MLflow's registry (SQLite) lives on an EBS volume; the add-on also creates a default StorageClass.
    aws-ebs-csi-driver = {
      configuration_values = jsonencode({ defaultStorageClass = { enabled = true } })
      pod_identity_association = [{
        role_arn        = aws_iam_role.ebs_csi.arn
        service_account = "ebs-csi-controller-sa"
      }]
    }
  }

  vpc_id                   = module.vpc.vpc_id
  subnet_ids               = module.vpc.private_subnets
  control_plane_subnet_ids = module.vpc.intra_subnets

  eks_managed_node_groups = {
    cpu = {
      ami_type       = "AL2023_x86_64_STANDARD"
      instance_types = var.cpu_instance_types
      min_size       = var.cpu_node_count.min
      desired_size   = var.cpu_node_count.desired
      max_size       = var.cpu_node_count.max
      labels         = local.cpu_labels
    }

    gpu = {
      ami_type       = var.gpu_ami_type
      instance_types = var.gpu_instance_types
      min_size       = var.gpu_node_count.min
      desired_size   = var.gpu_node_count.desired
      max_size       = var.gpu_node_count.max
      labels         = local.gpu_labels
      taints         = { gpu = local.gpu_taint }

      # Room for the CUDA images and the training data cache.
      block_device_mappings = {
        xvda = {
          device_name = "/dev/xvda"
          ebs = {
            volume_size           = 100
            volume_type           = "gp3"
            encrypted             = true
            delete_on_termination = true
          }
        }
      }
    }
  }

  tags = local.tags
}

# The EBS CSI controller's role (EKS Pod Identity), with AWS's managed policy for that driver.
data "aws_iam_policy_document" "pod_identity_trust" {
  statement {
    sid     = "EksPodIdentity"
    actions = ["sts:AssumeRole", "sts:TagSession"]

    principals {
      type        = "Service"
      identifiers = ["pods.eks.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "ebs_csi" {
  name_prefix        = "${var.name}-ebs-csi-"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_trust.json
  tags               = local.tags
}

resource "aws_iam_role_policy_attachment" "ebs_csi" {
  role       = aws_iam_role.ebs_csi.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}
