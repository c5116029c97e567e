# Webhook retries (docs/webhooks.md): a failed attempt is sent to this queue with its backoff as the
# message's DelaySeconds, and the worker function, fed by the event source mapping, makes the next
# attempt when it comes out. Waiting costs nothing; a message whose attempt raised (DynamoDB down)
# comes back after the visibility timeout and, past maxReceiveCount, goes to the dead-letter queue.

resource "aws_sqs_queue" "webhook_retries_dlq" {
  count = local.functions

  name                      = "${var.name_prefix}-webhook-retries-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

locals {
  webhook_retry_queue_name = "${var.name_prefix}-webhook-retries"
}

resource "aws_sqs_queue" "webhook_retries" {
  count = local.functions

  name                    = local.webhook_retry_queue_name
  sqs_managed_sse_enabled = true
  # Six times the worker's timeout, as AWS advises for a Lambda event source: a batch still running is
  # never handed to a second invocation.
  visibility_timeout_seconds = 6 * var.worker_timeout_seconds
  # A retry is due within the hour (up to 15 minutes per message, put back when it waits longer).
  message_retention_seconds = 4 * 3600

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.webhook_retries_dlq[0].arn
    maxReceiveCount     = 5
  })
}

resource "aws_lambda_event_source_mapping" "webhook_retries" {
  count = local.functions

  event_source_arn = aws_sqs_queue.webhook_retries[0].arn
  function_name    = aws_lambda_function.worker[0].arn
  # Each attempt takes at most WEBHOOK_TIMEOUT_SECONDS (5 s): ten fit well within the worker's timeout.
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  # Lambda checks that the role may read the queue when the mapping is created.
  depends_on = [aws_iam_role_policy.worker]
}
