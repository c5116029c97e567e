"""Invalidating a deleted image's paths in the deployment's CloudFront distribution (CDN_DISTRIBUTION_ID)."""

import time
from collections.abc import Sequence
from typing import Any

from .errors import translate


class CloudFrontInvalidator:
    def __init__(self, client: Any, distribution_id: str) -> None:
        self._client = client
        self._distribution_id = distribution_id

    def invalidate(self, paths: Sequence[str]) -> None:
        """One CreateInvalidation for `paths` (each starting with `/`; a trailing `*` covers a folder)."""
        with translate(
            "CreateInvalidation",
            self._distribution_id,
            message="The CDN did not accept the invalidation; retry the delete.",
        ):
            self._client.create_invalidation(
                DistributionId=self._distribution_id,
                InvalidationBatch={
                    "Paths": {"Quantity": len(paths), "Items": list(paths)},
                    # Unique per call: CloudFront treats a repeated reference as the same request.
                    "CallerReference": f"delete-{time.time_ns()}",
                },
            )
