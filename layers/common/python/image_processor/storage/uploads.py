"""Direct uploads: a client sends a large original straight to storage, then names it in a crop request.

`POST /uploads` issues a ticket (an id, form fields, an expiry). On S3 the ticket is a presigned POST;
on the file system it is a form the service itself accepts, signed with an HMAC. Either way the
upload lands at `.uploads/<upload_id>` and a crop request consumes it once.

The id carries its expiry (`<expires_at>-<random>`): the signed policy binds the exact key, so an
id cannot be stretched, and an expired one is told apart from an unknown one without a lookup.
An upload may be sent until `expires_at` and used until `expires_at + ttl`.
"""

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from ..errors import Gone, InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from .keys import ImageStore, UploadTooLarge
from .spool import SpooledUpload

_UPLOAD_ID_RE = re.compile(r"(?P<expires_at>[0-9]{10})-[0-9a-f]{32}")
IMAGE_CONTENT_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "image/bmp")
FIELD = "source_upload_id"


@dataclass(frozen=True)
class UploadTicket:
    upload_id: str
    expires_at: int
    fields: dict[str, str]
    url: str | None  # None: the service's own upload endpoint (the API builds its URL)


class TicketIssuer(Protocol):
    def issue(self, upload_id: str, expires_at: int, max_bytes: int) -> UploadTicket: ...


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


class SignedFormIssuer:
    """The file-system backend's equivalent of a presigned POST: fields signed with an HMAC."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def issue(self, upload_id: str, expires_at: int, max_bytes: int) -> UploadTicket:
        fields = {"Content-Type": IMAGE_CONTENT_TYPES[0], "max_bytes": str(max_bytes)}
        fields["signature"] = self.signature(upload_id, fields["max_bytes"])
        return UploadTicket(upload_id=upload_id, expires_at=expires_at, fields=fields, url=None)

    def signature(self, upload_id: str, max_bytes: str) -> str:
        message = f"{upload_id}\n{max_bytes}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, upload_id: str, fields: Mapping[str, str]) -> int:
        """The size cap the signed fields allow; InvalidRequest if they were not signed by us."""
        max_bytes = fields.get("max_bytes", "")
        expected = self.signature(upload_id, max_bytes)
        if not max_bytes.isdigit() or not hmac.compare_digest(expected, fields.get("signature", "")):
            raise InvalidRequest("The upload form's signature does not match; request a new one.", field="signature")
        return int(max_bytes)


class UploadService:
    def __init__(
        self,
        store: ImageStore,
        issuer: TicketIssuer,
        *,
        max_bytes: int,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._issuer = issuer
        self._max_bytes = max_bytes
        self._ttl = ttl_seconds
        self._clock = clock

    def create(self) -> UploadTicket:
        expires_at = int(self._clock()) + self._ttl
        return self._issuer.issue(f"{expires_at}-{secrets.token_hex(16)}", expires_at, self._max_bytes)

    def receive(self, upload_id: str, fields: Mapping[str, str], file: SpooledUpload) -> None:
        """The file-system backend's upload endpoint: check the signed form as S3 checks its policy."""
        if not isinstance(self._issuer, SignedFormIssuer):
            raise NotFound("Uploads go to the URL POST /uploads returned.")
        expires_at = self._expiry(upload_id)
        max_bytes = self._issuer.verify(upload_id, fields)
        if self._clock() > expires_at:
            raise Gone("This upload form has expired; request a new one from POST /uploads.", field="upload_id")
        if not fields.get("Content-Type", "").startswith("image/"):
            raise UnsupportedMediaType("Content-Type must be an image type.", field="Content-Type")
        if not 0 < file.size <= max_bytes:
            raise PayloadTooLarge.for_limit(max_bytes, field="file")
        self._store.put_upload(upload_id, file.read())

    def consume(self, upload_id: str) -> bytes:
        """The upload's bytes, deleted from storage so that it is used once."""
        expires_at = self._expiry(upload_id)
        try:
            data = self._store.take_upload(upload_id, self._max_bytes)
        except UploadTooLarge as exc:
            raise PayloadTooLarge(
                f"The upload is {exc.size} bytes; the limit is {self._max_bytes}.", field=FIELD
            ) from exc
        if self._clock() > expires_at + self._ttl:
            raise Gone("This upload has expired; upload the image again.", field=FIELD)
        if data is None:
            raise NotFound("No upload has this id, or it has been used already.", field=FIELD)
        return data

    def _expiry(self, upload_id: str) -> int:
        match = _UPLOAD_ID_RE.fullmatch(upload_id)
        if match is None:
            raise NotFound("No upload has this id.", field=FIELD)
        return int(match["expires_at"])
