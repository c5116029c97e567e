"""Reading the multipart upload both crop endpoints take, with a clear 4xx for every way it can be wrong."""

import contextlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from ..errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from ..models import CropBox, ProductInfo

_MAX_TEXT_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    source: bytes
    fields: dict[str, str]


class _InMemoryMultiPartParser(MultiPartParser):
    """Starlette's parser, keeping the file part in memory up to `spool_max_size`.

    The upload is read whole right after parsing anyway. Spilling it to a temporary file (Starlette
    does past 1 MB) adds a thread hop per received chunk, a disk write and read-back, and needs a
    writable temporary folder. The request body is already capped by the body-size middleware.
    """

    def __init__(self, *args: Any, spool_max_size: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spool_max_size = spool_max_size


async def read_upload(request: Request, *, max_upload_bytes: int, text_fields: tuple[str, ...]) -> Upload:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType("The request body must be multipart/form-data.")
    async with contextlib.aclosing(request.stream()) as body:
        parser = _InMemoryMultiPartParser(
            request.headers,
            body,
            max_files=1,
            max_fields=len(text_fields) + 4,
            max_part_size=_MAX_TEXT_FIELD_BYTES,
            spool_max_size=max_upload_bytes + 1,
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise HTTPException(status_code=400, detail=exc.message) from exc
    try:
        source = _single(form.getlist("source_image"), "source_image")
        if not isinstance(source, UploadFile):
            raise InvalidRequest("source_image must be a file upload.", field="source_image")
        if source.size is not None and source.size > max_upload_bytes:
            raise PayloadTooLarge.for_limit(max_upload_bytes)
        fields = {}
        for name in text_fields:
            value = _single(form.getlist(name), name)
            if not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a text field holding JSON, not a file.", field=name)
            fields[name] = value
        return Upload(source=await source.read(), fields=fields)
    finally:
        await form.close()


def parse_json_field[ModelT: BaseModel](upload: Upload, name: str, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate_json(upload.fields[name])
    except ValidationError as exc:
        raise _invalid_field(name, exc) from exc


def parse_product_info(upload: Upload) -> ProductInfo:
    return parse_json_field(upload, "product_info", ProductInfo)


def parse_crop_box(upload: Upload) -> CropBox:
    return parse_json_field(upload, "crop_box", CropBox)


def _single(values: list[Any], name: str) -> Any:
    if not values:
        raise InvalidRequest(f"{name} is required.", field=name)
    if len(values) > 1:
        raise InvalidRequest(f"{name} was sent {len(values)} times; send it once.", field=name)
    return values[0]


def _invalid_field(name: str, exc: ValidationError) -> InvalidRequest:
    error = exc.errors(include_url=False)[0]
    if error["type"] == "json_invalid":
        return InvalidRequest(f"{name} is not valid JSON: {error['msg']}.", field=name)
    if error["type"] == "model_type":
        return InvalidRequest(f"{name} must be a JSON object.", field=name)
    path = ".".join(str(part) for part in (name, *error["loc"]))
    return InvalidRequest(f"{path}: {error['msg']}.", field=path)
