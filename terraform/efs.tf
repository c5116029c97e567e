# Optional shared storage for real AWS: both functions mount one EFS file system at
# processed_images_dir. Off by default; on LocalStack docker compose mounts a shared volume into the
# Lambda containers instead (see the README).

resource "aws_efs_file_system" "this" {
  #checkov:skip=CKV_AWS_184:Encrypted at rest with the AWS-managed key; product photos need no customer-managed key.
  count = local.efs

  encrypted        = true
  performance_mode = "generalPurpose"
  throughput_mode  = "elastic"

  lifecycle_policy {
    transition_to_ia = "AFTER_30_DAYS"
  }

  tags = {
    Name = "${var.name_prefix}-processed-images"
  }

  lifecycle {
    precondition {
      condition     = length(var.efs_subnet_ids) > 0 && var.efs_vpc_id != null
      error_message = "enable_efs needs efs_vpc_id and at least one subnet in efs_subnet_ids."
    }
  }
}

resource "aws_efs_access_point" "this" {
  count = local.efs

  file_system_id = aws_efs_file_system.this[0].id

  posix_user {
    uid = 1000
    gid = 1000
  }

  root_directory {
    path = "/processed_images"

    creation_info {
      owner_uid   = 1000
      owner_gid   = 1000
      permissions = "0750"
    }
  }
}

resource "aws_security_group" "lambda" {
  count = local.efs

  name        = "${var.name_prefix}-lambda"
  description = "The functions: outbound to EFS and AWS APIs."
  vpc_id      = var.efs_vpc_id

  egress {
    description = "AWS APIs (through NAT or VPC endpoints) and EFS"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  egress {
    description = "NFS to the EFS mount targets"
    from_port   = 2049
    to_port     = 2049
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_security_group" "efs" {
  count = local.efs

  name        = "${var.name_prefix}-efs"
  description = "EFS mount targets: NFS from the functions only."
  vpc_id      = var.efs_vpc_id

  ingress {
    description     = "NFS from the functions"
    from_port       = 2049
    to_port         = 2049
    protocol        = "tcp"
    security_groups = [aws_security_group.lambda[0].id]
  }
}

resource "aws_efs_mount_target" "this" {
  for_each = local.efs == 1 ? toset(var.efs_subnet_ids) : toset([])

  file_system_id  = aws_efs_file_system.this[0].id
  subnet_id       = each.value
  security_groups = [aws_security_group.efs[0].id]
}

data "aws_iam_policy_document" "efs_client" {
  count = local.efs

  statement {
    actions   = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"]
    resources = [aws_efs_file_system.this[0].arn]

    condition {
      test     = "StringEquals"
      variable = "elasticfilesystem:AccessPointArn"
      values   = [aws_efs_access_point.this[0].arn]
    }
  }
}

resource "aws_iam_role_policy" "efs_client" {
  for_each = local.efs == 1 ? { api = aws_iam_role.api[0].id, worker = aws_iam_role.worker[0].id } : {}

  name   = "efs-client"
  role   = each.value
  policy = data.aws_iam_policy_document.efs_client[0].json
}

# Functions in a VPC need to manage their network interfaces.
resource "aws_iam_role_policy_attachment" "vpc_access" {
  for_each = local.efs == 1 ? { api = aws_iam_role.api[0].name, worker = aws_iam_role.worker[0].name } : {}

  role       = each.value
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

data "aws_partition" "current" {}
