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
    """Starlette's parser, keeping the file part in memory as the list of its received pieces.

    The upload is read whole right after parsing anyway. Spilling it to a temporary file (Starlette
    does past 1 MB) adds a thread hop per received chunk, a disk write and read-back, and needs a
    writable temporary folder; even a file in memory grows by copying and is copied again when read.
    The pieces are joined once, at the end. The request body is already capped by the body-size middleware.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.file_pieces: list[bytes] = []

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._current_part.file is None:
            super().on_part_data(data, start, end)
        else:
            self.file_pieces.append(data[start:end])


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
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise HTTPException(status_code=400, detail=exc.message) from exc
    try:
        source = _single(form.getlist("source_image"), "source_image")
        if not isinstance(source, UploadFile):
            raise InvalidRequest("source_image must be a file upload.", field="source_image")
        size = sum(len(piece) for piece in parser.file_pieces)
        if size > max_upload_bytes:
            raise PayloadTooLarge.for_limit(max_upload_bytes)
        fields = {}
        for name in text_fields:
            value = _single(form.getlist(name), name)
            if not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a text field holding JSON, not a file.", field=name)
            fields[name] = value
        content = b"".join(parser.file_pieces)
        parser.file_pieces.clear()
        return Upload(source=content, fields=fields)
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
