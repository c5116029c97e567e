"""Builds the collaborators from settings: the one place that picks implementations."""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import imaging
from .admission.idempotency_keys import DynamoDBAnswerStore
from .admission.rate_limit import DynamoDBRateLimiter
from .aws import clients as aws
from .aws.cdn import CloudFrontInvalidator
from .aws.readiness import Probe, Readiness, dynamodb_table_probe
from .catalog.records import DynamoDBCatalog
from .images import ImageService
from .imaging.checks import load_profiles
from .jobs.acceptance import SmartCropService
from .jobs.dispatch import Dispatcher, LambdaDispatcher
from .jobs.local.pool import LocalWorkerPool
from .jobs.local.recovery import StagedUploads
from .jobs.local.timers import TimerScheduler
from .jobs.locator import MockObjectLocator, ObjectLocator
from .jobs.notify import DeliveryRecorder, InlineScheduler, Scheduler, WebhookNotifier
from .jobs.records import DynamoDBJobStore, Job, JobEndedHook
from .jobs.worker import JobProcessor, SmartCropWorker, claim_releaser, idempotent_processor
from .product_images import ProductImages
from .services import Services
from .settings import Settings
from .storage.filesystem import FileSystemImageStore
from .storage.keys import ImageStore
from .storage.s3 import S3ImageStore
from .storage.uploads import PresignedPostIssuer, SignedFormIssuer, TicketIssuer, UploadService
from .webhooks.targets import WebhookPolicy

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
        # Imported here: httpx and tenacity cost the worker's cold start about 20 ms, and only this uses them.
        from .jobs.locator_http import HttpObjectLocator

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
    worker: SmartCropWorker
    jobs: DynamoDBJobStore
    release_claim: Callable[[str], None]


def build_catalog(
    settings: Settings, dynamodb: "DynamoDBClient", *, clock: Callable[[], float] = time.time
) -> DynamoDBCatalog:
    return DynamoDBCatalog(dynamodb, settings.catalog_table, failed_ttl_seconds=settings.job_ttl_seconds, clock=clock)


def build_job_store(
    settings: Settings, dynamodb: "DynamoDBClient", *, clock: Callable[[], float] = time.time
) -> DynamoDBJobStore:
    """Job records; a job's end is written to its catalog entry and sent to its callback_url."""
    catalog = build_catalog(settings, dynamodb, clock=clock)
    hooks: list[JobEndedHook] = []

    def record_in_catalog(job: Job) -> None:
        catalog.job_ended(
            job.product_id,
            job.image_id,
            status=job.status,
            crop_box=job.crop_box,
            object_found=job.object_found,
            size_bytes=job.size_bytes,
        )

    store = DynamoDBJobStore(
        dynamodb,
        settings.jobs_table,
        ttl_seconds=settings.job_ttl_seconds,
        deadline_seconds=settings.job_deadline_seconds,
        clock=clock,
        on_end=hooks,
    )
    hooks.append(record_in_catalog)
    if settings.webhook_secret is not None and settings.webhook_url_prefixes:
        hooks.append(build_notifier(settings, store))
    return store


def build_webhook_policy(settings: Settings) -> WebhookPolicy:
    return WebhookPolicy(settings.webhook_url_prefixes)


# On Lambda a webhook's retries wait inside the invocation, for this long at most (docs/webhooks.md).
LAMBDA_WEBHOOK_BUDGET_SECONDS = 10.0


def build_notifier(settings: Settings, recorder: DeliveryRecorder) -> WebhookNotifier:
    assert settings.webhook_secret is not None
    # Imported here: httpx and standardwebhooks cost a cold start that only webhooks need.
    from .webhooks.sender import WebhookSender

    sender = WebhookSender(
        settings.webhook_secret.get_secret_value(),
        build_webhook_policy(settings),
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    scheduler: Scheduler = (
        TimerScheduler() if settings.dispatcher == "local" else InlineScheduler(LAMBDA_WEBHOOK_BUDGET_SECONDS)
    )
    return WebhookNotifier(sender, recorder, scheduler)


def build_worker_runtime(
    settings: Settings,
    dynamodb: "DynamoDBClient",
    store: ImageStore,
    *,
    locator: ObjectLocator | None = None,
    clock: Callable[[], float] = time.time,
    budget: imaging.MemoryBudget | None = None,
) -> WorkerRuntime:
    """The smart-crop worker behind Powertools idempotency. `locator` and `clock` replace the
    settings' AI and the wall clock (tests); everything else comes from `settings`."""
    imaging.configure(max_pixels=settings.max_image_pixels, pillow_blocks_max=settings.pillow_blocks_max)
    jobs = build_job_store(settings, dynamodb, clock=clock)
    worker = SmartCropWorker(
        store=store,
        jobs=jobs,
        locator=locator or build_locator(settings),
        max_pixels=settings.max_image_pixels,
        jpeg_quality=settings.jpeg_quality,
        max_attempts=settings.job_max_attempts,
        budget=budget or imaging.MemoryBudget(settings.image_memory_budget_bytes),
        profiles=load_profiles(settings.check_profiles_file),
    )
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
    config = IdempotencyConfig(event_key_jmespath="image_id", expires_after_seconds=settings.idempotency_ttl_seconds)
    if settings.dispatcher == "local":
        config.register_lambda_context(cast(LambdaContext, _LocalInvocationBudget(settings.worker_timeout_seconds)))
    return WorkerRuntime(
        process=idempotent_processor(worker, persistence, config),
        idempotency=config,
        worker=worker,
        jobs=jobs,
        release_claim=claim_releaser(persistence, config),
    )


def build_uploads(settings: Settings, store: ImageStore) -> UploadService:
    issuer: TicketIssuer
    if isinstance(store, S3ImageStore):
        issuer = PresignedPostIssuer(store.presigned_post, time.time)
    else:
        secret = settings.upload_signing_secret
        # Without a configured secret, forms signed by this process are valid in this process only.
        issuer = SignedFormIssuer(secret.get_secret_value().encode() if secret else secrets.token_bytes(32))
    return UploadService(store, issuer, max_bytes=settings.max_upload_bytes, ttl_seconds=settings.upload_ttl_seconds)


def build_store(settings: Settings) -> ImageStore:
    if settings.storage_backend == "s3":
        assert settings.s3_bucket is not None  # Settings refuses STORAGE_BACKEND=s3 without it
        return S3ImageStore(aws.s3_client(settings), settings.s3_bucket)
    return FileSystemImageStore(settings.processed_images_dir)


def build_services(
    settings: Settings,
    *,
    locator: ObjectLocator | None = None,
    clock: Callable[[], float] = time.time,
    dispatcher: Dispatcher | None = None,
    retry_delay_seconds: float = 2.0,
) -> Services:
    """Everything the API needs. The keyword arguments exist for tests: a locator instead of the
    settings' AI, a clock instead of the wall clock, a dispatcher instead of the settings' one, and
    the local pool's first retry delay."""
    imaging.configure(max_pixels=settings.max_image_pixels, pillow_blocks_max=settings.pillow_blocks_max)
    dynamodb = aws.dynamodb_client(settings)
    store = build_store(settings)
    budget = imaging.MemoryBudget(settings.image_memory_budget_bytes)
    catalog = build_catalog(settings, dynamodb, clock=clock)
    images = ImageService(
        store,
        max_pixels=settings.max_image_pixels,
        jpeg_quality=settings.jpeg_quality,
        concurrency=settings.image_concurrency,
        budget=budget,
        catalog=catalog,
    )
    jobs = build_job_store(settings, dynamodb, clock=clock)
    if dispatcher is None:
        dispatcher = _build_dispatcher(settings, dynamodb, store, locator, clock, retry_delay_seconds, budget)
    smart_crop = SmartCropService(
        images,
        store,
        jobs,
        dispatcher,
        deadline_seconds=settings.job_deadline_seconds,
        clock=clock,
        catalog=catalog,
        webhooks=build_webhook_policy(settings),
    )
    cdn = (
        CloudFrontInvalidator(aws.cloudfront_client(settings), settings.cdn_distribution_id)
        if settings.cdn_distribution_id
        else None
    )
    return Services(
        settings=settings,
        store=store,
        images=images,
        uploads=build_uploads(settings, store),
        smart_crop=smart_crop,
        product_images=ProductImages(
            catalog, store, jobs, smart_crop, cdn=cdn, profiles=load_profiles(settings.check_profiles_file)
        ),
        rate_limiter=DynamoDBRateLimiter(
            dynamodb,
            settings.rate_limit_table,
            limit=settings.rate_limit_requests,
            window_seconds=settings.rate_limit_window_seconds,
            clock=clock,
        ),
        dispatcher=dispatcher,
        readiness=build_readiness(settings, dynamodb, store),
        manual_crop_rate_limiter=_build_manual_crop_limiter(settings, dynamodb, clock),
        answers=DynamoDBAnswerStore(dynamodb, settings.idempotency_table, ttl_seconds=settings.idempotency_ttl_seconds),
    )


def _build_manual_crop_limiter(
    settings: Settings, dynamodb: "DynamoDBClient", clock: Callable[[], float]
) -> DynamoDBRateLimiter | None:
    if settings.manual_crop_rate_limit_requests == 0:
        return None
    return DynamoDBRateLimiter(
        dynamodb,
        settings.rate_limit_table,
        limit=settings.manual_crop_rate_limit_requests,
        window_seconds=settings.manual_crop_rate_limit_window_seconds,
        key_prefix="manual-crop:",
        clock=clock,
    )


def build_readiness(settings: Settings, dynamodb: "DynamoDBClient", store: ImageStore) -> Readiness:
    """The API's dependencies: its four tables (the idempotency one holds Idempotency-Key answers) and storage."""
    tables = {
        "rate_limit": (settings.rate_limit_table, "ip_address"),
        "jobs": (settings.jobs_table, "image_id"),
        "idempotency": (settings.idempotency_table, "id"),
    }
    probes: dict[str, Probe] = {
        f"dynamodb:{role}": dynamodb_table_probe(dynamodb, table, key) for role, (table, key) in tables.items()
    }
    probes["dynamodb:catalog"] = dynamodb_table_probe(dynamodb, settings.catalog_table, "product_id", "image_id")
    probes["storage"] = store.check_ready
    return Readiness(probes)


def _build_dispatcher(
    settings: Settings,
    dynamodb: "DynamoDBClient",
    store: ImageStore,
    locator: ObjectLocator | None,
    clock: Callable[[], float],
    retry_delay_seconds: float,
    budget: imaging.MemoryBudget,
) -> Dispatcher:
    if settings.dispatcher == "lambda":
        return LambdaDispatcher(aws.lambda_client(settings), settings.worker_function_name)
    runtime = build_worker_runtime(settings, dynamodb, store, locator=locator, clock=clock, budget=budget)
    staged = StagedUploads(store, runtime.jobs, runtime.release_claim)
    return LocalWorkerPool(
        lambda image_id: runtime.process(job={"image_id": image_id}),
        recover=staged.recover,
        sweep=staged.sweep,
        give_up=runtime.jobs.fail,
        concurrency=settings.local_worker_concurrency,
        max_jobs=settings.local_queue_max_jobs,
        retry_delay_seconds=retry_delay_seconds,
    )
