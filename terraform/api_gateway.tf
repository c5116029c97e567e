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
  # Multipart uploads reach the function base64-encoded and JPEG responses leave it as binary.
  # REST APIs pick binary handling of a response by the client's Accept header, so */* is listed
  # for clients (browsers, curl) that send a generic one; Mangum base64-encodes only non-text bodies.
  binary_media_types = ["multipart/form-data", "image/jpeg", "*/*"]

  # The root path and every path below it, both with ANY.
  api_resources = var.create_functions ? {
    root  = aws_api_gateway_rest_api.this[0].root_resource_id
    proxy = aws_api_gateway_resource.proxy[0].id
  } : {}
}

resource "aws_api_gateway_method" "any" {
  #checkov:skip=CKV_AWS_59:The contract defines a public API for the UI; abuse is bounded by stage throttling and the per-IP rate limit. Add an authorizer when the UI has identities.
  #checkov:skip=CKV2_AWS_53:Requests are validated by the FastAPI app, which returns the service's own error shape.
  for_each = local.api_resources

  rest_api_id   = aws_api_gateway_rest_api.this[0].id
  resource_id   = each.value
  http_method   = "ANY"
  authorization = "NONE"
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

resource "aws_api_gateway_deployment" "this" {
  count = local.functions

  rest_api_id = aws_api_gateway_rest_api.this[0].id

  triggers = {
    redeployment = sha1(jsonencode([
      local.binary_media_types,
      aws_api_gateway_resource.proxy[0].id,
      [for method in aws_api_gateway_method.any : method.id],
      [for integration in aws_api_gateway_integration.lambda : integration.id],
    ]))
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_120:Responses are per-request crops and short-lived job states; caching would serve stale job status.
  #checkov:skip=CKV_AWS_73:Tracing is off; the request id in the function's logs correlates requests.
  #checkov:skip=CKV_AWS_76:Access logs need the account-wide API Gateway CloudWatch role; the function logs every request with its client IP.
  #checkov:skip=CKV2_AWS_29:A WAF web ACL is an account-level decision; the per-IP rate limit and stage throttling guard this API.
  #checkov:skip=CKV2_AWS_51:Clients are browsers of the UI, not services holding certificates.
  #checkov:skip=CKV2_AWS_4:Execution logging needs the account-wide CloudWatch role; the function logs every request.
  count = local.functions

  rest_api_id   = aws_api_gateway_rest_api.this[0].id
  deployment_id = aws_api_gateway_deployment.this[0].id
  stage_name    = var.api_stage_name
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
