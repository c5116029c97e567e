# Alarms on what needs a person, each with what it means in its description (docs/operations.md says
# what to do). Retries are by design, so a worker error alone alarms nothing: a job that failed for good,
# an event left waiting or dropped, a throttle, a duration near its timeout, a 5xx rate, a DynamoDB
# throttle do. Every alarm notifies the alarm topic (observability.tf) on entering and leaving ALARM.

locals {
  # The worker's maximum event age (lambda.tf), in the milliseconds AsyncEventAge is reported in.
  worker_max_event_age_ms = (var.job_deadline_seconds - var.worker_timeout_seconds) * 1000

  # Every entry has the same fields; statistic or extended_statistic (a percentile) is null.
  alarms = var.create_functions ? {
    failed_jobs = {
      description        = "Smart-crop jobs failed for good (the AI never answered, an image the worker refused, or the deadline passed). Clients see status failed."
      namespace          = var.metrics_namespace
      metric             = "Crops"
      dimensions         = { service = var.name_prefix, kind = "smart", outcome = "failed" }
      statistic          = "Sum"
      extended_statistic = null
      threshold          = var.failed_jobs_alarm_threshold
      periods            = 1
    }
    dead_letters = {
      description        = "Worker events failed every retry and were dead-lettered; their jobs fail at the deadline and their staged originals expire with the lifecycle rule."
      namespace          = "AWS/SQS"
      metric             = "ApproximateNumberOfMessagesVisible"
      dimensions         = { QueueName = aws_sqs_queue.worker_dlq[0].name }
      statistic          = "Maximum"
      extended_statistic = null
      threshold          = 0
      periods            = 1
    }
    worker_event_age = {
      description        = "Worker events waited over 80 % of their maximum age in Lambda's queue (throttling or failing retries); older ones are dropped to the dead-letter queue."
      namespace          = "AWS/Lambda"
      metric             = "AsyncEventAge"
      dimensions         = { FunctionName = aws_lambda_function.worker[0].function_name }
      statistic          = "Maximum"
      extended_statistic = null
      threshold          = floor(local.worker_max_event_age_ms * 0.8)
      periods            = 1
    }
    worker_events_dropped = {
      description        = "Lambda dropped worker events (too old, or retries spent) without running them to the end."
      namespace          = "AWS/Lambda"
      metric             = "AsyncEventsDropped"
      dimensions         = { FunctionName = aws_lambda_function.worker[0].function_name }
      statistic          = "Sum"
      extended_statistic = null
      threshold          = 0
      periods            = 1
    }
    api_throttles = {
      description        = "Lambda refused API invocations for want of concurrency; clients got 5xx from API Gateway."
      namespace          = "AWS/Lambda"
      metric             = "Throttles"
      dimensions         = { FunctionName = aws_lambda_function.api[0].function_name }
      statistic          = "Sum"
      extended_statistic = null
      threshold          = 0
      periods            = 1
    }
    worker_throttles = {
      description        = "Lambda held worker events back for want of concurrency (the reserved concurrency, or the account's); they wait and age."
      namespace          = "AWS/Lambda"
      metric             = "Throttles"
      dimensions         = { FunctionName = aws_lambda_function.worker[0].function_name }
      statistic          = "Sum"
      extended_statistic = null
      threshold          = 0
      periods            = 1
    }
    api_duration_p99 = {
      description        = "The API function's p99 duration is over 80 % of its timeout; slower requests end as timeouts."
      namespace          = "AWS/Lambda"
      metric             = "Duration"
      dimensions         = { FunctionName = aws_lambda_function.api[0].function_name }
      statistic          = null
      extended_statistic = "p99"
      threshold          = var.api_timeout_seconds * 1000 * 0.8
      periods            = 1
    }
    worker_duration_p99 = {
      description        = "The worker's p99 duration is over 80 % of its timeout (a slow AI or large images); slower jobs time out and are retried."
      namespace          = "AWS/Lambda"
      metric             = "Duration"
      dimensions         = { FunctionName = aws_lambda_function.worker[0].function_name }
      statistic          = null
      extended_statistic = "p99"
      threshold          = var.worker_timeout_seconds * 1000 * 0.8
      periods            = 1
    }
    api_5xx_rate = {
      # 5XXError is 0 or 1 per request, so its average is the share of requests answered 5xx.
      description        = "Over ${var.api_5xx_rate_alarm_threshold * 100} % of API requests were answered 5xx for 10 minutes (function errors, timeouts, throttles, or API Gateway's own failures)."
      namespace          = "AWS/ApiGateway"
      metric             = "5XXError"
      dimensions         = { ApiName = aws_api_gateway_rest_api.this[0].name, Stage = aws_api_gateway_stage.this[0].stage_name }
      statistic          = "Average"
      extended_statistic = null
      threshold          = var.api_5xx_rate_alarm_threshold
      periods            = 2
    }
  } : {}
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name_prefix}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  extended_statistic  = each.value.extended_statistic
  period              = 300
  evaluation_periods  = each.value.periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]
}

# DynamoDB throttling, per table: reads and writes refused (on-demand tables throttle beyond twice their
# previous peak, or at the account's table limits). Callers see the service's 503.
resource "aws_cloudwatch_metric_alarm" "dynamodb_throttles" {
  for_each = var.create_functions ? aws_dynamodb_table.this : {}

  alarm_name          = "${var.name_prefix}-dynamodb-throttles-${replace(each.key, "_", "-")}"
  alarm_description   = "DynamoDB throttled reads or writes of the ${each.key} table; the service answered 503 to those requests."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [local.alarm_topic_arn]
  ok_actions          = [local.alarm_topic_arn]

  metric_query {
    id          = "throttled"
    expression  = "reads + writes"
    label       = "Throttle events"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = { reads = "ReadThrottleEvents", writes = "WriteThrottleEvents" }

    content {
      id = metric_query.key

      metric {
        namespace   = "AWS/DynamoDB"
        metric_name = metric_query.value
        dimensions  = { TableName = each.value.name }
        stat        = "Sum"
        period      = 300
      }
    }
  }
}
