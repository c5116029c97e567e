# The two functions, their layers and logs, and the worker's asynchronous invocation settings.

resource "aws_lambda_layer_version" "common" {
  count = local.functions

  layer_name               = "${var.name_prefix}-common"
  description              = "The image_processor library shared by both functions."
  filename                 = local.common_layer_path
  source_code_hash         = fileexists(local.common_layer_path) ? filebase64sha256(local.common_layer_path) : null
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = [var.lambda_architecture]

  lifecycle {
    precondition {
      condition     = fileexists(local.common_layer_path)
      error_message = "The shared library layer zip is missing; build it with `make layers`."
    }
  }
}

resource "aws_lambda_layer_version" "deps" {
  count = local.functions

  layer_name               = "${var.name_prefix}-deps"
  description              = "Third-party dependencies (requirements/runtime.txt) built for the Lambda platform."
  filename                 = local.deps_layer_path
  source_code_hash         = fileexists(local.deps_layer_path) ? filebase64sha256(local.deps_layer_path) : null
  compatible_runtimes      = ["python3.12"]
  compatible_architectures = [var.lambda_architecture]

  lifecycle {
    precondition {
      condition     = fileexists(local.deps_layer_path)
      error_message = "The dependency layer zip is missing; build it with `make layers`."
    }
  }
}

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
  #checkov:skip=CKV_AWS_117:Runs outside a VPC unless enable_efs is set; it reaches only AWS APIs, which need no VPC.
  #checkov:skip=CKV_AWS_173:The environment holds table and function names only, no secrets.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile per account; out of scope for this service.
  #checkov:skip=CKV_AWS_50:Tracing is off; Powertools logs carry the request id as the correlation id.
  count = local.functions

  function_name    = local.api_function_name
  description      = "HTTP API: the FastAPI app behind API Gateway, through Mangum."
  role             = aws_iam_role.api[0].arn
  runtime          = "python3.12"
  architectures    = [var.lambda_architecture]
  handler          = "app.handler"
  filename         = local.api_package_path
  source_code_hash = fileexists(local.api_package_path) ? filebase64sha256(local.api_package_path) : null
  layers           = [aws_lambda_layer_version.deps[0].arn, aws_lambda_layer_version.common[0].arn]
  memory_size      = var.api_memory_mb
  timeout          = var.api_timeout_seconds

  environment {
    variables = local.common_environment
  }

  dynamic "vpc_config" {
    for_each = local.efs == 1 ? [1] : []
    content {
      subnet_ids         = var.efs_subnet_ids
      security_group_ids = [aws_security_group.lambda[0].id]
    }
  }

  dynamic "file_system_config" {
    for_each = local.efs == 1 ? [1] : []
    content {
      arn              = aws_efs_access_point.this[0].arn
      local_mount_path = var.processed_images_dir
    }
  }

  depends_on = [aws_cloudwatch_log_group.api, aws_iam_role_policy.api, aws_efs_mount_target.this]

  lifecycle {
    precondition {
      condition     = fileexists(local.api_package_path)
      error_message = "The API function zip is missing; build it with `make package`."
    }
  }
}

resource "aws_lambda_function" "worker" {
  #checkov:skip=CKV_AWS_116:Failed asynchronous events go to the SQS on-failure destination of aws_lambda_function_event_invoke_config.worker, which supersedes a dead-letter config.
  #checkov:skip=CKV_AWS_117:Runs outside a VPC unless enable_efs is set; it reaches only AWS APIs, which need no VPC.
  #checkov:skip=CKV_AWS_173:The environment holds table and function names only, no secrets.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile per account; out of scope for this service.
  #checkov:skip=CKV_AWS_50:Tracing is off; Powertools logs carry the image id as the correlation id.
  count = local.functions

  function_name                  = local.worker_function_name
  description                    = "Smart-crop worker: AI object location, crop and store, invoked asynchronously per job."
  role                           = aws_iam_role.worker[0].arn
  runtime                        = "python3.12"
  architectures                  = [var.lambda_architecture]
  handler                        = "app.handler"
  filename                       = local.worker_package_path
  source_code_hash               = fileexists(local.worker_package_path) ? filebase64sha256(local.worker_package_path) : null
  layers                         = [aws_lambda_layer_version.deps[0].arn, aws_lambda_layer_version.common[0].arn]
  memory_size                    = var.worker_memory_mb
  timeout                        = var.worker_timeout_seconds
  reserved_concurrent_executions = var.worker_reserved_concurrency

  environment {
    variables = local.common_environment
  }

  dynamic "vpc_config" {
    for_each = local.efs == 1 ? [1] : []
    content {
      subnet_ids         = var.efs_subnet_ids
      security_group_ids = [aws_security_group.lambda[0].id]
    }
  }

  dynamic "file_system_config" {
    for_each = local.efs == 1 ? [1] : []
    content {
      arn              = aws_efs_access_point.this[0].arn
      local_mount_path = var.processed_images_dir
    }
  }

  depends_on = [aws_cloudwatch_log_group.worker, aws_iam_role_policy.worker, aws_efs_mount_target.this]

  lifecycle {
    precondition {
      condition     = fileexists(local.worker_package_path)
      error_message = "The worker function zip is missing; build it with `make package`."
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

  function_name                = aws_lambda_function.worker[0].function_name
  maximum_retry_attempts       = var.worker_maximum_retry_attempts
  maximum_event_age_in_seconds = var.worker_maximum_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.worker_dlq[0].arn
    }
  }

  # Lambda checks that the role may send to the destination when the config is saved.
  depends_on = [aws_iam_role_policy.worker_dead_letter]
}
