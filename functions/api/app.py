"""Lambda entry point for the HTTP API: the FastAPI app behind API Gateway, through Mangum."""

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from mangum import Mangum

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.observability import SERVICE_NAME, handler_metrics, service_tracer
from image_processor.settings import get_settings

logger = Logger(service=SERVICE_NAME)
tracer = service_tracer()
metrics = handler_metrics()


@cache
def _asgi_handler() -> Mangum:
    """Built on the first invocation and reused while the execution environment stays warm.

    The lifespan is off: Mangum would run the app's start-up and shutdown around every invocation.
    The one start-up step that matters on Lambda (storage's) runs here, once per environment;
    the Lambda dispatcher has no background tasks to start or stop.
    """
    services = build_services(get_settings())
    services.storage.start()
    return Mangum(create_app(services), lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)  # responses can be images
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _asgi_handler()(event, context)  # type: ignore[arg-type]  # Mangum's own LambdaContext protocol
