# Alarms on what needs a person: jobs that failed every retry, a failing worker, and the API answering 5xx.
# alarm_sns_topic_arn, when set, is notified on entering and leaving the ALARM state.

locals {
  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  alarms = var.create_functions ? {
    dead_letters = {
      description = "Smart-crop jobs failed every retry and were dead-lettered; their staged originals expire with the lifecycle rule."
      namespace   = "AWS/SQS"
      metric      = "ApproximateNumberOfMessagesVisible"
      statistic   = "Maximum"
      threshold   = 0
      dimensions  = { QueueName = aws_sqs_queue.worker_dlq[0].name }
    }
    worker_errors = {
      description = "The smart-crop worker raised errors (each one is retried, then dead-lettered)."
      namespace   = "AWS/Lambda"
      metric      = "Errors"
      statistic   = "Sum"
      threshold   = 0
      dimensions  = { FunctionName = aws_lambda_function.worker[0].function_name }
    }
    api_5xx = {
      description = "API Gateway answered 5xx (function errors, timeouts, or its own failures)."
      namespace   = "AWS/ApiGateway"
      metric      = "5XXError"
      statistic   = "Sum"
      threshold   = var.api_5xx_alarm_threshold
      dimensions  = { ApiName = aws_api_gateway_rest_api.this[0].name, Stage = aws_api_gateway_stage.this[0].stage_name }
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
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
