# One role per function, each allowed only what its code calls.

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "api" {
  count = local.functions

  name               = "${local.api_function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

resource "aws_iam_role" "worker" {
  count = local.functions

  name               = "${local.worker_function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

locals {
  # Key patterns of the storage layout (identical on the file system and S3). Product ids never start
  # with a dot, so results never fall under the two dot folders.
  images_bucket_arn = var.create_functions ? aws_s3_bucket.images[0].arn : ""
  results_objects   = "${local.images_bucket_arn}/*/*.jpg"
  staged_objects    = "${local.images_bucket_arn}/.staging/*"
  uploaded_objects  = "${local.images_bucket_arn}/.uploads/*"
  # `<product_id>/<image_id>/<preset>.<format>`, beside each result (IAM's * spans slashes, so results_objects
  # already covers the .jpg ones; they are listed here too, so the statement says what renditions are).
  rendition_objects = [for format in ["jpg", "webp", "avif"] : "${local.images_bucket_arn}/*/*/*.${format}"]
}

# Each statement names the calls that need it (image_processor modules). A test applies this to an
# emulator and checks the statements as deployed.
data "aws_iam_policy_document" "api" {
  count = local.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.api[0].arn}:*"]
  }

  # Lambda sends the function's X-Ray segments with its role (active tracing); X-Ray has no resource ARNs.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # rate_limit: check before the body (GetItem); acquire once valid (a conditional UpdateItem appends,
  # a PutItem prunes an expired window).
  statement {
    sid       = "RateLimitState"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.this["rate_limit"].arn]
  }

  # idempotency_keys: answers to requests sent with an Idempotency-Key (ids prefixed api-request#).
  statement {
    sid       = "IdempotencyKeys"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.this["idempotency"].arn]
  }

  # jobs: create (PutItem), status (GetItem), fail on a dispatch error, past the deadline or when its image
  # is deleted (UpdateItem); a finished job's record goes with its image (DeleteItem).
  statement {
    sid       = "JobRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.this["jobs"].arn]
  }

  # catalog (image_processor.catalog.records): entries written at each crop (PutItem), updated when a
  # job ends (UpdateItem), read and removed by DELETE (GetItem, DeleteItem), listed through its index (Query).
  statement {
    sid       = "CatalogEntries"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.this["catalog"].arn]
  }

  statement {
    sid       = "ListCatalog"
    actions   = ["dynamodb:Query"]
    resources = ["${aws_dynamodb_table.this["catalog"].arn}/index/newest_first"]
  }

  # DELETE /images/{product_id}/{image_id}: the image and its renditions (listed under their folder):
  # everything in that folder, renditions of any format, including presets removed since.
  statement {
    sid       = "DeleteImages"
    actions   = ["s3:DeleteObject"]
    resources = [local.results_objects, "${local.images_bucket_arn}/*/*/*"]
  }

  statement {
    sid       = "ListRenditionsOfDeletedImages"
    actions   = ["s3:ListBucket"]
    resources = [local.images_bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["*/*/"]
    }
  }

  # A DELETE invalidates the image's paths in the CDN, when the deployment has one.
  dynamic "statement" {
    for_each = local.cdn_distribution_ids
    content {
      sid       = "InvalidateDeletedImages"
      actions   = ["cloudfront:CreateInvalidation"]
      resources = ["arn:aws:cloudfront::${data.aws_caller_identity.current[0].account_id}:distribution/${statement.value}"]
    }
  }

  statement {
    sid       = "QueueSmartCropJobs"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.worker[0].arn]
  }

  # A job the API ends (past its deadline, or deleted) has its webhook's retries queued (webhooks.tf).
  statement {
    sid       = "QueueWebhookRetries"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [aws_sqs_queue.webhook_retries[0].arn]
  }

  # Manual crops store results; presigned GETs (the 307) and HEAD are signed with this role, so it
  # must be allowed to read what it links to. A poll that finds a job past its deadline removes the
  # image a late worker may have written (DeleteObject; its renditions through DeleteImages above).
  statement {
    sid       = "StoreAndLinkResults"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = [local.results_objects]
  }

  # S3 answers a missing key 404 only to a role that may list the bucket, 403 otherwise; the store reads
  # 404 as "not there" and 403 as a misconfiguration (503), so an unknown image or upload needs this.
  # A prefix condition would not help: a GET or HEAD carries no prefix, so it would never match.
  statement {
    sid       = "TellMissingKeys"
    actions   = ["s3:ListBucket"]
    resources = [local.images_bucket_arn]
  }

  # Renditions: made from the stored result (GetObject) on a first request and stored once (a conditional
  # PutObject); later requests read them (GetObject, HeadObject) or are redirected with a presigned GET.
  statement {
    sid       = "MakeAndLinkRenditions"
    actions   = ["s3:PutObject", "s3:GetObject"]
    resources = local.rendition_objects
  }

  # Smart crop stages the original for the worker, and removes it if the job cannot be recorded or queued.
  statement {
    sid       = "StageSmartCropOriginals"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = [local.staged_objects]
  }

  # Direct uploads: the presigned POST is signed with this role, and consuming an upload first claims it
  # with a conditional PutObject of `<key>.claim` (PutObject); it then reads the upload back to check size
  # and content (GetObject) and removes it, so it is used once (DeleteObject).
  statement {
    sid       = "DirectUploads"
    actions   = ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]
    resources = [local.uploaded_objects]
  }

}

data "aws_iam_policy_document" "worker" {
  count = local.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker[0].arn}:*"]
  }

  # Lambda sends the function's X-Ray segments with its role (active tracing); X-Ray has no resource ARNs.
  statement {
    sid       = "WriteTraces"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }

  # jobs: read the job (GetItem), count the attempt and record the outcome (UpdateItem).
  statement {
    sid       = "JobRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.this["jobs"].arn]
  }

  # catalog: the job's outcome on its entry (UpdateItem).
  statement {
    sid       = "CatalogEntries"
    actions   = ["dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.this["catalog"].arn]
  }

  # Powertools idempotency: its DynamoDB persistence layer uses all four.
  statement {
    sid       = "IdempotencyRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.this["idempotency"].arn]
  }

  # Read the staged original, and remove it once the job has ended.
  statement {
    sid       = "ConsumeStagedOriginals"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = [local.staged_objects]
  }

  # Store the result; remove it again when the job fails for good or its result comes too late.
  statement {
    sid       = "StoreResults"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = [local.results_objects]
  }

  # A staged original that is gone (404, not 403) fails its job instead of retrying it; see the API's.
  statement {
    sid       = "TellMissingKeys"
    actions   = ["s3:ListBucket"]
    resources = [local.images_bucket_arn]
  }

  # The renditions a job asks for, made before it succeeds (a conditional PutObject); deleted again if it fails.
  statement {
    sid       = "StoreEagerRenditions"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = local.rendition_objects
  }

  # Webhook retries: queued after a failed attempt, or put back when due later than SQS can delay (SendMessage).
  statement {
    sid       = "QueueWebhookRetries"
    actions   = ["sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = [aws_sqs_queue.webhook_retries[0].arn]
  }

  # The event source mapping reads the retries with the worker's role (webhooks.tf).
  statement {
    sid       = "ReceiveWebhookRetries"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.webhook_retries[0].arn]
  }

}

# Separate from the worker's main policy so that the function need not wait for the queue.
data "aws_iam_policy_document" "worker_dead_letter" {
  count = local.functions

  statement {
    sid       = "DeadLetterFailedJobs"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.worker_dlq[0].arn]
  }
}

resource "aws_iam_role_policy" "api" {
  count = local.functions

  name   = "least-privilege"
  role   = aws_iam_role.api[0].id
  policy = data.aws_iam_policy_document.api[0].json
}

resource "aws_iam_role_policy" "worker" {
  count = local.functions

  name   = "least-privilege"
  role   = aws_iam_role.worker[0].id
  policy = data.aws_iam_policy_document.worker[0].json
}

resource "aws_iam_role_policy" "worker_dead_letter" {
  count = local.functions

  name   = "dead-letter-queue"
  role   = aws_iam_role.worker[0].id
  policy = data.aws_iam_policy_document.worker_dead_letter[0].json
}
