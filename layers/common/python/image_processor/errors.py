"""Domain errors: what went wrong, in the service's words. They know no HTTP; api/errors.py maps each to a status."""

from typing import Any


class ServiceError(Exception):
    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class InvalidRequest(ServiceError):
    """A field is missing, malformed or out of range (`field` names it)."""


class PayloadTooLarge(ServiceError):
    @classmethod
    def for_limit(cls, max_upload_bytes: int, *, field: str = "source_image") -> "PayloadTooLarge":
        """The one message for an upload over MAX_UPLOAD_BYTES, whichever check found it."""
        return cls(f"{field} is larger than the {max_upload_bytes} bytes allowed (MAX_UPLOAD_BYTES).", field=field)


class MalformedRequest(ServiceError):
    """The body cannot be read as what it claims to be (a broken multipart body)."""


class LengthRequired(ServiceError):
    """A body was sent without Content-Length (chunked)."""


class RequestTimeout(ServiceError):
    """The body did not arrive in time."""


class UnsupportedImage(ServiceError):
    """The bytes are not an image of an allowed format."""


class ImageTooLarge(ServiceError):
    """The image has more pixels, or would take more memory to decode, than the service allows."""


class ImageTooComplex(ServiceError):
    """Decoding would cost more CPU than allowed: too many JPEG scans, or past IMAGE_DECODE_TIMEOUT_SECONDS."""


class CropOutOfBounds(ServiceError):
    """The crop box leaves the image."""


class NotFound(ServiceError):
    """No such resource."""


class Gone(ServiceError):
    """The resource existed and has expired."""


class AlreadyReceived(ServiceError):
    """A direct upload was posted again after it had been received."""


class RateLimited(ServiceError):
    def __init__(self, message: str, *, retry_after_seconds: int, limit: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.limit = limit


class DependencyUnavailable(ServiceError):
    """A store or queue the request needs did not answer (see aws/errors.py)."""


class ServerBusy(ServiceError):
    """The process is at capacity (upload bytes in flight, UPLOAD_BUDGET_BYTES, or smart-crop jobs held,
    LOCAL_QUEUE_MAX_JOBS); the client should retry after Retry-After seconds."""

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ObjectLocatorError(Exception):
    """The AI service failed. `transient` says whether a retry may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class UnsupportedMediaType(ServiceError):
    """The body is not of the media type the endpoint takes."""


class JobRetryLater(Exception):
    """A smart-crop attempt hit a transient failure; the job should be delivered again later."""


class JobInProgress(JobRetryLater):
    """Another delivery of the same job holds its claim; this one should come back later."""


class Unauthorized(ServiceError):
    """API keys are on and the request has no known one."""


class InvalidHost(ServiceError):
    """The Host header names a host the service does not answer for."""


class Forbidden(ServiceError):
    """The request may not do this here (a DELETE to a service without API keys)."""


class OriginNotAllowed(ServiceError):
    """A web page of an origin that is not allowed sent the request."""


class IdempotencyKeyInProgress(ServiceError):
    """A request with this Idempotency-Key is still running."""


class IdempotencyKeyReused(ServiceError):
    """The Idempotency-Key was used before for a different request."""
