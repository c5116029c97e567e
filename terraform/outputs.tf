output "api_url" {
  # On LocalStack, the host form keeps the stage as the first path segment, as on AWS, so the API's links
  # (which keep the stage) resolve; the /restapis/<id>/<stage>/_user_request_ form would break them.
  description = "Base URL of the API: the stage's invoke URL on AWS, LocalStack's execute-api host form (http://<id>.execute-api.localhost.localstack.cloud:<port>/<stage>) on an emulator."
  value = var.create_functions ? (
    local.emulated
    ? "${local.endpoint_scheme}://${aws_api_gateway_rest_api.this[0].id}.execute-api.localhost.localstack.cloud:${local.endpoint_port}/${aws_api_gateway_stage.this[0].stage_name}"
    : aws_api_gateway_stage.this[0].invoke_url
  ) : null
}

output "cdn_domain_name" {
  description = "Domain of the CloudFront distribution in front of the images (the API links images there); null without the CDN."
  value       = local.cdn_domain_name
}

output "ai_backend" {
  description = "What locates objects for smart crop: the AI service's URL, or a warning that the mock runs."
  value = var.create_functions ? (
    var.ai_service_url == null
    ? "mock: no AI service is configured (ai_service_url), so smart crop centres its box after ${var.mock_ai_latency_seconds} simulated, billed seconds"
    : "http: ${var.ai_service_url}"
  ) : null
}

output "api_rest_api_id" {
  description = "ID of the REST API."
  value       = one(aws_api_gateway_rest_api.this[*].id)
}

output "api_function_name" {
  description = "Name of the API function."
  value       = one(aws_lambda_function.api[*].function_name)
}

output "worker_function_name" {
  description = "Name of the smart-crop worker function."
  value       = one(aws_lambda_function.worker[*].function_name)
}

output "worker_dead_letter_queue_url" {
  description = "URL of the queue that receives worker events that failed every retry."
  value       = one(aws_sqs_queue.worker_dlq[*].url)
}

output "webhook_retry_queue_url" {
  description = "URL of the queue where failed webhook attempts wait for their retry (the functions get its name, WEBHOOK_RETRY_QUEUE_NAME)."
  value       = one(aws_sqs_queue.webhook_retries[*].url)
}

output "dynamodb_table_names" {
  description = "Table names by role (rate_limit, jobs, idempotency); they match the service's settings defaults."
  value       = { for role, table in aws_dynamodb_table.this : role => table.name }
}

output "images_bucket" {
  description = "Name of the private images bucket (S3_BUCKET of both functions)."
  value       = one(aws_s3_bucket.images[*].bucket)
}

output "api_key" {
  description = "The API key to send as x-api-key, when enable_api_keys is true."
  value       = one(aws_api_gateway_api_key.this[*].value)
  sensitive   = true
}

output "alarm_names" {
  description = "CloudWatch alarms (alarms.tf; docs/operations.md says what to do when each fires)."
  value = concat(
    [for alarm in aws_cloudwatch_metric_alarm.this : alarm.alarm_name],
    [for alarm in aws_cloudwatch_metric_alarm.dynamodb_throttles : alarm.alarm_name],
  )
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies (alarm_sns_topic_arn, else the stack's own)."
  value       = local.alarm_topic_arn
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = one(aws_cloudwatch_dashboard.this[*].dashboard_name)
}

output "api_access_log_group" {
  description = "CloudWatch log group of the API Gateway stage's JSON access logs."
  value       = one(aws_cloudwatch_log_group.api_access[*].name)
}
