# The images bucket: processed results (<product_id>/<image_id>.jpg), staged smart-crop originals
# (.staging/<image_id>.upload) and direct uploads (.uploads/<upload_id>). Private; clients reach objects only
# through presigned URLs that the API hands out (a POST policy to upload, a 307 to a GET to retrieve), or,
# with the CDN (cdn.tf), results and renditions through CloudFront's Origin Access Control.

data "aws_caller_identity" "current" {
  count = local.functions
}

locals {
  images_bucket_name = var.create_functions ? coalesce(
    var.images_bucket_name,
    "${var.name_prefix}-images-${data.aws_caller_identity.current[0].account_id}-${var.aws_region}",
  ) : null
}

resource "aws_s3_bucket" "images" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket; API Gateway and the functions log every request that hands out a URL.
  #checkov:skip=CKV_AWS_21:Results are derived images under fresh ids, never overwritten; versioning would only keep staged and uploaded originals the service deletes on purpose.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage for images that can be cropped again from the originals the client holds.
  #checkov:skip=CKV_AWS_145:Encrypted with S3-managed keys (SSE-S3): no KMS key to administer or pay for, and LocalStack needs no KMS.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to object events: the API records jobs in DynamoDB and invokes the worker itself.
  count = local.functions

  bucket = local.images_bucket_name
  # Emulators only: `make destroy` on LocalStack removes a bucket that still holds images. On AWS a
  # non-empty bucket stops the destroy, so images are never deleted by accident.
  force_destroy = local.emulated
}

resource "aws_s3_bucket_public_access_block" "images" {
  count = local.functions

  bucket                  = aws_s3_bucket.images[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "images" {
  count = local.functions

  bucket = aws_s3_bucket.images[0].id

  # ACLs off: the bucket owner owns every object, whoever uploaded it through a presigned POST.
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "images" {
  count = local.functions

  bucket = aws_s3_bucket.images[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

data "aws_iam_policy_document" "images_bucket" {
  count = local.functions

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.images[0].arn, "${aws_s3_bucket.images[0].arn}/*"]

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

  # With the CDN: its distribution, and only it, reads results and renditions (never the staged or uploaded
  # originals, which have no image extension). Views then come from here, not through the API.
  dynamic "statement" {
    for_each = aws_cloudfront_distribution.images[*].arn

    content {
      sid     = "CloudFrontReadsImages"
      effect  = "Allow"
      actions = ["s3:GetObject"]
      resources = [
        "${aws_s3_bucket.images[0].arn}/*/*.jpg",
        "${aws_s3_bucket.images[0].arn}/*/*/*.webp",
        "${aws_s3_bucket.images[0].arn}/*/*/*.avif",
      ]

      principals {
        type        = "Service"
        identifiers = ["cloudfront.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "AWS:SourceArn"
        values   = [statement.value]
      }
    }
  }
}

resource "aws_s3_bucket_policy" "images" {
  count = local.functions

  bucket = aws_s3_bucket.images[0].id
  policy = data.aws_iam_policy_document.images_bucket[0].json

  # S3 refuses a policy while Block Public Access is being applied.
  depends_on = [aws_s3_bucket_public_access_block.images]
}

resource "aws_s3_bucket_lifecycle_configuration" "images" {
  count = local.functions

  bucket = aws_s3_bucket.images[0].id

  # The service deletes a staged original once its job ends and an upload once it is consumed; these
  # rules remove what it never got to (a dead-lettered job, an upload nobody used).
  rule {
    id     = "expire-staged-originals"
    status = "Enabled"

    filter {
      prefix = ".staging/"
    }

    expiration {
      days = var.staging_expiration_days
    }
  }

  rule {
    id     = "expire-direct-uploads"
    status = "Enabled"

    filter {
      prefix = ".uploads/"
    }

    expiration {
      days = var.staging_expiration_days
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_cors_configuration" "images" {
  count = local.functions

  bucket = aws_s3_bucket.images[0].id

  # Browsers POST direct uploads to the bucket and may fetch redirected images from script; the
  # presigned signature, not the origin, is what grants access.
  cors_rule {
    allowed_methods = ["POST", "GET", "HEAD"]
    allowed_origins = var.cors_allowed_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}
