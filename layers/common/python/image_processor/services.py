"""The collaborators the API is built from; each runtime (uvicorn, Lambda, tests) assembles its own."""

from dataclasses import dataclass

from .dispatch import Dispatcher
from .idempotency_keys import AnswerStore
from .manual_crop import ImageService
from .rate_limit import RateLimiter
from .readiness import Readiness
from .settings import Settings
from .smart_crop import SmartCropService
from .storage import ImageStore
from .uploads import UploadService


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
    # None: manual crop is not limited (MANUAL_CROP_RATE_LIMIT_REQUESTS=0).
    manual_crop_rate_limiter: RateLimiter | None = None
    # None: Idempotency-Key headers are not honoured.
    answers: AnswerStore | None = None
