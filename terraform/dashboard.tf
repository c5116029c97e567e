# One CloudWatch dashboard: the service's own metrics (EMF, metrics_namespace), then the platform's
# (API Gateway, both functions, the worker's queueing, DynamoDB), and the alarms' states.

locals {
  api_function = one(aws_lambda_function.api[*].function_name)
  worker       = one(aws_lambda_function.worker[*].function_name)

  # Built whatever create_functions says (the names are null without functions); only the dashboard uses it.
  dashboard_widgets = [
    {
      title = "Crops by kind and outcome"
      stat  = "Sum"
      metrics = [for pair in setproduct(["manual", "smart"], ["succeeded", "rejected", "failed"]) :
      [var.metrics_namespace, "Crops", "service", var.name_prefix, "kind", pair[0], "outcome", pair[1]]]
    },
    {
      title = "Smart-crop job duration, acceptance to final state (s)"
      stat  = "p50"
      metrics = [
        [var.metrics_namespace, "JobDuration", "service", var.name_prefix, "outcome", "succeeded"],
        [var.metrics_namespace, "JobDuration", "service", var.name_prefix, "outcome", "succeeded", { stat = "p99" }],
        [var.metrics_namespace, "JobDuration", "service", var.name_prefix, "outcome", "failed", { stat = "p99" }],
      ]
    },
    {
      title = "AI calls: latency (s) and failures"
      stat  = "p50"
      metrics = [
        [var.metrics_namespace, "AiCallDuration", "service", var.name_prefix, "outcome", "succeeded"],
        [var.metrics_namespace, "AiCallDuration", "service", var.name_prefix, "outcome", "succeeded", { stat = "p99" }],
        [var.metrics_namespace, "AiCallFailures", "service", var.name_prefix, "failure", "transient", { stat = "Sum", yAxis = "right" }],
        [var.metrics_namespace, "AiCallFailures", "service", var.name_prefix, "failure", "permanent", { stat = "Sum", yAxis = "right" }],
      ]
    },
    {
      title = "Rate-limit refusals, cold starts, renditions"
      stat  = "Sum"
      metrics = [
        [var.metrics_namespace, "RateLimitRefusals", "service", var.name_prefix, "kind", "manual"],
        [var.metrics_namespace, "RateLimitRefusals", "service", var.name_prefix, "kind", "smart"],
        [var.metrics_namespace, "ColdStart", "function_name", local.api_function, "service", var.name_prefix],
        [var.metrics_namespace, "ColdStart", "function_name", local.worker, "service", var.name_prefix],
        [var.metrics_namespace, "RenditionRequests", "service", var.name_prefix, "result", "hit"],
        [var.metrics_namespace, "RenditionRequests", "service", var.name_prefix, "result", "miss"],
      ]
    },
    {
      title = "API Gateway: requests, 4xx, 5xx"
      stat  = "Sum"
      metrics = [for metric in ["Count", "4XXError", "5XXError"] :
      ["AWS/ApiGateway", metric, "ApiName", var.name_prefix, "Stage", var.api_stage_name]]
    },
    {
      title = "API Gateway latency (ms)"
      stat  = "p99"
      metrics = [
        ["AWS/ApiGateway", "Latency", "ApiName", var.name_prefix, "Stage", var.api_stage_name],
        ["AWS/ApiGateway", "IntegrationLatency", "ApiName", var.name_prefix, "Stage", var.api_stage_name],
      ]
    },
    {
      title   = "Functions: p99 duration (ms)"
      stat    = "p99"
      metrics = [for name in [local.api_function, local.worker] : ["AWS/Lambda", "Duration", "FunctionName", name]]
    },
    {
      title = "Functions: errors, throttles, concurrency"
      stat  = "Sum"
      metrics = concat(
        [for pair in setproduct(["Errors", "Throttles"], [local.api_function, local.worker]) :
        ["AWS/Lambda", pair[0], "FunctionName", pair[1]]],
        [for name in [local.api_function, local.worker] :
        ["AWS/Lambda", "ConcurrentExecutions", "FunctionName", name, { stat = "Maximum", yAxis = "right" }]],
      )
    },
    {
      title = "Worker queue: event age (ms), dropped, dead letters"
      stat  = "Maximum"
      metrics = [
        ["AWS/Lambda", "AsyncEventAge", "FunctionName", local.worker],
        ["AWS/Lambda", "AsyncEventsDropped", "FunctionName", local.worker, { stat = "Sum", yAxis = "right" }],
        ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", one(aws_sqs_queue.worker_dlq[*].name), { yAxis = "right" }],
      ]
    },
    {
      title = "DynamoDB throttle events"
      stat  = "Sum"
      metrics = [for pair in setproduct(["ReadThrottleEvents", "WriteThrottleEvents"], values(aws_dynamodb_table.this)[*].name) :
      ["AWS/DynamoDB", pair[0], "TableName", pair[1]]]
    },
  ]
}

resource "aws_cloudwatch_dashboard" "this" {
  count = local.functions

  dashboard_name = var.name_prefix
  dashboard_body = jsonencode({
    widgets = concat(
      [for index, widget in local.dashboard_widgets : {
        type   = "metric"
        x      = (index % 2) * 12
        y      = floor(index / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = widget.title
          region  = var.aws_region
          stat    = widget.stat
          period  = 300
          view    = "timeSeries"
          metrics = widget.metrics
        }
      }],
      [{
        type   = "alarm"
        x      = 0
        y      = ceil(length(local.dashboard_widgets) / 2) * 6
        width  = 24
        height = 4
        properties = {
          title  = "Alarms"
          alarms = concat(values(aws_cloudwatch_metric_alarm.this)[*].arn, values(aws_cloudwatch_metric_alarm.dynamodb_throttles)[*].arn)
        }
      }],
    )
  })
}
