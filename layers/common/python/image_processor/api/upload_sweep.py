"""Removing expired direct uploads while the service runs: once at start-up, then every few minutes.

Uploads signed by a process that has since died are removed too: the id carries its own expiry.
"""

import anyio
from aws_lambda_powertools import Logger

from ..errors import DependencyUnavailable
from ..observability import SERVICE_NAME
from ..storage.uploads import UploadService

logger = Logger(service=SERVICE_NAME, child=True)
MAX_SWEEP_INTERVAL_SECONDS = 300


async def sweep_uploads_periodically(uploads: UploadService, interval_seconds: float) -> None:
    while True:
        try:
            removed = await anyio.to_thread.run_sync(uploads.sweep)
        except DependencyUnavailable as exc:
            logger.warning("expired-upload sweep skipped", extra={"reason": str(exc)})
        else:
            if removed:
                logger.info("expired uploads removed", extra={"count": removed})
        await anyio.sleep(interval_seconds)
