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
  description = "Instruction set of the functions; `make package` builds the dependencies for manylinux x86_64."
  type        = string
  default     = "x86_64"
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
  description = "Timeout of the API function; API Gateway itself gives up after 29 seconds."
  type        = number
  default     = 29
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
  description = "Concurrent executions reserved for (and capping) the worker, a cost guard. -1 removes the cap."
  type        = number
  default     = 10
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
  description = "Simulated latency of the mock AI service in the worker."
  type        = number
  default     = 2
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
    condition     = var.job_deadline_seconds >= 60
    error_message = "The job deadline must be at least 60 seconds (plus the worker's timeout, checked with the event age)."
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
  description = "Lifetime of the presigned GET URLs the API redirects image requests to (PRESIGNED_URL_TTL_SECONDS)."
  type        = number
  default     = 300
}

variable "upload_ttl_seconds" {
  description = "Lifetime of a direct upload's presigned POST (UPLOAD_TTL_SECONDS); the lifecycle rule removes uploads never consumed."
  type        = number
  default     = 900
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
  description = "SNS topic that the alarms (dead-letter queue depth, worker errors, API 5xx) notify. Null: the alarms change state without notifying anyone."
  type        = string
  default     = null
}

variable "api_5xx_alarm_threshold" {
  description = "5xx answers from API Gateway within 5 minutes that set off the API alarm."
  type        = number
  default     = 5
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
  description = "CloudFront distribution in front of the images (CDN_DISTRIBUTION_ID): a DELETE invalidates the image's paths there. Empty: no CDN."
  type        = string
  default     = ""
}
