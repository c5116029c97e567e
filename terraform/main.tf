locals {
  repo_root = abspath("${path.module}/..")

  # Zips made by `make layers package`; the paths can be replaced through variables.
  api_package_path    = coalesce(var.api_package_path, "${local.repo_root}/build/functions/api.zip")
  worker_package_path = coalesce(var.worker_package_path, "${local.repo_root}/build/functions/smart_crop_worker.zip")
  common_layer_path   = coalesce(var.common_layer_path, "${local.repo_root}/build/layers/common.zip")
  deps_layer_path     = coalesce(var.deps_layer_path, "${local.repo_root}/build/layers/deps.zip")

  functions = var.create_functions ? 1 : 0
  efs       = var.create_functions && var.enable_efs ? 1 : 0

  api_function_name    = "${var.name_prefix}-api"
  worker_function_name = "${var.name_prefix}-smart-crop-worker"

  # Settings both functions read (image_processor.settings).
  common_environment = {
    DISPATCHER              = "lambda"
    RATE_LIMIT_TABLE        = aws_dynamodb_table.this["rate_limit"].name
    JOBS_TABLE              = aws_dynamodb_table.this["jobs"].name
    IDEMPOTENCY_TABLE       = aws_dynamodb_table.this["idempotency"].name
    WORKER_FUNCTION_NAME    = local.worker_function_name
    PROCESSED_IMAGES_DIR    = var.processed_images_dir
    IDEMPOTENCY_TTL_SECONDS = tostring(var.idempotency_ttl_seconds)
    WORKER_TIMEOUT_SECONDS  = tostring(var.worker_timeout_seconds)
    MOCK_AI_LATENCY_SECONDS = tostring(var.mock_ai_latency_seconds)
    LOG_LEVEL               = var.log_level
    POWERTOOLS_SERVICE_NAME = var.name_prefix
  }
}
