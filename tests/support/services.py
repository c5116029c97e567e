"""Services assembled from real components (moto over the wire, files in a temp dir) with chosen parts swapped."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from PIL import Image

from image_processor import aws
from image_processor.assembly import build_store, build_uploads
from image_processor.dispatch import Dispatcher, LocalWorkerPool
from image_processor.errors import ObjectLocatorError
from image_processor.jobs import DynamoDBJobStore
from image_processor.manual_crop import ImageService
from image_processor.models import CropBox
from image_processor.object_locator import MockObjectLocator, ObjectLocator
from image_processor.observability import service_logger
from image_processor.rate_limit import DynamoDBRateLimiter
from image_processor.services import Services
from image_processor.settings import Settings
from image_processor.smart_crop import SmartCropService
from image_processor.worker import JobProcessor, SmartCropWorker, idempotent_processor


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingDispatcher:
    """Keeps the jobs it is handed instead of running them (the worker is tested on its own)."""

    def __init__(self) -> None:
        self.dispatched: list[str] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def dispatch(self, image_id: str) -> None:
        self.dispatched.append(image_id)


@dataclass
class RecordingLocator:
    """The pixel-based mock AI, counting its calls, optionally failing first or waiting for a go-ahead."""

    failures: list[ObjectLocatorError] = field(default_factory=list)
    gate: threading.Event | None = None
    calls: int = 0
    boxes: list[CropBox] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def locate(self, image: Image.Image) -> CropBox:
        with self._lock:
            self.calls += 1
            failure = self.failures.pop(0) if self.failures else None
        if self.gate is not None and not self.gate.wait(timeout=30):
            raise ObjectLocatorError("the test never released the AI", transient=False)
        if failure is not None:
            raise failure
        box = MockObjectLocator().locate(image)
        self.boxes.append(box)
        return box


class _InvocationBudget:
    """The time budget Powertools reads from a Lambda context: an in-progress record expires after it."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass(frozen=True)
class Assembled:
    services: Services
    process: JobProcessor
    worker: SmartCropWorker
    jobs: DynamoDBJobStore
    pool: LocalWorkerPool


def assemble(
    settings: Settings,
    *,
    locator: ObjectLocator | None = None,
    clock: Callable[[], float] = time.time,
    retry_delay_seconds: float = 0.05,
    dispatcher: Dispatcher | None = None,
) -> Assembled:
    """What `build_services` builds for uvicorn, with the AI, the clock and the retry delay chosen by the test."""
    service_logger(settings.log_level)
    dynamodb = aws.dynamodb_client(settings)
    store = build_store(settings)
    images = ImageService(
        store, max_pixels=settings.max_image_pixels, jpeg_quality=settings.jpeg_quality, concurrency=2
    )
    jobs = DynamoDBJobStore(dynamodb, settings.jobs_table, ttl_seconds=settings.job_ttl_seconds, clock=clock)
    worker = SmartCropWorker(
        store=store,
        jobs=jobs,
        locator=locator or MockObjectLocator(),
        max_pixels=settings.max_image_pixels,
        jpeg_quality=settings.jpeg_quality,
        max_attempts=settings.job_max_attempts,
    )
    persistence = DynamoDBPersistenceLayer(table_name=settings.idempotency_table, boto3_client=dynamodb)
    config = IdempotencyConfig(event_key_jmespath="image_id", expires_after_seconds=settings.idempotency_ttl_seconds)
    config.register_lambda_context(_InvocationBudget())  # type: ignore[arg-type]
    process = idempotent_processor(worker, persistence, config)
    pool = LocalWorkerPool(
        lambda image_id: process(job={"image_id": image_id}),
        recover=store.staged_ids,
        concurrency=settings.local_worker_concurrency,
        retry_delay_seconds=retry_delay_seconds,
    )
    smart_crop = SmartCropService(
        images, store, jobs, dispatcher or pool, deadline_seconds=settings.job_deadline_seconds, clock=clock
    )
    limiter = DynamoDBRateLimiter(
        dynamodb,
        settings.rate_limit_table,
        limit=settings.rate_limit_requests,
        window_seconds=settings.rate_limit_window_seconds,
        clock=clock,
    )
    services = Services(
        settings=settings,
        store=store,
        images=images,
        uploads=build_uploads(settings, store),
        smart_crop=smart_crop,
        rate_limiter=limiter,
        dispatcher=dispatcher or pool,
    )
    return Assembled(services=services, process=process, worker=worker, jobs=jobs, pool=pool)
