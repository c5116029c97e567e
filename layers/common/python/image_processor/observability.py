import os
from functools import cache

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE_NAME = "product-image-processor"
# Read from POWERTOOLS_METRICS_NAMESPACE, here and by Settings, so that all EMF metrics share one namespace.
DEFAULT_METRICS_NAMESPACE = "ProductImageProcessor"
# Only the AWS SDK is traced: patching every module X-Ray knows would import httpx and others at cold start.
TRACED_MODULES = ("botocore",)

_logger = Logger(service=SERVICE_NAME, child=True)


def service_logger(level: str) -> Logger:
    """The root Powertools logger (JSON, one line per event); library modules log through child loggers."""
    return Logger(service=SERVICE_NAME, level=level)


def handler_metrics() -> Metrics:
    """Powertools Metrics for a Lambda handler's `log_metrics` (its ColdStart metric); the service's own
    metrics go through image_processor.metrics."""
    return Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE)


@cache
def service_tracer() -> Tracer:
    """Powertools Tracer (X-Ray). It turns itself off outside Lambda and with POWERTOOLS_TRACE_DISABLED=true,
    so under uvicorn and in tests every call on it does nothing."""
    return Tracer(service=SERVICE_NAME, patch_modules=TRACED_MODULES)


def annotate_trace(**annotations: str) -> None:
    """Searchable X-Ray annotations (image_id, job_status) on the current segment of this thread."""
    # Powertools traces on Lambda only. Elsewhere the tracer is not even built: outside Lambda, X-Ray's
    # recorder creates AWS clients for its sampling rules, up to a second on the first request.
    if "AWS_LAMBDA_FUNCTION_NAME" not in os.environ:
        return
    tracer = service_tracer()
    for key, value in annotations.items():
        try:
            tracer.put_annotation(key=key, value=value)
        except Exception:  # tracing must never fail a request (e.g. a thread without a segment of its own)
            _logger.debug("trace annotation skipped", extra={"annotation": key})
