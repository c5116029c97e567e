"""Catalog entries in DynamoDB: one item per stored image, keyed by product, listed newest first.

Table: partition key `product_id`, sort key `image_id`, and a local secondary index `newest_first` whose
sort key is `created_at`, so a product's images are one Query in time order and an entry is read, updated
or deleted by its key alone. A smart crop's entry carries its job's status, updated when the job ends;
a failed one expires with the job record (`expires_at`), a stored image's entry never does.
"""

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from ..aws.dynamo import marshal, unmarshal
from ..aws.errors import condition_failed, translate
from ..errors import InvalidRequest
from ..models import CropBox, JobStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

TIME_INDEX = "newest_first"
MAX_PAGE_SIZE = 100
_UNAVAILABLE = "The image catalog is temporarily unavailable; retry shortly."
Source = Literal["manual", "smart"]
_IMAGE_ID_RE = re.compile(r"[0-9a-f]{32}")
_PRESET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class Rendition:
    preset: str
    key: str


@dataclass(frozen=True)
class CatalogEntry:
    product_id: str
    image_id: str
    created_at: float
    source: Source
    # Smart crops only: the job's state and outcome.
    status: JobStatus | None = None
    crop_box: CropBox | None = None
    object_found: bool | None = None
    # The stored JPEG, once there is one.
    size_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    renditions: tuple[Rendition, ...] = field(default=())


@dataclass(frozen=True)
class CatalogPage:
    entries: list[CatalogEntry]
    # Opaque: hand it back as `next` for the following page; None on the last page.
    next: str | None


class DynamoDBCatalog:
    def __init__(
        self,
        client: "DynamoDBClient",
        table_name: str,
        *,
        failed_ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._table = table_name
        self._failed_ttl = failed_ttl_seconds
        self._clock = clock

    def add(self, entry: CatalogEntry) -> None:
        values: dict[str, Any] = {
            "product_id": entry.product_id,
            "image_id": entry.image_id,
            "created_at": _number(entry.created_at),
            "source": entry.source,
            "renditions": {},
        }
        optional = {
            "status": entry.status,
            "crop_box": entry.crop_box.model_dump() if entry.crop_box else None,
            "object_found": entry.object_found,
            "size_bytes": entry.size_bytes,
            "width": entry.width,
            "height": entry.height,
        }
        values |= {name: value for name, value in optional.items() if value is not None}
        self._call(self._client.put_item, TableName=self._table, Item=marshal(values))

    def get(self, product_id: str, image_id: str) -> CatalogEntry | None:
        response = self._call(
            self._client.get_item, TableName=self._table, Key=_key(product_id, image_id), ConsistentRead=True
        )
        item = response.get("Item")
        return _entry(item) if item else None

    def job_ended(
        self,
        product_id: str,
        image_id: str,
        *,
        status: JobStatus,
        crop_box: CropBox | None = None,
        object_found: bool | None = None,
        size_bytes: int | None = None,
    ) -> None:
        """Record a smart crop's outcome on its entry; nothing if the entry is gone (deleted)."""
        values: dict[str, Any] = {":status": status}
        assignments = ["#status = :status"]
        if status == "succeeded" and crop_box is not None:
            values |= {":box": crop_box.model_dump(), ":width": crop_box.width, ":height": crop_box.height}
            assignments += ["crop_box = :box", "width = :width", "height = :height"]
            if object_found is not None:
                values[":found"] = object_found
                assignments.append("object_found = :found")
            if size_bytes is not None:
                values[":size"] = size_bytes
                assignments.append("size_bytes = :size")
        if status == "failed":
            values[":expires"] = int(self._clock()) + self._failed_ttl
            assignments.append("expires_at = :expires")
        self._update(product_id, image_id, "SET " + ", ".join(assignments), values, {"#status": "status"})

    def record_rendition(self, product_id: str, image_id: str, preset: str, key: str) -> None:
        """Note a rendition made of this image (stored at `key`); nothing if the entry is gone."""
        if not _PRESET_RE.fullmatch(preset):
            raise ValueError(f"unsafe preset name {preset!r}")
        self._update(
            product_id,
            image_id,
            "SET renditions.#preset = :rendition",
            {":rendition": {"key": key}},
            {"#preset": preset},
        )

    def delete(self, product_id: str, image_id: str) -> bool:
        """Remove the entry; False if there was none."""
        response = self._call(
            self._client.delete_item, TableName=self._table, Key=_key(product_id, image_id), ReturnValues="ALL_OLD"
        )
        return bool(response.get("Attributes"))

    def list(self, product_id: str, *, limit: int, cursor: str | None = None) -> CatalogPage:
        """The product's entries, newest first, `limit` at most, after the position `cursor` names."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": TIME_INDEX,
            "KeyConditionExpression": "product_id = :product",
            "ExpressionAttributeValues": marshal({":product": product_id}),
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": max(1, min(limit, MAX_PAGE_SIZE)),
        }
        if cursor is not None:
            query["ExclusiveStartKey"] = marshal(decode_cursor(cursor, product_id))
        response = self._call(self._client.query, **query)
        last = response.get("LastEvaluatedKey")
        return CatalogPage(
            entries=[_entry(item) for item in response.get("Items", [])],
            next=encode_cursor(unmarshal(last)) if last else None,
        )

    def _update(
        self, product_id: str, image_id: str, update: str, values: Mapping[str, Any], names: Mapping[str, str]
    ) -> None:
        with translate("UpdateItem", self._table, message=_UNAVAILABLE):
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(product_id, image_id),
                    UpdateExpression=update,
                    ConditionExpression="attribute_exists(image_id)",
                    ExpressionAttributeNames=dict(names),
                    ExpressionAttributeValues=marshal(values),
                )
            except ClientError as exc:
                # The entry is gone (deleted): there is nothing to update.
                if not condition_failed(exc):
                    raise

    def _call(self, operation: Any, **kwargs: Any) -> Any:
        with translate(operation.__name__, self._table, message=_UNAVAILABLE):
            return operation(**kwargs)


def encode_cursor(position: Mapping[str, Any]) -> str:
    plain = {"p": position["product_id"], "i": position["image_id"], "t": str(position["created_at"])}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, product_id: str) -> dict[str, Any]:
    """The position a cursor of this product's listing names; InvalidRequest for anything else."""
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = {"product_id": plain["p"], "image_id": plain["i"], "created_at": Decimal(plain["t"])}
    except (binascii.Error, ValueError, TypeError, KeyError, ArithmeticError):
        position = None
    if (
        position is None
        or position["product_id"] != product_id
        or not isinstance(position["image_id"], str)
        or not _IMAGE_ID_RE.fullmatch(position["image_id"])
        or not position["created_at"].is_finite()
    ):
        raise InvalidRequest("next is not a cursor this listing handed out.", field="next")
    return position


def _key(product_id: str, image_id: str) -> "dict[str, AttributeValueTypeDef]":
    return marshal({"product_id": product_id, "image_id": image_id})


def _number(value: float) -> Decimal:
    return Decimal(f"{value:.3f}")


def _entry(item: Mapping[str, Any]) -> CatalogEntry:
    values = unmarshal(item)
    box = values.get("crop_box")
    renditions = values.get("renditions") or {}

    def optional_int(name: str) -> int | None:
        value = values.get(name)
        return int(value) if value is not None else None

    return CatalogEntry(
        product_id=values["product_id"],
        image_id=values["image_id"],
        created_at=float(values["created_at"]),
        source=values["source"],
        status=values.get("status"),
        crop_box=CropBox(**{name: int(value) for name, value in box.items()}) if box else None,
        object_found=values.get("object_found"),
        size_bytes=optional_int("size_bytes"),
        width=optional_int("width"),
        height=optional_int("height"),
        renditions=tuple(Rendition(preset, str(data["key"])) for preset, data in sorted(renditions.items())),
    )
