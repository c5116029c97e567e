# The service's tables. Names and key/TTL attributes match image_processor.settings and
# tools/local_tables.py (a test checks that they agree).
locals {
  tables = {
    rate_limit = {
      name          = "${var.name_prefix}-rate-limits"
      hash_key      = "ip_address"
      ttl_attribute = "expires_at"
      range_key     = null
      time_index    = null
      sparse_index  = null
    }
    jobs = {
      name          = "${var.name_prefix}-jobs"
      hash_key      = "image_id"
      ttl_attribute = "expires_at"
      range_key     = null
      time_index    = null
      # Only a job whose webhook waits for a retry has the key: a restart of the uvicorn service lists
      # those from this index alone (image_processor.jobs.local.recovery).
      sparse_index = { name = "pending_webhooks", hash_key = "webhook_next_attempt_at" }
    }
    idempotency = {
      name          = "${var.name_prefix}-idempotency"
      hash_key      = "id"
      ttl_attribute = "expiration"
      range_key     = null
      time_index    = null
      sparse_index  = null
    }
    # A product's images: read and deleted by (product, image), listed newest first through the index.
    # Only a failed smart crop's entry sets expires_at (it goes with its job record).
    catalog = {
      name          = "${var.name_prefix}-catalog"
      hash_key      = "product_id"
      ttl_attribute = "expires_at"
      range_key     = "image_id"
      time_index    = { name = "newest_first", sort_key = "created_at" }
      sparse_index  = null
    }
  }
}

resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS-owned key (DynamoDB's default, no KMS involved, so LocalStack needs no KMS); a customer-managed key adds cost and key administration and protects nothing more for this data.
  #checkov:skip=CKV2_AWS_16:On-demand capacity scales by itself; auto scaling applies to provisioned tables only.
  for_each = local.tables

  name         = each.value.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = each.value.hash_key
  range_key    = each.value.range_key

  attribute {
    name = each.value.hash_key
    type = "S"
  }

  dynamic "attribute" {
    for_each = each.value.range_key == null ? [] : [each.value.range_key]
    content {
      name = attribute.value
      type = "S"
    }
  }

  dynamic "attribute" {
    for_each = each.value.time_index == null ? [] : [each.value.time_index.sort_key]
    content {
      name = attribute.value
      type = "N"
    }
  }

  dynamic "attribute" {
    for_each = each.value.sparse_index == null ? [] : [each.value.sparse_index.hash_key]
    content {
      name = attribute.value
      type = "N"
    }
  }

  dynamic "global_secondary_index" {
    for_each = each.value.sparse_index == null ? [] : [each.value.sparse_index]
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      projection_type = "ALL"
    }
  }

  dynamic "local_secondary_index" {
    for_each = each.value.time_index == null ? [] : [each.value.time_index]
    content {
      name            = local_secondary_index.value.name
      range_key       = local_secondary_index.value.sort_key
      projection_type = "ALL"
    }
  }

  ttl {
    attribute_name = each.value.ttl_attribute
    enabled        = true
  }

  # No server_side_encryption block: DynamoDB encrypts every table at rest with an AWS-owned key.
  # (enabled = true would switch to the AWS-managed KMS key, which needs KMS, also on LocalStack.)

  point_in_time_recovery {
    enabled = true
  }
}
