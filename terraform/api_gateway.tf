# REST API in front of the API function: every path and method is proxied to FastAPI.

resource "aws_api_gateway_rest_api" "this" {
  count = local.functions

  name        = var.name_prefix
  description = "Product Image Processor HTTP API."

  binary_media_types = local.binary_media_types

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_resource" "proxy" {
  count = local.functions

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  parent_id   = aws_api_gateway_rest_api.this[0].root_resource_id
  path_part   = "{proxy+}"
}

locals {
  # Multipart uploads reach the function base64-encoded, and JPEG responses (IMAGE_DELIVERY=inline) leave
  # it as binary. Listed explicitly: LocalStack ignores "*/*", and on AWS "*/*" would also base64 every
  # JSON request body. Images normally leave through a 307 to S3 and never pass through the function.
  binary_media_types = ["multipart/form-data", "image/jpeg", "image/*", "application/octet-stream"]

  # The root path and every path below it, both with ANY.
  api_resources = var.create_functions ? {
    root  = aws_api_gateway_rest_api.this[0].root_resource_id
    proxy = aws_api_gateway_resource.proxy[0].id
  } : {}

  # Errors API Gateway answers itself (the function never runs), in the service's own JSON shape.
  # REQUEST_TOO_LARGE: a body over Lambda's 6 MB request limit (base64 included), about 4.5 MB of
  # multipart upload; larger images go through POST /uploads straight to S3.
  gateway_responses = var.create_functions ? {
    REQUEST_TOO_LARGE = {
      status  = "413"
      code    = "payload_too_large"
      message = "\"The request is larger than API Gateway passes to the function (about 4.5 MB of multipart upload). Upload larger images with POST /uploads.\""
    }
    THROTTLED = {
      status  = "429"
      code    = "throttled"
      message = "$context.error.messageString"
    }
    DEFAULT_4XX = {
      status  = null
      code    = "request_rejected"
      message = "$context.error.messageString"
    }
    DEFAULT_5XX = {
      status  = null
      code    = "gateway_error"
      message = "$context.error.messageString"
    }
  } : {}
}

resource "aws_api_gateway_method" "any" {
  #checkov:skip=CKV_AWS_59:The contract defines a public API for the UI; abuse is bounded by stage throttling and the per-IP rate limit, and enable_api_keys adds a key. Add an authorizer when the UI has identities.
  #checkov:skip=CKV2_AWS_53:Requests are validated by the FastAPI app, which returns the service's own error shape.
  for_each = local.api_resources

  rest_api_id      = aws_api_gateway_rest_api.this[0].id
  resource_id      = each.value
  http_method      = "ANY"
  authorization    = "NONE"
  api_key_required = var.enable_api_keys
}

resource "aws_api_gateway_integration" "lambda" {
  for_each = local.api_resources

  rest_api_id             = aws_api_gateway_rest_api.this[0].id
  resource_id             = each.value
  http_method             = aws_api_gateway_method.any[each.key].http_method
  type                    = "AWS_PROXY"
  integration_http_method = "POST"
  uri                     = aws_lambda_function.api[0].invoke_arn
}

resource "aws_api_gateway_gateway_response" "this" {
  for_each = local.gateway_responses

  rest_api_id   = aws_api_gateway_rest_api.this[0].id
  response_type = each.key
  status_code   = each.value.status

  # $context.error.messageString is already a quoted JSON string.
  response_templates = {
    "application/json" = "{\"error\":{\"code\":\"${each.value.code}\",\"message\":${each.value.message}}}"
  }

  response_parameters = {
    "gatewayresponse.header.Content-Type" = "'application/json'"
  }
}

resource "aws_api_gateway_deployment" "this" {
  count = local.functions

  rest_api_id = aws_api_gateway_rest_api.this[0].id

  triggers = {
    redeployment = sha1(jsonencode([
      local.binary_media_types,
      aws_api_gateway_resource.proxy[0].id,
      [for method in aws_api_gateway_method.any : method.id],
      [for integration in aws_api_gateway_integration.lambda : integration.id],
      [for method in aws_api_gateway_method.any : method.api_key_required],
      [for response in aws_api_gateway_gateway_response.this : response.id],
      [for response in aws_api_gateway_gateway_response.this : response.response_templates],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Responses are per-request crops and short-lived job states; caching would serve stale job status.
  #checkov:skip=CKV2_AWS_29:A WAF web ACL is an account-level decision; the per-IP rate limit and stage throttling guard this API.
  #checkov:skip=CKV2_AWS_51:Clients are browsers of the UI, not services holding certificates.
  #checkov:skip=CKV2_AWS_4:Execution logging needs the account-wide CloudWatch role; the function logs every request.
  count = local.functions

  rest_api_id   = aws_api_gateway_rest_api.this[0].id
  deployment_id = aws_api_gateway_deployment.this[0].id
  stage_name    = var.api_stage_name

  # X-Ray and JSON access logs (observability.tf); the logs need the account's API Gateway CloudWatch role.
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access[0].arn
    format          = local.api_access_log_format
  }

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Caching is off on purpose (see the stage).
  #checkov:skip=CKV_AWS_308:Caching is off on purpose, so there is no cache to encrypt.
  count = local.functions

  rest_api_id = aws_api_gateway_rest_api.this[0].id
  stage_name  = aws_api_gateway_stage.this[0].stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.api_throttling_rate_limit
    throttling_burst_limit = var.api_throttling_burst_limit
    metrics_enabled        = true
  }
}

resource "aws_lambda_permission" "api_gateway" {
  count = local.functions

  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.api[0].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.this[0].execution_arn}/*/*"
}

# Optional (enable_api_keys): every method requires the x-api-key header, checked against one key in a
# usage plan that also carries a daily quota.
resource "aws_api_gateway_api_key" "this" {
  count = var.create_functions && var.enable_api_keys ? 1 : 0

  name = "${var.name_prefix}-client"
}

resource "aws_api_gateway_usage_plan" "this" {
  count = var.create_functions && var.enable_api_keys ? 1 : 0

  name = "${var.name_prefix}-clients"

  api_stages {
    api_id = aws_api_gateway_rest_api.this[0].id
    stage  = aws_api_gateway_stage.this[0].stage_name
  }

  throttle_settings {
    rate_limit  = var.api_throttling_rate_limit
    burst_limit = var.api_throttling_burst_limit
  }

  quota_settings {
    limit  = var.api_quota_per_day
    period = "DAY"
  }
}

resource "aws_api_gateway_usage_plan_key" "this" {
  count = var.create_functions && var.enable_api_keys ? 1 : 0

  key_id        = aws_api_gateway_api_key.this[0].id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.this[0].id
}
