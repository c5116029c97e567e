"""Lambda entry point for smart-crop jobs, invoked asynchronously with {"image_id": ...}, and for the webhook
retries its SQS queue holds (an event of `Records`, through the queue's event source mapping)."""

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_processor.assembly import WorkerRuntime, build_storage, build_worker_runtime
from image_processor.aws import clients as aws
from image_processor.jobs.retry_queue import receive_batch
from image_processor.observability import SERVICE_NAME, handler_metrics, service_tracer
from image_processor.settings import get_settings

logger = Logger(service=SERVICE_NAME)
tracer = service_tracer()
metrics = handler_metrics()


@cache
def _runtime() -> WorkerRuntime:
    settings = get_settings()
    return build_worker_runtime(settings, aws.client("dynamodb", settings), build_storage(settings))


@logger.inject_lambda_context(correlation_id_path="image_id")
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Raises on a transient failure so that Lambda retries the event, then dead-letters it."""
    runtime = _runtime()
    if "Records" in event:
        return receive_batch(runtime.webhooks.retry_queue if runtime.webhooks else None, event, context)
    runtime.idempotency.register_lambda_context(context)
    return runtime.process(job={"image_id": event["image_id"]})
