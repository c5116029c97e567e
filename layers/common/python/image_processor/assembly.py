"""Builds the collaborators from settings: the one place that picks implementations."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import aws, imaging
from .dispatch import Dispatcher, LambdaDispatcher, LocalWorkerPool
from .idempotency_keys import DynamoDBAnswerStore
from .jobs import DynamoDBJobStore
from .manual_crop import ImageService
from .object_locator import HttpObjectLocator, MockObjectLocator, ObjectLocator
from .rate_limit import DynamoDBRateLimiter
from .services import Services
from .settings import Settings
from .smart_crop import SmartCropService
from .storage import ImageStore
from .worker import JobProcessor, SmartCropWorker, idempotent_processor

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class _LocalInvocationBudget:
    """Gives a local job the time budget a Lambda invocation has, so that Powertools expires the
    in-progress record of a job whose process died and the job can be picked up again."""

    budget_seconds: int

    def get_remaining_time_in_millis(self) -> int:
        return self.budget_seconds * 1000


def build_locator(settings: Settings) -> ObjectLocator:
    if settings.ai_backend == "http":
        assert settings.ai_service_url is not None  # Settings refuses AI_BACKEND=http without it
        return HttpObjectLocator(
            str(settings.ai_service_url),
            timeout_seconds=settings.ai_timeout_seconds,
            max_attempts=settings.ai_max_attempts,
        )
    return MockObjectLocator(latency_seconds=settings.mock_ai_latency_seconds)


@dataclass(frozen=True)
class WorkerRuntime:
    process: JobProcessor
    idempotency: IdempotencyConfig


def build_worker_runtime(settings: Settings, dynamodb: "DynamoDBClient", store: ImageStore) -> WorkerRuntime:
    imaging.keep_freed_blocks(settings.pillow_blocks_max)
    worker = SmartCropWorker(
        store=store,
        jobs=DynamoDBJobStore(dynamodb, settings.jobs_table, ttl_seconds=settings.job_ttl_seconds),
        locator=build_locator(settings),
        max_pixels=settings.max_image_pixels,
        jpeg_quality=settings.jpeg_quality,
        max_attempts=settings.job_max_attempts,
    )
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
    config = IdempotencyConfig(event_key_jmespath="image_id", expires_after_seconds=settings.idempotency_ttl_seconds)
    if settings.dispatcher == "local":
        config.register_lambda_context(cast(LambdaContext, _LocalInvocationBudget(settings.worker_timeout_seconds)))
    return WorkerRuntime(process=idempotent_processor(worker, persistence, config), idempotency=config)


def build_services(settings: Settings) -> Services:
    imaging.keep_freed_blocks(settings.pillow_blocks_max)
    dynamodb = aws.dynamodb_client(settings)
    store = ImageStore(settings.processed_images_dir)
    images = ImageService(
        store,
        max_pixels=settings.max_image_pixels,
        jpeg_quality=settings.jpeg_quality,
        concurrency=settings.image_concurrency,
    )
    jobs = DynamoDBJobStore(dynamodb, settings.jobs_table, ttl_seconds=settings.job_ttl_seconds)
    dispatcher = _build_dispatcher(settings, dynamodb, store)
    return Services(
        settings=settings,
        store=store,
        images=images,
        smart_crop=SmartCropService(images, store, jobs, dispatcher, deadline_seconds=settings.job_deadline_seconds),
        rate_limiter=DynamoDBRateLimiter(
            dynamodb,
            settings.rate_limit_table,
            limit=settings.rate_limit_requests,
            window_seconds=settings.rate_limit_window_seconds,
        ),
        dispatcher=dispatcher,
        manual_crop_rate_limiter=_build_manual_crop_limiter(settings, dynamodb),
        answers=DynamoDBAnswerStore(dynamodb, settings.idempotency_table, ttl_seconds=settings.idempotency_ttl_seconds),
    )


def _build_manual_crop_limiter(settings: Settings, dynamodb: "DynamoDBClient") -> DynamoDBRateLimiter | None:
    if settings.manual_crop_rate_limit_requests == 0:
        return None
    return DynamoDBRateLimiter(
        dynamodb,
        settings.rate_limit_table,
        limit=settings.manual_crop_rate_limit_requests,
        window_seconds=settings.manual_crop_rate_limit_window_seconds,
        key_prefix="manual-crop:",
    )


def _build_dispatcher(settings: Settings, dynamodb: "DynamoDBClient", store: ImageStore) -> Dispatcher:
    if settings.dispatcher == "lambda":
        return LambdaDispatcher(aws.lambda_client(settings), settings.worker_function_name)
    runtime = build_worker_runtime(settings, dynamodb, store)
    return LocalWorkerPool(
        lambda image_id: runtime.process(job={"image_id": image_id}),
        recover=store.staged_ids,
        concurrency=settings.local_worker_concurrency,
    )
