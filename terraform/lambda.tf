# The two functions, each one self-contained zip (no layers: a paid-only feature on LocalStack), their logs,
# and the worker's asynchronous invocation settings.

resource "aws_cloudwatch_log_group" "api" {
  #checkov:skip=CKV_AWS_158:Logs are encrypted by CloudWatch by default; they hold no secrets that would justify a customer-managed key.
  #checkov:skip=CKV_AWS_338:Operational logs; retention is a variable (30 days by default) to keep cost in proportion.
  count = local.functions

  name              = "/aws/lambda/${local.api_function_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "worker" {
  #checkov:skip=CKV_AWS_158:Logs are encrypted by CloudWatch by default; they hold no secrets that would justify a customer-managed key.
  #checkov:skip=CKV_AWS_338:Operational logs; retention is a variable (30 days by default) to keep cost in proportion.
  count = local.functions

  name              = "/aws/lambda/${local.worker_function_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "api" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by API Gateway, which returns errors to the client; a dead-letter queue only applies to asynchronous invocations.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the API Gateway stage throttling instead, so that reserving it cannot starve the account's unreserved pool.
  #checkov:skip=CKV_AWS_117:It reaches only AWS APIs (DynamoDB, S3, Lambda), which need no VPC; a VPC would need endpoints or a NAT for each.
  #checkov:skip=CKV_AWS_173:The environment holds names and settings, and WEBHOOK_SECRET when webhooks are on, which Lambda encrypts at rest with its own key; a customer-managed key would add KMS to every deployment.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile per account; out of scope for this service.
  count = local.functions

  function_name    = local.api_function_name
  description      = "HTTP API: the FastAPI app behind API Gateway, through Mangum."
  role             = aws_iam_role.api[0].arn
  runtime          = "python3.12"
  architectures    = [var.lambda_architecture]
  handler          = "app.handler"
  filename         = local.api_package_path
  source_code_hash = fileexists(local.api_package_path) ? filebase64sha256(local.api_package_path) : null
  memory_size      = var.api_memory_mb
  timeout          = var.api_timeout_seconds

  # X-Ray, continuing the stage's trace; Powertools Tracer adds the AWS calls and the image id.
  tracing_config {
    mode = "Active"
  }

  environment {
    variables = local.api_environment
  }

  depends_on = [aws_cloudwatch_log_group.api, aws_iam_role_policy.api]

  lifecycle {
    precondition {
      condition     = fileexists(local.api_package_path)
      error_message = "The API function zip is missing; build it with `make package`."
    }
    precondition {
      condition     = length(var.webhook_url_prefixes) == 0 || var.webhook_secret != null
      error_message = "webhook_url_prefixes needs webhook_secret (whsec_ followed by base64) to sign with."
    }
    # image_processor.aws.clients.call_budget_seconds: two attempts, each a connect and the longest read
    # (S3's is at least 5 s). A call that could outlast the function would end as a gateway error.
    precondition {
      condition     = 2 * (var.aws_timeout_seconds + max(var.aws_timeout_seconds, 5)) < var.api_timeout_seconds
      error_message = "Two attempts of the longest AWS call, 2 x (aws_timeout_seconds + max(aws_timeout_seconds, 5)), must end within api_timeout_seconds."
    }
  }
}

resource "aws_lambda_function" "worker" {
  #checkov:skip=CKV_AWS_116:Failed asynchronous events go to the SQS on-failure destination of aws_lambda_function_event_invoke_config.worker, which supersedes a dead-letter config.
  #checkov:skip=CKV_AWS_117:It reaches only AWS APIs (DynamoDB, S3) and the AI service, which need no VPC.
  #checkov:skip=CKV_AWS_173:The environment holds names and settings, and WEBHOOK_SECRET when webhooks are on, which Lambda encrypts at rest with its own key; a customer-managed key would add KMS to every deployment.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile per account; out of scope for this service.
  count = local.functions

  function_name    = local.worker_function_name
  description      = "Smart-crop worker: AI object location, crop and store, invoked asynchronously per job."
  role             = aws_iam_role.worker[0].arn
  runtime          = "python3.12"
  architectures    = [var.lambda_architecture]
  handler          = "app.handler"
  filename         = local.worker_package_path
  source_code_hash = fileexists(local.worker_package_path) ? filebase64sha256(local.worker_package_path) : null
  memory_size      = var.worker_memory_mb
  timeout          = var.worker_timeout_seconds
  # None by default (-1): a reservation fails `apply` on accounts with a low concurrency quota.
  reserved_concurrent_executions = var.worker_reserved_concurrency

  tracing_config {
    mode = "Active"
  }

  environment {
    variables = local.worker_environment
  }

  depends_on = [aws_cloudwatch_log_group.worker, aws_iam_role_policy.worker]

  lifecycle {
    precondition {
      condition     = fileexists(local.worker_package_path)
      error_message = "The worker function zip is missing; build it with `make package`."
    }
    # The AI's attempts (with their backoff, bounded by the locator's own deadline) must end before the worker does.
    precondition {
      condition     = var.ai_timeout_seconds * var.ai_max_attempts < var.worker_timeout_seconds
      error_message = "ai_timeout_seconds x ai_max_attempts must be less than worker_timeout_seconds."
    }
  }
}

resource "aws_sqs_queue" "worker_dlq" {
  count = local.functions

  name                      = "${local.worker_function_name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_lambda_function_event_invoke_config" "worker" {
  count = local.functions

  function_name          = aws_lambda_function.worker[0].function_name
  maximum_retry_attempts = var.worker_maximum_retry_attempts
  # From the job deadline (image_processor.settings.async_event_max_age_seconds): an event delivered at
  # this age still finishes, within the worker's timeout, before the API would report the job failed.
  maximum_event_age_in_seconds = var.job_deadline_seconds - var.worker_timeout_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.worker_dlq[0].arn
    }
  }

  # Lambda checks that the role may send to the destination when the config is saved.
  depends_on = [aws_iam_role_policy.worker_dead_letter]

}
