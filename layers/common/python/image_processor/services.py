"""The collaborators the API is built from; each runtime (uvicorn, Lambda, tests) assembles its own."""

from dataclasses import dataclass

from .dispatch import Dispatcher
from .manual_crop import ImageService
from .rate_limit import RateLimiter
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
