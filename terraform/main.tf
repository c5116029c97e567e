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
    AWS_TIMEOUT_SECONDS     = tostring(var.aws_timeout_seconds)
    LOG_LEVEL               = var.log_level
    POWERTOOLS_SERVICE_NAME = var.name_prefix
    # Metrics leave as EMF lines in the log (observability.tf reads them back for alarms and the dashboard).
    METRICS_BACKEND              = "emf"
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    # Where a failed webhook attempt waits for its retry (webhooks.tf); both functions may end a job. By
    # name, which the plan knows (the URL is known only once the queue exists, and would leave the whole
    # environment unknown in every plan); the service looks the URL up on its first retry.
    WEBHOOK_RETRY_QUEUE_NAME = local.webhook_retry_queue_name
  }

  # Webhooks are on when prefixes are given (WEBHOOK_SECRET is then required by the service's settings).
  webhook_environment = length(var.webhook_url_prefixes) == 0 ? {} : {
    WEBHOOK_URL_PREFIXES = join(",", var.webhook_url_prefixes)
    WEBHOOK_SECRET       = var.webhook_secret
  }

  # The API alone queues jobs and hands out links: images leave through presigned S3 URLs (a 307), so
  # no image passes through Lambda's 6 MB response limit.
  api_environment = merge(local.common_environment, local.webhook_environment, {
    DISPATCHER                = "lambda"
    IMAGE_DELIVERY            = "redirect"
    PRESIGNED_URL_TTL_SECONDS = tostring(var.presigned_url_ttl_seconds)
    UPLOAD_TTL_SECONDS        = tostring(var.upload_ttl_seconds)
    # Manual crop spends CPU and storage too: its own per-client budget (0 turns it off).
    MANUAL_CROP_RATE_LIMIT_REQUESTS       = tostring(var.manual_crop_rate_limit_requests)
    MANUAL_CROP_RATE_LIMIT_WINDOW_SECONDS = tostring(var.manual_crop_rate_limit_window_seconds)
    # Origins whose pages may POST to the API; "*" opens the bucket's CORS only, as the API takes exact origins.
    CORS_ALLOWED_ORIGINS = join(",", [for origin in var.cors_allowed_origins : origin if origin != "*"])
  }, local.cdn_environment, length(local.cdn_distribution_ids) == 0 ? {} : { CDN_DISTRIBUTION_ID = local.cdn_distribution_ids[0] })

  # The distribution a DELETE invalidates: the one named by cdn_distribution_id, else this deployment's own (cdn.tf).
  cdn_distribution_ids = var.cdn_distribution_id != "" ? [var.cdn_distribution_id] : aws_cloudfront_distribution.images[*].id

  # With the CDN, image links point at it (cdn.tf), so views never pass through this function again.
  cdn_environment = {
    for name, domain in { PUBLIC_IMAGE_BASE_URL = local.cdn_domain_name } : name => "https://${domain}" if domain != null
  }

  # The worker alone calls the AI; without a URL it runs the mock (the output ai_backend says so).
  worker_environment = merge(local.common_environment, local.webhook_environment, var.ai_service_url == null ? { AI_BACKEND = "mock" } : {
    AI_BACKEND         = "http"
    AI_SERVICE_URL     = var.ai_service_url
    AI_TIMEOUT_SECONDS = tostring(var.ai_timeout_seconds)
    AI_MAX_ATTEMPTS    = tostring(var.ai_max_attempts)
  })
}
