"""The collaborators the API is built from; each runtime (uvicorn, Lambda, tests) assembles its own."""

from collections.abc import Callable
from dataclasses import dataclass, field

from .admission.idempotency import IdempotentRequests
from .admission.rate_limit import RateLimiter
from .aws.readiness import Readiness
from .images import ImageService
from .jobs.acceptance import SmartCropService
from .jobs.dispatch import Dispatcher
from .metrics import ServiceMetrics, discarding
from .product_images import ProductImages
from .renditions import RenditionService
from .settings import Settings
from .storage.backend import StorageBackend
from .storage.uploads import UploadService


@dataclass(frozen=True)
class Services:
    settings: Settings
    storage: StorageBackend
    images: ImageService
    uploads: UploadService
    smart_crop: SmartCropService
    rate_limiter: RateLimiter
    dispatcher: Dispatcher
    readiness: Readiness
    product_images: ProductImages
    renditions: RenditionService
    # None: manual crop is not limited (MANUAL_CROP_RATE_LIMIT_REQUESTS=0).
    manual_crop_rate_limiter: RateLimiter | None = None
    # Smart crop's second limit, per IPv6 /48; None: off (IPV6_SITE_RATE_LIMIT_REQUESTS=0).
    ipv6_site_rate_limiter: RateLimiter | None = None
    # None: direct uploads are not limited (UPLOAD_RATE_LIMIT_REQUESTS=0).
    upload_rate_limiter: RateLimiter | None = None
    # None: image checks are not limited (CHECKS_RATE_LIMIT_REQUESTS=0).
    checks_rate_limiter: RateLimiter | None = None
    # None: Idempotency-Key headers are not honoured.
    idempotency: IdempotentRequests | None = None
    metrics: ServiceMetrics = field(default_factory=discarding)
    # The Prometheus text of GET /metrics; None where metrics leave another way (EMF lines on Lambda).
    metrics_exposition: Callable[[], bytes] | None = None
