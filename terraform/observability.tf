# What an operator watches: API Gateway access logs and X-Ray on the stage, the alarm topic (with an
# optional e-mail subscription), and the account-wide role API Gateway writes its logs with.
# Alarms are in alarms.tf, the dashboard in dashboard.tf; the functions' tracing is in lambda.tf.

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:Logs are encrypted by CloudWatch by default; they hold no secrets that would justify a customer-managed key.
  #checkov:skip=CKV_AWS_338:Operational logs; retention is a variable (30 days by default) to keep cost in proportion.
  count = local.functions

  name              = "/aws/apigateway/${var.name_prefix}-access"
  retention_in_days = var.log_retention_days
}

locals {
  # One JSON object per request (API Gateway's $context variables); the request id matches the function's
  # logs (its correlation id), the trace id X-Ray's.
  api_access_log_format = jsonencode({
    requestId          = "$context.requestId"
    extendedRequestId  = "$context.extendedRequestId"
    requestTime        = "$context.requestTimeEpoch"
    ip                 = "$context.identity.sourceIp"
    userAgent          = "$context.identity.userAgent"
    apiKeyId           = "$context.identity.apiKeyId"
    httpMethod         = "$context.httpMethod"
    path               = "$context.path"
    resourcePath       = "$context.resourcePath"
    status             = "$context.status"
    responseLength     = "$context.responseLength"
    responseLatency    = "$context.responseLatency"
    integrationLatency = "$context.integration.latency"
    integrationStatus  = "$context.integration.status"
    errorType          = "$context.error.responseType"
    errorMessage       = "$context.error.message"
    xrayTraceId        = "$context.xrayTraceId"
  })
}

# API Gateway writes access logs with one role per account and region, set in its account settings; a
# stage with access logs cannot be created until it is. manage_api_gateway_account = false leaves an
# existing setting alone.
data "aws_iam_policy_document" "api_gateway_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["apigateway.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "api_gateway_cloudwatch" {
  count = var.create_functions && var.manage_api_gateway_account ? 1 : 0

  name               = "${var.name_prefix}-apigateway-cloudwatch"
  assume_role_policy = data.aws_iam_policy_document.api_gateway_assume.json
}

resource "aws_iam_role_policy_attachment" "api_gateway_cloudwatch" {
  count = var.create_functions && var.manage_api_gateway_account ? 1 : 0

  role       = aws_iam_role.api_gateway_cloudwatch[0].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count = var.create_functions && var.manage_api_gateway_account ? 1 : 0

  cloudwatch_role_arn = aws_iam_role.api_gateway_cloudwatch[0].arn

  depends_on = [aws_iam_role_policy_attachment.api_gateway_cloudwatch]
}

resource "aws_sns_topic" "alarms" {
  #checkov:skip=CKV_AWS_26:CloudWatch alarms cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer-managed key is out of scope; alarm notifications carry no secrets.
  count = var.create_functions && var.alarm_sns_topic_arn == null ? 1 : 0

  name = "${var.name_prefix}-alarms"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.create_functions && var.alarm_email != null ? 1 : 0

  topic_arn = local.alarm_topic_arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  alarm_topic_arn = var.create_functions ? coalesce(var.alarm_sns_topic_arn, one(aws_sns_topic.alarms[*].arn)) : null
}
