locals {
  repo_root = abspath("${path.module}/..")

  # Self-contained zips made by `make package` (no layers); the paths can be replaced through variables.
  api_package_path    = coalesce(var.api_package_path, "${local.repo_root}/build/functions/api.zip")
  worker_package_path = coalesce(var.worker_package_path, "${local.repo_root}/build/functions/smart_crop_worker.zip")

  functions = var.create_functions ? 1 : 0

  api_function_name    = "${var.name_prefix}-api"
  worker_function_name = "${var.name_prefix}-smart-crop-worker"

  # Settings both functions read (image_processor.settings). Storage is the bucket: the task root is
  # read-only on Lambda, and nothing else is shared between the two functions.
  common_environment = {
    STORAGE_BACKEND         = "s3"
    S3_BUCKET               = one(aws_s3_bucket.images[*].bucket)
    RATE_LIMIT_TABLE        = aws_dynamodb_table.this["rate_limit"].name
    JOBS_TABLE              = aws_dynamodb_table.this["jobs"].name
    IDEMPOTENCY_TABLE       = aws_dynamodb_table.this["idempotency"].name
    CATALOG_TABLE           = aws_dynamodb_table.this["catalog"].name
    WORKER_FUNCTION_NAME    = local.worker_function_name
    JOB_DEADLINE_SECONDS    = tostring(var.job_deadline_seconds)
    IDEMPOTENCY_TTL_SECONDS = tostring(var.idempotency_ttl_seconds)
    WORKER_TIMEOUT_SECONDS  = tostring(var.worker_timeout_seconds)
    MOCK_AI_LATENCY_SECONDS = tostring(var.mock_ai_latency_seconds)
    LOG_LEVEL               = var.log_level
    POWERTOOLS_SERVICE_NAME = var.name_prefix
  }

  # The API alone queues jobs and hands out links: images leave through presigned S3 URLs (a 307), so
  # no image passes through Lambda's 6 MB response limit.
  api_environment = merge(local.common_environment, {
    DISPATCHER                = "lambda"
    IMAGE_DELIVERY            = "redirect"
    PRESIGNED_URL_TTL_SECONDS = tostring(var.presigned_url_ttl_seconds)
    UPLOAD_TTL_SECONDS        = tostring(var.upload_ttl_seconds)
    # Manual crop spends CPU and storage too: its own per-client budget (0 turns it off).
    MANUAL_CROP_RATE_LIMIT_REQUESTS       = tostring(var.manual_crop_rate_limit_requests)
    MANUAL_CROP_RATE_LIMIT_WINDOW_SECONDS = tostring(var.manual_crop_rate_limit_window_seconds)
  }, var.cdn_distribution_id == "" ? {} : { CDN_DISTRIBUTION_ID = var.cdn_distribution_id })

  worker_environment = local.common_environment
}
