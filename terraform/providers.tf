locals {
  # An endpoint URL means LocalStack (or another AWS API emulator); none means real AWS.
  emulated = var.aws_endpoint_url != null && var.aws_endpoint_url != ""
  endpoint = local.emulated ? trimsuffix(var.aws_endpoint_url, "/") : null
  # The emulator's scheme and port, for LocalStack's execute-api host names (outputs.tf).
  endpoint_scheme = local.emulated ? split("://", local.endpoint)[0] : null
  endpoint_port   = local.emulated ? try(regex(":([0-9]+)$", local.endpoint)[0], local.endpoint_scheme == "https" ? "443" : "80") : null
}

provider "aws" {
  region = var.aws_region

  # Emulators accept any credentials; real AWS uses the default credential chain unless these are set.
  access_key = local.emulated ? coalesce(var.aws_access_key_id, "test") : var.aws_access_key_id
  secret_key = local.emulated ? coalesce(var.aws_secret_access_key, "test") : var.aws_secret_access_key

  skip_credentials_validation = local.emulated
  skip_metadata_api_check     = local.emulated
  skip_requesting_account_id  = local.emulated
  s3_use_path_style           = local.emulated

  endpoints {
    apigateway = local.endpoint
    cloudfront = local.endpoint
    cloudwatch = local.endpoint
    dynamodb   = local.endpoint
    iam        = local.endpoint
    lambda     = local.endpoint
    logs       = local.endpoint
    s3         = local.endpoint
    sns        = local.endpoint
    sqs        = local.endpoint
    sts        = local.endpoint
  }

  default_tags {
    tags = merge({ Service = var.name_prefix, ManagedBy = "terraform" }, var.tags)
  }
}
