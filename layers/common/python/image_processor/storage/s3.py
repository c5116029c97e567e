"""The image store on S3: one PutObject per finished object, so a reader sees all of it or nothing.

S3 calls by path (IAM actions in docs/storage.md): save, create, stage, put_upload -> PutObject;
stat -> HeadObject; delete, discard_staged -> DeleteObject; fetch, read_staged, check_ready -> GetObject;
take_upload -> PutObject of a claim (If-None-Match), GetObject, DeleteObject (and DeleteObject of
the claim if the read fails); staged_ids, upload_ids -> ListObjectsV2 (the local dispatcher's recovery, the
upload sweep); remove_upload -> DeleteObjects.
Presigned URLs are signed locally and make no call.
A missing key is a 404 (NoSuchKey): S3 answers so to a role with s3:ListBucket, which both roles have.
A 403 (AccessDenied) is a misconfiguration, never "not there": a 503, logged with the action and the
resource (aws.permissions), and readiness fails on it.
"""

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..aws.errors import error_code, translate
from ..errors import DependencyUnavailable
from ..urls import origin_of
from .interfaces import StoredImage, StoredObject, UploadTooLarge
from .keys import (
    STAGING_PREFIX,
    UPLOAD_MARKERS,
    UPLOADS_PREFIX,
    checked_key,
    servable_key,
    staged_id,
    staged_key,
    upload_id_of,
    upload_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})
_CLAIM_TAKEN = frozenset({"412", "PreconditionFailed", "409", "ConditionalRequestConflict"})
IMMUTABLE = "public, max-age=31536000, immutable"
_UNAVAILABLE = "Image storage is temporarily unavailable; retry shortly."


class S3ImageStore:
    def __init__(self, client: "S3Client", bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def save(self, key: str, data: bytes) -> None:
        self._put(checked_key(key), data, content_type="image/jpeg")

    def create(self, key: str, data: bytes, *, content_type: str) -> StoredObject | None:
        """A conditional PutObject (If-None-Match: *): of racing writers the first one's object stays."""
        # Made once and never changed: what serves it (a presigned GET, a CDN) may keep it for good.
        response = self._put_if_absent(checked_key(key), Body=data, ContentType=content_type, CacheControl=IMMUTABLE)
        if response is None:
            return None
        return StoredObject(key=key, size=len(data), etag=str(response["ETag"]))

    def delete(self, key: str) -> None:
        self._call(self._client.delete_object, Bucket=self._bucket, Key=checked_key(key))

    def delete_folder(self, prefix: str) -> int:
        """ListObjectsV2 under the prefix (s3:ListBucket, granted for such prefixes only), then DeleteObjects."""
        checked_key(prefix.rstrip("/"))
        paginator = self._client.get_paginator("list_objects_v2")
        removed = 0
        with translate("DeleteObjects", self._bucket, message=_UNAVAILABLE):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                keys: list[ObjectIdentifierTypeDef] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
                if keys:
                    answer = self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": keys, "Quiet": True})
                    if answer.get("Errors"):
                        raise DependencyUnavailable(_UNAVAILABLE)
                    removed += len(keys)
        return removed

    def check_ready(self) -> None:
        """A GET of a key that never exists: NoSuchKey proves that the bucket answers and that the role may
        read and tell a missing key; a HEAD could not tell a missing key from a missing bucket (both a
        bare 404). AccessDenied fails readiness: the role or the bucket policy is wrong."""
        with translate("GetObject", self._bucket, message=_UNAVAILABLE):
            try:
                self._client.get_object(Bucket=self._bucket, Key=f"{UPLOADS_PREFIX}readiness-probe")
            except ClientError as exc:
                if error_code(exc) != "NoSuchKey":
                    raise

    def stat(self, requested_path: str) -> StoredObject | None:
        key = servable_key(requested_path)
        if key is None:
            return None
        response = self._call_or_none(self._client.head_object, Bucket=self._bucket, Key=key)
        if response is None:
            return None
        return StoredObject(key=key, size=int(response["ContentLength"]), etag=str(response["ETag"]))

    def fetch(self, requested_path: str) -> StoredImage | None:
        key = servable_key(requested_path)
        if key is None:
            return None
        response = self._call_or_none(self._client.get_object, Bucket=self._bucket, Key=key)
        if response is None:
            return None
        content = self._read_body(response)
        return StoredImage(StoredObject(key=key, size=len(content), etag=str(response["ETag"])), content)

    def presigned_url(self, key: str, ttl_seconds: int) -> str:
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": checked_key(key)}, ExpiresIn=ttl_seconds
        )

    def presigned_post(
        self, upload_id: str, *, max_bytes: int, content_types: Sequence[str], ttl_seconds: int
    ) -> tuple[str, dict[str, str]]:
        """A browser-style POST policy for `.uploads/<upload_id>`: that key only, at most `max_bytes`,
        with a Content-Type that starts with `image/` (the service re-checks size and content anyway)."""
        post = self._client.generate_presigned_post(
            Bucket=self._bucket,
            Key=upload_key(upload_id),
            Fields={"Content-Type": content_types[0]},
            Conditions=[
                ["content-length-range", 1, max_bytes],
                ["starts-with", "$Content-Type", "image/"],
            ],
            ExpiresIn=ttl_seconds,
        )
        return str(post["url"]), {name: str(value) for name, value in post["fields"].items()}

    def browser_origins(self) -> list[str]:
        """The origins a browser reaches this bucket at, for presigned reads and uploads (signed locally)."""
        read_url = self.presigned_url("probe/probe.jpg", 60)  # a result's key: one the API's role may read
        upload_url, _ = self.presigned_post("probe", max_bytes=1, content_types=("image/jpeg",), ttl_seconds=60)
        return sorted({origin_of(read_url), origin_of(upload_url)} - {""})

    def stage(self, image_id: str, data: bytes) -> None:
        self._put(staged_key(image_id), data)

    def read_staged(self, image_id: str) -> bytes | None:
        response = self._call_or_none(self._client.get_object, Bucket=self._bucket, Key=staged_key(image_id))
        return None if response is None else self._read_body(response)

    def discard_staged(self, image_id: str) -> None:
        self._call(self._client.delete_object, Bucket=self._bucket, Key=staged_key(image_id))

    def staged_ids(self) -> list[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        found: list[str] = []
        with translate("ListObjectsV2", self._bucket, message=_UNAVAILABLE):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=STAGING_PREFIX):
                found.extend(image_id for item in page.get("Contents", []) if (image_id := staged_id(item["Key"])))
        return sorted(found)

    def put_upload(self, upload_id: str, data: bytes) -> bool:
        if self._put_if_absent(f"{upload_key(upload_id)}.received", Body=b"") is None:
            return False
        self._put(upload_key(upload_id), data)
        return True

    def upload_ids(self) -> list[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        found: set[str] = set()
        with translate("ListObjectsV2", self._bucket, message=_UNAVAILABLE):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=UPLOADS_PREFIX):
                found.update(upload_id for item in page.get("Contents", []) if (upload_id := upload_id_of(item["Key"])))
        return sorted(found)

    def remove_upload(self, upload_id: str) -> None:
        key = upload_key(upload_id)
        objects = [{"Key": key + suffix} for suffix in ("", *UPLOAD_MARKERS)]
        self._call(self._client.delete_objects, Bucket=self._bucket, Delete={"Objects": objects, "Quiet": True})

    def take_upload(self, upload_id: str, max_bytes: int) -> bytes | None:
        """Claim, read, delete. The claim is a conditional PutObject (If-None-Match: *) of a marker
        beside the upload, so two concurrent takers cannot both win; the lifecycle rule on `.uploads/`
        removes the markers."""
        key = upload_key(upload_id)
        if self._put_if_absent(f"{key}.claim", Body=b"") is None:
            return None
        try:
            response = self._call_or_none(self._client.get_object, Bucket=self._bucket, Key=key)
        except DependencyUnavailable:
            # Release the claim so that a retry can use the upload once S3 answers again.
            with contextlib.suppress(BotoCoreError, ClientError):
                self._client.delete_object(Bucket=self._bucket, Key=f"{key}.claim")
            raise
        if response is None:
            return None
        size = int(response["ContentLength"])
        # The POST policy caps the size on S3, but an emulator may not enforce it: never read past the cap.
        content = b"" if size > max_bytes else self._read_body(response)
        if size > max_bytes:
            response["Body"].close()
        self._call(self._client.delete_object, Bucket=self._bucket, Key=key)
        if size > max_bytes:
            raise UploadTooLarge(size)
        return content

    def _put_if_absent(self, key: str, **parameters: Any) -> Any:
        """A conditional PutObject (If-None-Match: *): its answer, or None if an object is there already."""
        with translate("PutObject", f"{self._bucket}/{key}", message=_UNAVAILABLE):
            try:
                return self._client.put_object(Bucket=self._bucket, Key=key, IfNoneMatch="*", **parameters)
            except ClientError as exc:
                if error_code(exc) in _CLAIM_TAKEN:
                    return None
                raise

    def _put(self, key: str, data: bytes, *, content_type: str = "application/octet-stream") -> None:
        self._call(self._client.put_object, Bucket=self._bucket, Key=key, Body=data, ContentType=content_type)

    def _read_body(self, response: Any) -> bytes:
        with translate("GetObject", self._bucket, message=_UNAVAILABLE), response["Body"] as body:
            return bytes(body.read())

    def _call(self, operation: Any, **kwargs: Any) -> Any:
        with translate(operation.__name__, f"{self._bucket}/{kwargs.get('Key', '')}", message=_UNAVAILABLE):
            return operation(**kwargs)

    def _call_or_none(self, operation: Any, **kwargs: Any) -> Any:
        with translate(operation.__name__, f"{self._bucket}/{kwargs.get('Key', '')}", message=_UNAVAILABLE):
            try:
                return operation(**kwargs)
            except ClientError as exc:
                if error_code(exc) in _MISSING:
                    return None
                raise
