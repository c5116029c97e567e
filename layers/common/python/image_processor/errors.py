"""Domain errors. Each carries the HTTP status and a stable code; the API maps them in one place."""

from typing import Any


class ServiceError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class InvalidRequest(ServiceError):
    status_code = 422
    code = "invalid_request"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"

    @classmethod
    def for_limit(cls, max_upload_bytes: int) -> "PayloadTooLarge":
        """The one message for an upload over MAX_UPLOAD_BYTES, whichever check found it."""
        return cls(
            f"source_image is larger than the {max_upload_bytes} bytes allowed (MAX_UPLOAD_BYTES).",
            field="source_image",
        )


class RequestTimeout(ServiceError):
    status_code = 408
    code = "request_timeout"


class UnsupportedImage(ServiceError):
    status_code = 415
    code = "unsupported_image"


class ImageTooLarge(ServiceError):
    status_code = 422
    code = "image_too_large"


class CropOutOfBounds(ServiceError):
    status_code = 422
    code = "crop_out_of_bounds"


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Gone(ServiceError):
    status_code = 410
    code = "gone"


class RateLimited(ServiceError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int, limit: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.limit = limit


class DependencyUnavailable(ServiceError):
    status_code = 503
    code = "service_unavailable"


class ServerBusy(ServiceError):
    """The process is at capacity (upload bytes in flight, UPLOAD_BUDGET_BYTES, or smart-crop jobs held,
    LOCAL_QUEUE_MAX_JOBS); the client should retry after Retry-After seconds."""

    status_code = 503
    code = "server_busy"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ObjectLocatorError(Exception):
    """The AI service failed. `transient` says whether a retry may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


class JobRetryLater(Exception):
    """A smart-crop attempt hit a transient failure; the job should be delivered again later."""


class JobInProgress(JobRetryLater):
    """Another delivery of the same job holds its claim; this one should come back later."""


class Unauthorized(ServiceError):
    status_code = 401
    code = "unauthorized"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"


class OriginNotAllowed(ServiceError):
    status_code = 403
    code = "origin_not_allowed"


class IdempotencyKeyInProgress(ServiceError):
    status_code = 409
    code = "idempotency_key_in_progress"


class IdempotencyKeyReused(ServiceError):
    status_code = 422
    code = "idempotency_key_reused"
