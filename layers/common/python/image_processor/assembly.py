"""Builds the collaborators from settings: the one place that picks implementations."""

import functools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.typing import LambdaContext

from . import imaging
from .admission.idempotency import IdempotentRequests
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
from .jobs.local.recovery import StagedUploads, reschedule_pending_deliveries
from .jobs.local.timers import TimerScheduler
from .jobs.locator import MeteredLocator, MockObjectLocator, ObjectLocator
from .jobs.notify import Scheduler, WebhookNotifier
from .jobs.records import DynamoDBJobStore, Job, JobEndedHook
from .jobs.retry_queue import NoRetries, RetryQueue
from .jobs.worker import JobProcessor, SmartCropWorker, claim_releaser, idempotent_processor
from .metrics import ServiceMetrics
from .presets import Preset, RenditionFormat, load_catalogue
from .product_images import ProductImages
from .renditions import Renderer, RenditionMaker, RenditionService
from .services import Services
from .settings import Settings
from .storage.backend import StorageBackend
from .storage.filesystem import FileSystemImageStore
from .storage.interfaces import ResultStore
from .storage.s3 import S3ImageStore
from .storage.uploads import PresignedPostIssuer, SignedFormIssuer, UploadService
from .webhooks.retries import Delivery
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


def build_imaging(settings: Settings) -> imaging.MemoryBudget:
    """Configures libvips and Pillow for this process, and makes the decode budget its crops share."""
    imaging.configure(
        max_pixels=settings.max_image_pixels,
        decode_timeout_seconds=settings.image_decode_timeout_seconds,
    )
    return imaging.MemoryBudget(settings.image_memory_budget_bytes)


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
class MetricsOutput:
    metrics: ServiceMetrics
    # The Prometheus text for GET /metrics; None when the lines go to the log instead (EMF).
    exposition: Callable[[], bytes] | None


def build_metrics(settings: Settings) -> MetricsOutput:
    if settings.metrics_backend == "emf":
        from .metrics.emf import EmfSink

        return MetricsOutput(ServiceMetrics(EmfSink(settings.powertools_metrics_namespace)), None)
    from .metrics.prometheus import PrometheusSink

    sink = PrometheusSink()
    return MetricsOutput(ServiceMetrics(sink), sink.exposition)


@dataclass(frozen=True)
class Webhooks:
    notifier: WebhookNotifier
    scheduler: Scheduler
    # The Lambda stack's retry queue, whose messages the worker function receives; None elsewhere.
    retry_queue: RetryQueue | None = None


@dataclass(frozen=True)
class WorkerRuntime:
    process: JobProcessor
    idempotency: IdempotencyConfig
    worker: SmartCropWorker
    jobs: DynamoDBJobStore
    release_claim: Callable[[str], None]
    webhooks: Webhooks | None = None


def build_catalog(
    settings: Settings, dynamodb: "DynamoDBClient", *, clock: Callable[[], float] = time.time
) -> DynamoDBCatalog:
    return DynamoDBCatalog(dynamodb, settings.catalog_table, failed_ttl_seconds=settings.job_ttl_seconds, clock=clock)


def build_job_store(
    settings: Settings, dynamodb: "DynamoDBClient", *, clock: Callable[[], float] = time.time
) -> DynamoDBJobStore:
    return build_jobs(settings, dynamodb, clock=clock)[0]


def build_jobs(
    settings: Settings, dynamodb: "DynamoDBClient", *, clock: Callable[[], float] = time.time
) -> tuple[DynamoDBJobStore, Webhooks | None]:
    """Job records; a job's end is written to its catalog entry and sent to its callback_url (the webhooks,
    None when they are off)."""
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
    webhooks = None
    if settings.webhook_secret is not None and settings.webhook_url_prefixes:
        webhooks = build_webhooks(settings, store)
        hooks.append(webhooks.notifier)
    return store, webhooks


def build_webhook_policy(settings: Settings) -> WebhookPolicy:
    return WebhookPolicy(settings.webhook_url_prefixes)


def build_webhooks(settings: Settings, jobs: DynamoDBJobStore) -> Webhooks:
    """The notifier and where its retries wait: a timer thread under uvicorn, the SQS retry queue on Lambda."""
    assert settings.webhook_secret is not None
    # Imported here: httpx and standardwebhooks cost a cold start that only webhooks need.
    from .webhooks.sender import WebhookSender

    sender = WebhookSender(
        settings.webhook_secret.get_secret_value(),
        build_webhook_policy(settings),
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    notifier: WebhookNotifier

    def deliver(delivery: Delivery) -> None:  # the notifier is made below, with the scheduler that calls this
        notifier.deliver(delivery)

    retry_queue = None
    scheduler: Scheduler
    # The queue first: the worker function runs with the default DISPATCHER (local), yet on Lambda.
    if settings.webhook_retry_queue_name:
        queue_name = settings.webhook_retry_queue_name
        scheduler = retry_queue = RetryQueue(lambda: aws.client("sqs", settings), queue_name, deliver)
    elif settings.dispatcher == "local":
        scheduler = TimerScheduler(deliver)
    else:
        scheduler = NoRetries(deliver)
    notifier = WebhookNotifier(sender, jobs, scheduler)
    return Webhooks(notifier, scheduler, retry_queue)


def build_rendition_maker(
    settings: Settings,
    results: ResultStore,
    budget: imaging.MemoryBudget,
    renderer: Renderer | None = None,
    catalog: DynamoDBCatalog | None = None,
) -> RenditionMaker:
    """`renderer` replaces libvips's (tests count generations with it); each rendition made is noted in
    `catalog`, so a product's listing shows it."""

    def render(data: bytes, preset: Preset, fmt: RenditionFormat) -> bytes:
        return imaging.render(data, preset, fmt, max_pixels=settings.max_image_pixels, budget=budget)

    return RenditionMaker(
        results,
        load_catalogue(settings.renditions_file),
        renderer or render,
        on_made=catalog.record_rendition if catalog is not None else None,
    )


def build_worker_runtime(
    settings: Settings,
    dynamodb: "DynamoDBClient",
    storage: StorageBackend,
    *,
    locator: ObjectLocator | None = None,
    clock: Callable[[], float] = time.time,
    budget: imaging.MemoryBudget | None = None,
    renderer: Renderer | None = None,
    metrics: ServiceMetrics | None = None,
) -> WorkerRuntime:
    """The smart-crop worker behind Powertools idempotency. `locator`, `clock` and `renderer` replace the
    settings' AI, the wall clock and libvips's renditions (tests); everything else comes from `settings`."""
    jobs, webhooks = build_jobs(settings, dynamodb, clock=clock)
    budget = budget or build_imaging(settings)
    metrics = metrics or build_metrics(settings).metrics
    worker = SmartCropWorker(
        results=storage.results,
        staging=storage.staging,
        jobs=jobs,
        locator=MeteredLocator(locator or build_locator(settings), metrics),
        max_pixels=settings.max_image_pixels,
        jpeg_quality=settings.jpeg_quality,
        max_attempts=settings.job_max_attempts,
        budget=budget,
        renditions=build_rendition_maker(
            settings, storage.results, budget, renderer, catalog=build_catalog(settings, dynamodb, clock=clock)
        ),
        metrics=metrics,
        clock=clock,
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
        webhooks=webhooks,
    )


def build_uploads(settings: Settings, storage: StorageBackend) -> UploadService:
    return UploadService(
        storage.inbox,
        storage.upload_tickets,
        max_bytes=settings.max_upload_bytes,
        ttl_seconds=settings.upload_ttl_seconds,
    )


def build_storage(settings: Settings) -> StorageBackend:
    """The one storage backend STORAGE_BACKEND names, every part of it."""
    if settings.storage_backend == "s3":
        assert settings.s3_bucket is not None  # Settings refuses STORAGE_BACKEND=s3 without it
        bucket = S3ImageStore(aws.client("s3", settings), settings.s3_bucket)
        return StorageBackend(
            results=bucket,
            staging=bucket,
            inbox=bucket,
            upload_tickets=PresignedPostIssuer(bucket.presigned_post, time.time),
            check_ready=bucket.check_ready,
            direct_links=bucket,
            browser_origins=bucket.browser_origins,
        )
    folder = FileSystemImageStore(settings.processed_images_dir)
    secret = settings.upload_signing_secret
    return StorageBackend(
        results=folder,
        staging=folder,
        inbox=folder,
        # Without a configured secret, forms signed by this process are valid in this process only.
        upload_tickets=SignedFormIssuer(secret.get_secret_value().encode() if secret else secrets.token_bytes(32)),
        check_ready=folder.check_ready,
        prepare=folder.prepare,
    )


def build_services(
    settings: Settings,
    *,
    locator: ObjectLocator | None = None,
    clock: Callable[[], float] = time.time,
    dispatcher: Dispatcher | None = None,
    retry_delay_seconds: float = 2.0,
    renderer: Renderer | None = None,
) -> Services:
    """Everything the API needs. The keyword arguments exist for tests: a locator instead of the
    settings' AI, a clock instead of the wall clock, a dispatcher instead of the settings' one,
    the local pool's first retry delay, and a renderer of renditions instead of libvips's."""
    budget = build_imaging(settings)
    dynamodb = aws.client("dynamodb", settings)
    storage = build_storage(settings)
    catalog = build_catalog(settings, dynamodb, clock=clock)
    images = ImageService(
        storage.results,
        direct_links=storage.direct_links,
        max_pixels=settings.max_image_pixels,
        jpeg_quality=settings.jpeg_quality,
        concurrency=settings.image_concurrency,
        budget=budget,
        catalog=catalog,
    )
    jobs = build_job_store(settings, dynamodb, clock=clock)
    metrics = build_metrics(settings)
    if dispatcher is None:
        dispatcher = _build_dispatcher(
            settings, dynamodb, storage, locator, clock, retry_delay_seconds, budget, renderer, metrics.metrics
        )
    smart_crop = SmartCropService(
        images,
        storage.results,
        storage.staging,
        jobs,
        dispatcher,
        deadline_seconds=settings.job_deadline_seconds,
        clock=clock,
        catalog=catalog,
        webhooks=build_webhook_policy(settings),
        metrics=metrics.metrics,
    )
    optional_limiter = functools.partial(_build_optional_limiter, settings, dynamodb, clock)
    cdn = (
        CloudFrontInvalidator(aws.client("cloudfront", settings), settings.cdn_distribution_id)
        if settings.cdn_distribution_id
        else None
    )
    return Services(
        settings=settings,
        storage=storage,
        images=images,
        uploads=build_uploads(settings, storage),
        smart_crop=smart_crop,
        product_images=ProductImages(
            catalog,
            storage.results,
            storage.staging,
            jobs,
            smart_crop,
            cdn=cdn,
            profiles=load_profiles(settings.check_profiles_file),
        ),
        rate_limiter=DynamoDBRateLimiter(
            dynamodb,
            settings.rate_limit_table,
            limit=settings.rate_limit_requests,
            window_seconds=settings.rate_limit_window_seconds,
            clock=clock,
        ),
        dispatcher=dispatcher,
        readiness=build_readiness(settings, dynamodb, storage),
        renditions=RenditionService(
            storage.results,
            images,
            build_rendition_maker(settings, storage.results, budget, renderer, catalog=catalog),
            metrics.metrics,
        ),
        manual_crop_rate_limiter=optional_limiter(
            settings.manual_crop_rate_limit_requests, settings.manual_crop_rate_limit_window_seconds, "manual-crop:"
        ),
        upload_rate_limiter=optional_limiter(
            settings.upload_rate_limit_requests, settings.upload_rate_limit_window_seconds, "upload:"
        ),
        checks_rate_limiter=optional_limiter(
            settings.checks_rate_limit_requests, settings.checks_rate_limit_window_seconds, "checks:"
        ),
        ipv6_site_rate_limiter=optional_limiter(
            settings.ipv6_site_rate_limit_requests, settings.rate_limit_window_seconds, "ipv6-site:"
        ),
        idempotency=IdempotentRequests(
            dynamodb, settings.idempotency_table, ttl_seconds=settings.idempotency_ttl_seconds
        ),
        metrics=metrics.metrics,
        metrics_exposition=metrics.exposition,
    )


def _build_optional_limiter(
    settings: Settings,
    dynamodb: "DynamoDBClient",
    clock: Callable[[], float],
    limit: int,
    window_seconds: int,
    key_prefix: str,
) -> DynamoDBRateLimiter | None:
    """A limit of its own in the rate-limit table (its keys prefixed apart); None when its limit is 0 (off)."""
    if limit == 0:
        return None
    return DynamoDBRateLimiter(
        dynamodb,
        settings.rate_limit_table,
        limit=limit,
        window_seconds=window_seconds,
        key_prefix=key_prefix,
        clock=clock,
    )


def build_readiness(settings: Settings, dynamodb: "DynamoDBClient", storage: StorageBackend) -> Readiness:
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
    probes["storage"] = storage.check_ready
    return Readiness(probes)


def _build_dispatcher(
    settings: Settings,
    dynamodb: "DynamoDBClient",
    storage: StorageBackend,
    locator: ObjectLocator | None,
    clock: Callable[[], float],
    retry_delay_seconds: float,
    budget: imaging.MemoryBudget,
    renderer: Renderer | None,
    metrics: ServiceMetrics,
) -> Dispatcher:
    if settings.dispatcher == "lambda":
        return LambdaDispatcher(aws.client("lambda", settings), settings.worker_function_name)
    runtime = build_worker_runtime(
        settings, dynamodb, storage, locator=locator, clock=clock, budget=budget, renderer=renderer, metrics=metrics
    )
    staged = StagedUploads(storage.results, storage.staging, runtime.jobs, runtime.release_claim)
    webhooks = runtime.webhooks

    def recover() -> list[str]:
        if webhooks is not None:
            reschedule_pending_deliveries(runtime.jobs, webhooks.scheduler)
        return staged.recover()

    return LocalWorkerPool(
        lambda image_id: runtime.process(job={"image_id": image_id}),
        recover=recover,
        sweep=staged.sweep,
        give_up=runtime.worker.give_up,
        concurrency=settings.local_worker_concurrency,
        max_jobs=settings.local_queue_max_jobs,
        retry_delay_seconds=retry_delay_seconds,
    )
