# CloudFront in front of the images (enable_cdn; on by default in the `aws` workspace only, since
# LocalStack's free tier and moto have no CloudFront). docs/deploy.md explains the design:
#
# - One origin group: the private bucket first, through Origin Access Control, so a stored result or
#   rendition never reaches API Gateway or Lambda; on 403/404 (not stored yet; without s3:ListBucket a
#   missing key is 403) CloudFront retries the API, which makes the rendition, stores it beside the image
#   and answers. The next cache miss finds it in the bucket.
# - A CloudFront Function turns a negotiated address (no extension) into an explicit format from Accept,
#   so the cache key never depends on Accept, and maps /images/<key> to the bucket key <key>.
# - The API function links images here (PUBLIC_IMAGE_BASE_URL).

locals {
  enable_cdn = var.enable_cdn != null ? var.enable_cdn : terraform.workspace == "aws"
  cdn        = var.create_functions && local.enable_cdn ? 1 : 0

  # API Gateway's host from the REST API id alone: the stage depends (through its deployment) on the API
  # function, whose environment names this distribution.
  api_origin_domain = var.create_functions ? "${aws_api_gateway_rest_api.this[0].id}.execute-api.${var.aws_region}.amazonaws.com" : null

  cdn_bucket_origin = "images-bucket"
  cdn_api_origin    = "images-api"
  cdn_origin_group  = "images"

  cdn_domain_name = one(aws_cloudfront_distribution.images[*].domain_name)
}

resource "aws_cloudfront_origin_access_control" "images" {
  count = local.cdn

  name                              = "${var.name_prefix}-images"
  description                       = "CloudFront reads stored results and renditions from the private images bucket."
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_function" "images" {
  count = local.cdn

  name    = "${var.name_prefix}-images"
  comment = "Maps /images/<key> to the bucket key, negotiates the format of renditions without an extension."
  runtime = "cloudfront-js-2.0"
  publish = true
  code    = templatefile("${path.module}/cdn/images_function.js", { preset_formats = jsonencode(var.cdn_preset_formats) })
}

# The origin's Cache-Control decides (the service answers immutable for images and no-store for its
# presigned redirects); without one, as from S3, an object under these keys never changes.
resource "aws_cloudfront_cache_policy" "images" {
  count = local.cdn

  name        = "${var.name_prefix}-images"
  comment     = "Path only: no headers, cookies or query strings in the key (Accept is folded into the path)."
  min_ttl     = 0
  default_ttl = 31536000
  max_ttl     = 31536000

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_brotli = false
    enable_accept_encoding_gzip   = false

    cookies_config {
      cookie_behavior = "none"
    }
    headers_config {
      header_behavior = "none"
    }
    query_strings_config {
      query_string_behavior = "none"
    }
  }
}

resource "aws_cloudfront_response_headers_policy" "images" {
  count = local.cdn

  name    = "${var.name_prefix}-images"
  comment = "Security headers, and CORS for pages that fetch images from script."

  cors_config {
    access_control_allow_credentials = false
    access_control_max_age_sec       = 3600
    origin_override                  = true

    access_control_allow_headers {
      items = ["*"]
    }
    access_control_allow_methods {
      items = ["GET", "HEAD"]
    }
    access_control_allow_origins {
      items = var.cors_allowed_origins
    }
    access_control_expose_headers {
      items = ["ETag"]
    }
  }

  security_headers_config {
    content_type_options {
      override = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    referrer_policy {
      referrer_policy = "strict-origin-when-cross-origin"
      override        = false
    }
  }
}

resource "aws_cloudfront_distribution" "images" {
  #checkov:skip=CKV_AWS_86:Access logs need a log bucket; image views are anonymous reads of immutable objects, and every request that makes one is logged by the API function.
  #checkov:skip=CKV_AWS_68:A WAF web ACL is an account-level decision; only GET and HEAD of fixed image addresses pass, unknown addresses are answered at the edge, and the API behind keeps its throttling.
  #checkov:skip=CKV2_AWS_47:No WAF (see CKV_AWS_68); the origins are S3 and the service's own API, neither runs Log4j.
  #checkov:skip=CKV_AWS_174:The default *.cloudfront.net certificate has a fixed TLS policy; a custom domain (aliases and an ACM certificate) would set TLSv1.2_2021.
  #checkov:skip=CKV2_AWS_42:The default *.cloudfront.net certificate; a custom domain is the operator's choice.
  #checkov:skip=CKV_AWS_305:It serves images under /images/ only; the root is answered 404 at the edge.
  #checkov:skip=CKV_AWS_374:Product images are public content, served everywhere.
  count = local.cdn

  enabled         = true
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = var.cdn_price_class
  comment         = "${var.name_prefix}: stored images from S3, renditions not made yet from the API."

  origin {
    origin_id                = local.cdn_bucket_origin
    domain_name              = aws_s3_bucket.images[0].bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.images[0].id
  }

  origin {
    origin_id   = local.cdn_api_origin
    domain_name = local.api_origin_domain
    # The function strips /images for the bucket's keys; the stage and /images come back here.
    origin_path = "/${var.api_stage_name}/images"

    custom_origin_config {
      http_port              = 80
      https_port             = 443
      origin_protocol_policy = "https-only"
      origin_ssl_protocols   = ["TLSv1.2"]
    }

    # With enable_api_keys every method needs the key, including the image reads CloudFront makes.
    dynamic "custom_header" {
      for_each = aws_api_gateway_api_key.this[*].value
      content {
        name  = "x-api-key"
        value = custom_header.value
      }
    }
  }

  origin_group {
    origin_id = local.cdn_origin_group

    failover_criteria {
      status_codes = [403, 404]
    }
    member {
      origin_id = local.cdn_bucket_origin
    }
    member {
      origin_id = local.cdn_api_origin
    }
  }

  default_cache_behavior {
    target_origin_id           = local.cdn_origin_group
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = false
    cache_policy_id            = aws_cloudfront_cache_policy.images[0].id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.images[0].id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.images[0].arn
    }
    function_association {
      event_type   = "viewer-response"
      function_arn = aws_cloudfront_function.images[0].arn
    }
  }

  # A result of a smart-crop job is linked before it exists: a 404 is not kept, so it shows once made.
  custom_error_response {
    error_code            = 404
    error_caching_min_ttl = 0
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
