"""The collaborators the API is built from; each runtime (uvicorn, Lambda, tests) assembles its own."""

from dataclasses import dataclass

from .admission.idempotency_keys import AnswerStore
from .admission.rate_limit import RateLimiter
from .aws.readiness import Readiness
from .images import ImageService
from .jobs.acceptance import SmartCropService
from .jobs.dispatch import Dispatcher
from .product_images import ProductImages
from .settings import Settings
from .storage.keys import ImageStore
from .storage.uploads import UploadService


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: ImageStore
    images: ImageService
    uploads: UploadService
    smart_crop: SmartCropService
    rate_limiter: RateLimiter
    dispatcher: Dispatcher
    readiness: Readiness
    product_images: ProductImages
    # None: manual crop is not limited (MANUAL_CROP_RATE_LIMIT_REQUESTS=0).
    manual_crop_rate_limiter: RateLimiter | None = None
    # None: Idempotency-Key headers are not honoured.
    answers: AnswerStore | None = None
