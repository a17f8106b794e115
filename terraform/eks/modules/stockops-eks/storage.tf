# MLflow's artifact store: a private, versioned, KMS-encrypted bucket. Only the MLflow server touches it
# (the chart runs MLflow with --serve-artifacts, so trainers and predictors go through MLflow's HTTP API
# and need no AWS credentials). Its role, assumed through EKS Pod Identity by the stockops-mlflow
# ServiceAccount alone, may list, read, write and delete objects under one prefix, and nothing else.

locals {
  mlflow_service_account = "stockops-mlflow"
}

data "aws_iam_policy_document" "artifacts_key" {
  # checkov:skip=CKV_AWS_111:This is a key policy: "*" means this key, and the statement is AWS's default (the account's IAM decides who may use the key).
  # checkov:skip=CKV_AWS_356:This is a key policy: "*" means this key, and the statement is AWS's default (the account's IAM decides who may use the key).
  # checkov:skip=CKV_AWS_109:This is a key policy: "*" means this key, and the statement is AWS's default (the account's IAM decides who may use the key).
  statement {
    sid       = "AccountAdministersKey"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "artifacts" {
  description             = "${var.name}: MLflow artifacts and StockOps images"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.artifacts_key.json
  tags                    = local.tags
}

resource "aws_kms_alias" "artifacts" {
  name          = "alias/${var.name}-artifacts"
  target_key_id = aws_kms_key.artifacts.key_id
}

resource "aws_s3_bucket" "mlflow" {
  # checkov:skip=CKV_AWS_18:Access logs need a second bucket and a retention policy; CloudTrail data events are the better audit for one writer. Enable on your logging bucket if required.
  # checkov:skip=CKV_AWS_144:Cross-region replication doubles the cost; model artifacts can be retrained from data. Add a replica for disaster recovery if needed.
  # checkov:skip=CKV2_AWS_62:Nothing consumes bucket events; MLflow is the only writer and reader.
  bucket_prefix = "${var.name}-mlflow-"
  tags          = local.tags
}

resource "aws_s3_bucket_public_access_block" "mlflow" {
  bucket                  = aws_s3_bucket.mlflow.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "mlflow" {
  bucket = aws_s3_bucket.mlflow.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "mlflow" {
  bucket = aws_s3_bucket.mlflow.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "mlflow" {
  bucket = aws_s3_bucket.mlflow.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.artifacts.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "mlflow" {
  bucket = aws_s3_bucket.mlflow.id

  rule {
    id     = "expire-old-versions"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }

    noncurrent_version_expiration {
      noncurrent_days = 90
    }
  }
}

data "aws_iam_policy_document" "mlflow_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.mlflow.arn, "${aws_s3_bucket.mlflow.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "mlflow" {
  bucket = aws_s3_bucket.mlflow.id
  policy = data.aws_iam_policy_document.mlflow_bucket.json
}

data "aws_iam_policy_document" "mlflow_artifacts" {
  statement {
    sid       = "ListArtifactPrefix"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.mlflow.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.artifact_prefix, "${var.artifact_prefix}/*"]
    }
  }

  statement {
    sid       = "ReadWriteArtifacts"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.mlflow.arn}/${var.artifact_prefix}/*"]
  }

  statement {
    sid       = "UseArtifactKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.artifacts.arn]
  }
}

resource "aws_iam_role" "mlflow" {
  name_prefix        = "${var.name}-mlflow-"
  assume_role_policy = data.aws_iam_policy_document.pod_identity_trust.json
  tags               = local.tags
}

resource "aws_iam_role_policy" "mlflow_artifacts" {
  name   = "mlflow-artifacts"
  role   = aws_iam_role.mlflow.id
  policy = data.aws_iam_policy_document.mlflow_artifacts.json
}

resource "aws_eks_pod_identity_association" "mlflow" {
  cluster_name    = module.eks.cluster_name
  namespace       = var.stockops_namespace
  service_account = local.mlflow_service_account
  role_arn        = aws_iam_role.mlflow.arn
  tags            = local.tags
}
