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
  description = "Create the Lambda functions, API Gateway, IAM roles and queue. False creates only the DynamoDB tables (used by `make run`)."
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

variable "common_layer_path" {
  description = "Zip of the shared library layer. Null means build/layers/common.zip (made by `make layers`)."
  type        = string
  default     = null
}

variable "deps_layer_path" {
  description = "Zip of the third-party dependency layer. Null means build/layers/deps.zip (made by `make layers`)."
  type        = string
  default     = null
}

variable "lambda_architecture" {
  description = "Instruction set of the functions; the dependency layer is built for manylinux x86_64."
  type        = string
  default     = "x86_64"
}

variable "api_memory_mb" {
  description = "Memory of the API function. Manual crops of 12-megapixel images decode about 36 MB of pixels per copy."
  type        = number
  default     = 1024
}

variable "api_timeout_seconds" {
  description = "Timeout of the API function; API Gateway itself gives up after 29 seconds."
  type        = number
  default     = 29
}

variable "worker_memory_mb" {
  description = "Memory of the smart-crop worker (CPU scales with memory)."
  type        = number
  default     = 1536
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

variable "worker_maximum_event_age_seconds" {
  description = "Age after which Lambda stops retrying a queued worker event and dead-letters it."
  type        = number
  default     = 3600

  validation {
    condition     = var.worker_maximum_event_age_seconds >= 60 && var.worker_maximum_event_age_seconds <= 21600
    error_message = "Lambda allows a maximum event age of 60 to 21600 seconds."
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

variable "processed_images_dir" {
  description = "Path where the functions read and write processed images: the EFS mount on AWS, a folder mounted into Lambda containers on LocalStack."
  type        = string
  default     = "/mnt/processed_images"
}

variable "api_stage_name" {
  description = "Name of the API Gateway stage."
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

variable "enable_efs" {
  description = "Mount an EFS file system at processed_images_dir in both functions (real AWS; on LocalStack, docker compose mounts a shared volume into the Lambda containers instead)."
  type        = bool
  default     = false
}

variable "efs_subnet_ids" {
  description = "Private subnets for the EFS mount targets and the functions when enable_efs is true."
  type        = list(string)
  default     = []
}

variable "efs_vpc_id" {
  description = "VPC of efs_subnet_ids, for the security groups, when enable_efs is true."
  type        = string
  default     = null
}
