"""Direct uploads: a client sends a large original straight to storage, then names it in a crop request.

`POST /uploads` issues a ticket (an id, form fields, an expiry). On S3 the ticket is a presigned POST;
on the file system it is a form the service itself accepts, signed with an HMAC. Either way the
upload lands at `.uploads/<upload_id>` and a crop request consumes it once.

The id carries its expiry (`<expires_at>-<random>`): the signed policy binds the exact key, so an
id cannot be stretched, and an expired one is told apart from an unknown one without a lookup.
An upload may be sent until `expires_at`, once, and used until `expires_at + ttl`; `sweep` removes it after.
"""

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import AlreadyReceived, Gone, InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from .interfaces import UploadInbox, UploadTooLarge
from .spool import SpooledUpload

_UPLOAD_ID_RE = re.compile(r"(?P<expires_at>[0-9]{10})-[0-9a-f]{32}")
IMAGE_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "image/bmp")
FIELD = "source_upload_id"
_MAX_BYTES_RE = re.compile(r"[0-9]{1,12}")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class UploadTicket:
    upload_id: str
    expires_at: int
    fields: dict[str, str]
    url: str | None  # None: the service's own upload endpoint (the API builds its URL, with `query`)
    query: dict[str, str] = field(default_factory=dict)


class TicketIssuer(Protocol):
    def issue(self, upload_id: str, expires_at: int, max_bytes: int) -> UploadTicket: ...
    def verify(self, upload_id: str, max_bytes: str | None, signature: str | None) -> int:
        """The size cap of a form the service was sent to receive itself; raises if the form is not one of ours."""


class PresignedPostIssuer:
    """S3 checks the policy: this key only, the size range, an image/ Content-Type, the expiry."""

    def __init__(self, presign: Callable[..., tuple[str, dict[str, str]]], clock: Callable[[], float]) -> None:
        self._presign = presign
        self._clock = clock

    def issue(self, upload_id: str, expires_at: int, max_bytes: int) -> UploadTicket:
        url, fields = self._presign(
            upload_id,
            max_bytes=max_bytes,
            content_types=IMAGE_CONTENT_TYPES,
            ttl_seconds=max(expires_at - int(self._clock()), 1),
        )
        return UploadTicket(upload_id=upload_id, expires_at=expires_at, fields=fields, url=url)

    def verify(self, upload_id: str, max_bytes: str | None, signature: str | None) -> int:
        raise NotFound("Uploads go to the URL POST /uploads returned.")


class SignedFormIssuer:
    """The file-system backend's equivalent of a presigned POST: the size cap and an HMAC in the URL's
    query, so that the service checks them before it reads a byte of the body."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, upload_id: str, expires_at: int, max_bytes: int) -> UploadTicket:
        query = {"max_bytes": str(max_bytes), "signature": self.signature(upload_id, str(max_bytes))}
        fields = {"Content-Type": IMAGE_CONTENT_TYPES[0]}
        return UploadTicket(upload_id=upload_id, expires_at=expires_at, fields=fields, url=None, query=query)

    def signature(self, upload_id: str, max_bytes: str) -> str:
        message = f"{upload_id}\n{max_bytes}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, upload_id: str, max_bytes: str | None, signature: str | None) -> int:
        """The size cap the signed query allows; InvalidRequest if it was not signed by us. Any text is
        judged, never raised on: only ASCII digits and hex are ever compared."""
        if (
            max_bytes is None
            or signature is None
            or not _MAX_BYTES_RE.fullmatch(max_bytes)
            or not _SIGNATURE_RE.fullmatch(signature)
            or not hmac.compare_digest(self.signature(upload_id, max_bytes).encode(), signature.encode())
        ):
            raise InvalidRequest(
                "The upload URL's signature does not match; request a new one from POST /uploads.",
                field="signature",
            )
        return int(max_bytes)


class UploadService:
    def __init__(
        self,
        inbox: UploadInbox,
        issuer: TicketIssuer,
        *,
        max_bytes: int,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._inbox = inbox
        self._issuer = issuer
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._clock = clock

    def create(self) -> UploadTicket:
        expires_at = int(self._clock()) + self._ttl
        return self._issuer.issue(f"{expires_at}-{secrets.token_hex(16)}", expires_at, self._max_bytes)

    def admit(self, upload_id: str, max_bytes: str | None, signature: str | None) -> int:
        """Before the body is read (the file-system backend's endpoint): the signed URL is ours and live, as S3
        checks its policy. The size cap it allows."""
        expires_at = self._expiry(upload_id)
        allowed = self._issuer.verify(upload_id, max_bytes, signature)
        if self._clock() > expires_at:
            raise Gone("This upload form has expired; request a new one from POST /uploads.", field="upload_id")
        return allowed

    def receive(self, upload_id: str, max_bytes: int, fields: Mapping[str, str], file: SpooledUpload) -> None:
        """Keep a probed upload, once: a second receive for the same id is refused."""
        if not fields.get("Content-Type", "").startswith("image/"):
            raise UnsupportedMediaType("Content-Type must be an image type.", field="Content-Type")
        if not 0 < file.size <= max_bytes:
            raise PayloadTooLarge.for_limit(max_bytes, field="file")
        if not self._inbox.put_upload(upload_id, file.read()):
            raise AlreadyReceived(
                "This upload has been received already; request a new one from POST /uploads.", field="upload_id"
            )

    def consume(self, upload_id: str) -> bytes:
        """The upload's bytes, deleted from storage so that it is used once."""
        expires_at = self._expiry(upload_id)
        try:
            data = self._inbox.take_upload(upload_id, self._max_bytes)
        except UploadTooLarge as exc:
            raise PayloadTooLarge(
                f"The upload is {exc.size} bytes; the limit is {self._max_bytes}.", field=FIELD
            ) from exc
        if self._clock() > expires_at + self._ttl:
            raise Gone("This upload has expired; upload the image again.", field=FIELD)
        if data is None:
            raise NotFound("No upload has this id, or it has been used already.", field=FIELD)
        return data

    def sweep(self) -> int:
        """Remove every upload (and its markers) past its use-by time, `expires_at + UPLOAD_TTL_SECONDS`,
        whichever process signed it. The number removed."""
        now = self._clock()
        expired = [
            upload_id
            for upload_id in self._inbox.upload_ids()
            if (match := _UPLOAD_ID_RE.fullmatch(upload_id)) and now > int(match["expires_at"]) + self._ttl
        ]
        for upload_id in expired:
            self._inbox.remove_upload(upload_id)
        return len(expired)

    def _expiry(self, upload_id: str) -> int:
        match = _UPLOAD_ID_RE.fullmatch(upload_id)
        if match is None:
            raise NotFound("No upload has this id.", field=FIELD)
        return int(match["expires_at"])
