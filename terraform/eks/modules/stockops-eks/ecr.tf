# Private registries for the four StockOps images (built from operator/Dockerfile and images/*/Dockerfile).
# Node roles of EKS managed node groups can pull from ECR in their account by default.

locals {
  images = var.create_ecr_repositories ? toset(["operator", "trainer", "predictor", "agent"]) : toset([])
}

resource "aws_ecr_repository" "stockops" {
  for_each = local.images

  name                 = "${var.name}/stockops/${each.key}"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.artifacts.arn
  }

  tags = local.tags
}

resource "aws_ecr_lifecycle_policy" "stockops" {
  for_each = aws_ecr_repository.stockops

  repository = each.value.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the 30 newest images"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = 30
      }
      action = { type = "expire" }
    }]
  })
}
