"""Reading the multipart upload both crop endpoints take, with a clear 4xx for every way it can be wrong."""

import contextlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request

from ..errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from ..models import CropBox, ProductInfo

_MAX_TEXT_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    """The form of a crop request: the image itself (`source`) or the id of a direct upload."""

    source: bytes | None
    upload_id: str | None
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


async def parse_form(request: Request, *, max_upload_bytes: int, max_fields: int) -> FormData:
    """The multipart form, at most one file (kept in memory) and `max_fields` text fields."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise UnsupportedMediaType("The request body must be multipart/form-data.")
    async with contextlib.aclosing(request.stream()) as body:
        parser = _InMemoryMultiPartParser(
            request.headers,
            body,
            max_files=1,
            max_fields=max_fields,
            max_part_size=_MAX_TEXT_FIELD_BYTES,
            spool_max_size=max_upload_bytes + 1,
        )
        try:
            return await parser.parse()
        except MultiPartException as exc:
            raise HTTPException(status_code=400, detail=exc.message) from exc


async def read_file(form: FormData, name: str, *, max_upload_bytes: int) -> bytes:
    file = _single(form.getlist(name), name)
    if not isinstance(file, UploadFile):
        raise InvalidRequest(f"{name} must be a file upload.", field=name)
    if file.size is not None and file.size > max_upload_bytes:
        # The same sentence as PayloadTooLarge.for_limit, naming this part.
        raise PayloadTooLarge(
            f"{name} is larger than the {max_upload_bytes} bytes allowed (MAX_UPLOAD_BYTES).", field=name
        )
    return await file.read()


def read_text(form: FormData, name: str) -> str:
    value = _single(form.getlist(name), name)
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a text field, not a file.", field=name)
    return value


async def read_upload(request: Request, *, max_upload_bytes: int, text_fields: tuple[str, ...]) -> Upload:
    form = await parse_form(request, max_upload_bytes=max_upload_bytes, max_fields=len(text_fields) + 5)
    try:
        has_image, has_upload_id = "source_image" in form, "source_upload_id" in form
        if has_image and has_upload_id:
            raise InvalidRequest("Send either source_image or source_upload_id, not both.", field="source_upload_id")
        if not has_image and not has_upload_id:
            raise InvalidRequest("source_image (a file) or source_upload_id is required.", field="source_image")
        source = await read_file(form, "source_image", max_upload_bytes=max_upload_bytes) if has_image else None
        upload_id = None if has_image else read_text(form, "source_upload_id")
        fields = {}
        for name in text_fields:
            value = _single(form.getlist(name), name)
            if not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a text field holding JSON, not a file.", field=name)
            fields[name] = value
        return Upload(source=source, upload_id=upload_id, fields=fields)
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
