variable "aws_endpoint_url" {
  description = "Endpoint of an AWS API emulator such as LocalStack (e.g. http://localhost:4566). Null or empty targets real AWS."
  type        = string
  default     = null
}

variable "aws_region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "aws_access_key_id" {
  description = "Access key ID. Null uses the default credential chain on AWS and \"test\" on an emulator."
  type        = string
  default     = null
  sensitive   = true
}

variable "aws_secret_access_key" {
  description = "Secret access key. Null uses the default credential chain on AWS and \"test\" on an emulator."
  type        = string
  default     = null
  sensitive   = true
}

variable "name_prefix" {
  description = "Prefix of every resource name. The table and worker names must match the service's settings."
  type        = string
  default     = "product-image-processor"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

variable "create_functions" {
  description = "Create the bucket, the Lambda functions, API Gateway, IAM roles, queue and alarms. False creates only the DynamoDB tables (used by `make run`)."
  type        = bool
  default     = true
}

variable "api_package_path" {
  description = "Zip of the API function's code. Null means build/functions/api.zip in the repository (made by `make package`)."
  type        = string
  default     = null
}

variable "worker_package_path" {
  description = "Zip of the smart-crop worker's code. Null means build/functions/smart_crop_worker.zip."
  type        = string
  default     = null
}

variable "lambda_architecture" {
  description = "Instruction set of the functions. Only x86_64: `make package` builds the dependencies (pyvips-binary, Pillow, pillow-heif, pydantic-core) for manylinux x86_64."
  type        = string
  default     = "x86_64"

  validation {
    condition     = var.lambda_architecture == "x86_64"
    error_message = "Only x86_64 is supported: the zips `make package` builds hold x86_64 wheels (libvips, Pillow, pydantic-core), which do not load on arm64."
  }
}

variable "api_memory_mb" {
  # Measured: a warm environment peaks at 180 MB RSS through a 12-megapixel manual and smart crop
  # (tests/lambda_runtime). The worst case is the interpreter (~150 MB) plus IMAGE_MEMORY_BUDGET_BYTES
  # (384 MiB) plus a 6 MB event; 1024 MB covers it and buys CPU (Lambda scales CPU with memory).
  description = "Memory of the API function (CPU scales with memory). Must exceed about 150 MB plus IMAGE_MEMORY_BUDGET_BYTES."
  type        = number
  default     = 1024
}

variable "api_timeout_seconds" {
  description = "Timeout of the API function. Under API Gateway's 29 seconds, so that a slow request ends as the service's own JSON error rather than the gateway's 504; it must also hold the longest AWS call (see aws_timeout_seconds)."
  type        = number
  default     = 25

  validation {
    condition     = var.api_timeout_seconds >= 3 && var.api_timeout_seconds < 29
    error_message = "The API function must time out before API Gateway's 29-second integration timeout (3 to 28 seconds)."
  }
}

variable "aws_timeout_seconds" {
  description = "Connect and read timeout of every AWS call the functions make (AWS_TIMEOUT_SECONDS); S3 reads wait at least 5 seconds. Two attempts of the longest call must end within api_timeout_seconds."
  type        = number
  default     = 2

  validation {
    condition     = var.aws_timeout_seconds > 0
    error_message = "The AWS call timeout must be positive."
  }
}

variable "worker_memory_mb" {
  # Measured as for api_memory_mb: 180 MB peak for a 12-megapixel job, the same worst case. Jobs are
  # asynchronous, so the extra CPU of a larger size buys little.
  description = "Memory of the smart-crop worker (CPU scales with memory). Must exceed about 150 MB plus IMAGE_MEMORY_BUDGET_BYTES."
  type        = number
  default     = 1024
}

variable "worker_timeout_seconds" {
  description = "Timeout of the smart-crop worker, including the AI call."
  type        = number
  default     = 120
}

variable "worker_reserved_concurrency" {
  # Reserving caps the worker (a burst of smart crops queues instead of multiplying AI calls) but takes the
  # executions out of the account's unreserved pool, which Lambda keeps at 100 or more: on a new account
  # with a concurrency quota of 10, any reservation makes `terraform apply` fail.
  description = "Concurrent executions reserved for (and capping) the worker: a cost guard on accounts whose concurrency quota leaves 100 unreserved. -1 (the default) reserves none and leaves the worker uncapped."
  type        = number
  default     = -1

  validation {
    condition     = var.worker_reserved_concurrency == -1 || var.worker_reserved_concurrency >= 1
    error_message = "Reserve at least one execution, or -1 for none (0 would stop the worker)."
  }
}

variable "worker_maximum_retry_attempts" {
  description = "Retries Lambda makes of a failed asynchronous worker invocation before dead-lettering it."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_maximum_retry_attempts >= 0 && var.worker_maximum_retry_attempts <= 2
    error_message = "Lambda allows 0 to 2 retries of an asynchronous invocation."
  }
}

variable "idempotency_ttl_seconds" {
  description = "How long the worker remembers a processed job; longer than the retry window so a late retry is not run twice."
  type        = number
  default     = 86400
}

variable "log_retention_days" {
  description = "Retention of the functions' and the queue's CloudWatch logs."
  type        = number
  default     = 30
}

variable "log_level" {
  description = "Log level of the functions."
  type        = string
  default     = "INFO"
}

variable "mock_ai_latency_seconds" {
  description = "Simulated latency of the mock AI service in the worker (billed seconds per job), when ai_service_url is null."
  type        = number
  default     = 2
}

variable "ai_service_url" {
  description = "URL of the AI object-location service the worker calls (AI_SERVICE_URL; https). Null deploys the mock, which finds no object and centres the crop; the output ai_backend says which one runs."
  type        = string
  default     = null

  validation {
    condition     = var.ai_service_url == null || startswith(coalesce(var.ai_service_url, "-"), "https://")
    error_message = "The AI service URL must be https."
  }
}

variable "ai_timeout_seconds" {
  description = "Timeout of one call to the AI service (AI_TIMEOUT_SECONDS). All attempts together must end within worker_timeout_seconds."
  type        = number
  default     = 10
}

variable "ai_max_attempts" {
  description = "Attempts of one AI call within a worker invocation (AI_MAX_ATTEMPTS)."
  type        = number
  default     = 3

  validation {
    condition     = var.ai_max_attempts >= 1
    error_message = "At least one attempt."
  }
}

variable "api_stage_name" {
  description = "Name of the API Gateway stage (the first path segment of the execute-api URL)."
  type        = string
  default     = "v1"
}

variable "api_throttling_rate_limit" {
  description = "Steady-state requests per second API Gateway lets through for the whole API."
  type        = number
  default     = 50
}

variable "api_throttling_burst_limit" {
  description = "Burst of requests API Gateway lets through for the whole API."
  type        = number
  default     = 100
}


variable "job_deadline_seconds" {
  description = "Age after which a smart-crop job is reported failed (JOB_DEADLINE_SECONDS). The worker's maximum event age is this minus worker_timeout_seconds, so a job reported failed is never run later."
  type        = number
  default     = 900

  validation {
    condition     = var.job_deadline_seconds - var.worker_timeout_seconds >= 60 && var.job_deadline_seconds - var.worker_timeout_seconds <= 21600
    error_message = "job_deadline_seconds must be worker_timeout_seconds plus 60 to 21600 seconds: the difference is the worker's maximum event age, which Lambda allows from 60 to 21600 seconds."
  }
}

variable "images_bucket_name" {
  description = "Name of the images bucket. Null means <name_prefix>-images-<account id>-<region> (bucket names are global)."
  type        = string
  default     = null
}

variable "staging_expiration_days" {
  description = "Days after which S3 deletes staged smart-crop originals (.staging/) and unconsumed direct uploads (.uploads/) that the service did not remove itself."
  type        = number
  default     = 1

  validation {
    condition     = var.staging_expiration_days >= 1
    error_message = "S3 lifecycle expiration is counted in whole days, at least 1."
  }
}

variable "presigned_url_ttl_seconds" {
  description = "Lifetime of the presigned GET URLs the API redirects image requests to (PRESIGNED_URL_TTL_SECONDS); at most an hour, as a URL signed with the function's session credentials dies with them."
  type        = number
  default     = 300

  validation {
    condition     = var.presigned_url_ttl_seconds >= 1 && var.presigned_url_ttl_seconds <= 3600
    error_message = "A presigned URL signed with a Lambda role's session credentials stops working when they expire: 1 to 3600 seconds."
  }
}

variable "upload_ttl_seconds" {
  description = "Lifetime of a direct upload's presigned POST (UPLOAD_TTL_SECONDS), at most an hour; the lifecycle rule removes uploads never consumed."
  type        = number
  default     = 900

  validation {
    condition     = var.upload_ttl_seconds >= 10 && var.upload_ttl_seconds <= 3600
    error_message = "A presigned POST signed with a Lambda role's session credentials stops working when they expire: 10 to 3600 seconds."
  }
}

variable "enable_api_keys" {
  description = "Require an API key (x-api-key header) on every method, through a usage plan with one key; its value is the sensitive output api_key. Off by default: the contract's API is public."
  type        = bool
  default     = false
}

variable "api_quota_per_day" {
  description = "Requests per day the usage plan allows the API key, when enable_api_keys is true."
  type        = number
  default     = 10000
}

variable "alarm_sns_topic_arn" {
  description = "An existing SNS topic for the alarms. Null: the stack creates its own topic (<name_prefix>-alarms)."
  type        = string
  default     = null
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (AWS sends a confirmation first). Null: no subscription."
  type        = string
  default     = null
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the service's EMF metrics (POWERTOOLS_METRICS_NAMESPACE of both functions)."
  type        = string
  default     = "ProductImageProcessor"
}

variable "api_5xx_rate_alarm_threshold" {
  description = "Share of API requests answered 5xx (0.05 = 5 %) within 5 minutes, two periods running, that sets off the alarm."
  type        = number
  default     = 0.05
}

variable "failed_jobs_alarm_threshold" {
  description = "Smart-crop jobs failed within 5 minutes that set off the alarm."
  type        = number
  default     = 5
}

variable "manage_api_gateway_account" {
  description = "Set the region's API Gateway CloudWatch role (an account-wide setting) so that the stage can write access logs. False when the account already has one."
  type        = bool
  default     = true
}

variable "cors_allowed_origins" {
  description = "Origins whose browser scripts may POST direct uploads to the bucket and fetch redirected images."
  type        = list(string)
  default     = ["*"]
}

variable "manual_crop_rate_limit_requests" {
  description = "Manual crops accepted per client (API key, else source IP) in any rolling window (MANUAL_CROP_RATE_LIMIT_REQUESTS); 0 turns the limit off."
  type        = number
  default     = 120

  validation {
    condition     = var.manual_crop_rate_limit_requests >= 0
    error_message = "The manual-crop limit cannot be negative (0 turns it off)."
  }
}

variable "manual_crop_rate_limit_window_seconds" {
  description = "The rolling window of the manual-crop limit, in seconds (MANUAL_CROP_RATE_LIMIT_WINDOW_SECONDS)."
  type        = number
  default     = 3600

  validation {
    condition     = var.manual_crop_rate_limit_window_seconds >= 1
    error_message = "The manual-crop window must be at least one second."
  }
}

variable "cdn_distribution_id" {
  description = "A CloudFront distribution in front of the images made outside this configuration (CDN_DISTRIBUTION_ID): a DELETE invalidates the image's paths there. Empty: the deployment's own CDN (enable_cdn), if any."
  type        = string
  default     = ""
}

variable "enable_cdn" {
  description = "Put CloudFront in front of the images (cdn.tf). Null: on in the `aws` workspace, off elsewhere (LocalStack's free tier and moto have no CloudFront)."
  type        = bool
  default     = null
}

variable "cdn_price_class" {
  description = "CloudFront price class: which edge locations serve the images."
  type        = string
  default     = "PriceClass_100"
}

variable "cdn_preset_formats" {
  description = "Formats each rendition preset allows (avif, webp, jpg), for presets that do not allow all three (as in RENDITIONS_FILE): the CDN negotiates an address without an extension among these."
  type        = map(list(string))
  default     = {}

  validation {
    condition     = alltrue([for formats in values(var.cdn_preset_formats) : length(formats) > 0 && alltrue([for format in formats : contains(["avif", "webp", "jpg"], format)])])
    error_message = "Each preset's formats are a non-empty list of avif, webp and jpg."
  }
}

variable "webhook_url_prefixes" {
  description = "URL prefixes a smart crop's callback_url may start with (WEBHOOK_URL_PREFIXES, https); empty leaves webhooks off."
  type        = list(string)
  default     = []
}

variable "webhook_secret" {
  description = "WEBHOOK_SECRET: whsec_ followed by the base64 key that signs each webhook; required with webhook_url_prefixes."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.webhook_secret == null || startswith(coalesce(var.webhook_secret, "-"), "whsec_")
    error_message = "webhook_secret must start with whsec_ (then the key in base64)."
  }
}
