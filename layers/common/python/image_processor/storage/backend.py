"""One storage backend's parts, chosen together (assembly.build_storage), so that no caller asks which it has."""

from collections.abc import Callable
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from ..observability import SERVICE_NAME
from .interfaces import DirectLinks, ResultStore, StagingArea, UploadInbox
from .uploads import TicketIssuer

logger = Logger(service=SERVICE_NAME, child=True)


@dataclass(frozen=True)
class StorageBackend:
    results: ResultStore
    staging: StagingArea
    inbox: UploadInbox
    # How a client is told to send a direct upload: a presigned POST to S3, or a signed form to the service.
    upload_tickets: TicketIssuer
    # Raises if storage does not answer with the permissions the service needs (GET /health/ready).
    check_ready: Callable[[], None]
    # Start-up work (folders to make, temporary files of interrupted writes to remove: how many); None: none.
    prepare: Callable[[], int] | None = None
    # Presigned reads for IMAGE_DELIVERY=redirect; None where the service serves the bytes itself.
    direct_links: DirectLinks | None = None
    # Origins outside the service a browser loads images from or uploads to (the studio's CSP); asked
    # when the studio is first served, as S3's are found by signing (only the API's role may sign).
    browser_origins: Callable[[], list[str]] = list

    def start(self) -> None:
        """The backend's start-up work, once per process (uvicorn's lifespan, a Lambda environment's first call)."""
        removed = self.prepare() if self.prepare is not None else 0
        if removed:
            logger.warning("removed temporary files left by an interrupted write", extra={"count": removed})
