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

data "aws_iam_policy_document" "api" {
  count = local.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.api[0].arn}:*"]
  }

  # check: GetItem; acquire: UpdateItem (append), PutItem (prune).
  statement {
    sid       = "RateLimitState"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.this["rate_limit"].arn]
  }

  # Answers to requests sent with an Idempotency-Key (ids prefixed api-request#).
  statement {
    sid       = "IdempotencyKeys"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.this["idempotency"].arn]
  }

  statement {
    sid       = "JobRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.this["jobs"].arn]
  }

  statement {
    sid       = "QueueSmartCropJobs"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.worker[0].arn]
  }
}

data "aws_iam_policy_document" "worker" {
  count = local.functions

  statement {
    sid       = "WriteOwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker[0].arn}:*"]
  }

  statement {
    sid       = "JobRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.this["jobs"].arn]
  }

  statement {
    sid       = "IdempotencyRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.this["idempotency"].arn]
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
