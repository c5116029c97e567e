"""Reading the multipart upload both crop endpoints take, with a clear 4xx for every way it can be wrong."""

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import Request

from ..errors import InvalidRequest, PayloadTooLarge
from ..models import CropBox, ProductInfo
from ..storage.spool import SpooledUpload
from .multipart import FilePart, Form, FormLimits, read_form

_MAX_TEXT_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    """The form of a crop request: the image itself (`source`) or the id of a direct upload."""

    source: SpooledUpload | None
    upload_id: str | None
    fields: dict[str, str]

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


async def parse_form(request: Request, *, max_fields: int, spool_dir: Path | None = None) -> Form:
    """The multipart form: at most one file (spooled, see SpooledUpload) and `max_fields` text fields.

    The caller owns the file: `take_file` it, and close the form, which closes any file not taken.
    """
    limits = FormLimits(max_files=1, max_fields=max_fields, max_field_bytes=_MAX_TEXT_FIELD_BYTES)
    async with contextlib.aclosing(request.stream()) as body:
        return await read_form(request.headers.get("content-type", ""), body, limits=limits, spool_dir=spool_dir)


def take_file(form: Form, name: str, *, max_upload_bytes: int) -> SpooledUpload:
    """The file part `name`, now the caller's to close (closing the form no longer does)."""
    return _check_file(form, name, max_upload_bytes=max_upload_bytes).take()


def _check_file(form: Form, name: str, *, max_upload_bytes: int) -> FilePart:
    file = _single(form.getlist(name), name)
    if not isinstance(file, FilePart):
        raise InvalidRequest(f"{name} must be a file upload.", field=name)
    if file.spooled.size > max_upload_bytes:
        raise PayloadTooLarge.for_limit(max_upload_bytes, field=name)
    return file


def read_text(form: Form, name: str) -> str:
    value = _single(form.getlist(name), name)
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be a text field, not a file.", field=name)
    return value


async def read_upload(
    request: Request,
    *,
    max_upload_bytes: int,
    text_fields: tuple[str, ...],
    optional_fields: tuple[str, ...] = (),
    spool_dir: Path | None = None,
) -> Upload:
    """The crop form. The caller closes the Upload once its source has been used."""
    form = await parse_form(request, max_fields=len(text_fields) + len(optional_fields) + 5, spool_dir=spool_dir)
    try:
        has_image, has_upload_id = "source_image" in form, "source_upload_id" in form
        if has_image and has_upload_id:
            raise InvalidRequest("Send either source_image or source_upload_id, not both.", field="source_upload_id")
        if not has_image and not has_upload_id:
            raise InvalidRequest("source_image (a file) or source_upload_id is required.", field="source_image")
        # The file is checked before the text fields; until it is taken, closing the form closes it.
        image = _check_file(form, "source_image", max_upload_bytes=max_upload_bytes) if has_image else None
        upload_id = None if has_image else read_text(form, "source_upload_id")
        fields = {}
        for name in (*text_fields, *(name for name in optional_fields if name in form)):
            value = _single(form.getlist(name), name)
            if not isinstance(value, str):
                raise InvalidRequest(f"{name} must be a text field holding JSON, not a file.", field=name)
            fields[name] = value
        for name in optional_fields:
            if name in form:
                fields[name] = read_text(form, name)
        source = image.take() if image is not None else None
        return Upload(source=source, upload_id=upload_id, fields=fields)
    finally:
        form.close()


def parse_json_field[ModelT: BaseModel](upload: Upload, name: str, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate_json(upload.fields[name])
    except ValidationError as exc:
        raise _invalid_field(name, exc) from exc


def parse_product_info(upload: Upload) -> ProductInfo:
    return parse_json_field(upload, "product_info", ProductInfo)


def parse_crop_box(upload: Upload) -> CropBox:
    return parse_json_field(upload, "crop_box", CropBox)


def parse_rendition_names(upload: Upload, known: Collection[str]) -> tuple[str, ...]:
    """The optional `renditions` field: a JSON list of preset names, each one `known`."""
    raw = upload.fields.get("renditions")
    if raw is None:
        return ()
    try:
        names = _PRESET_NAMES.validate_json(raw)
    except ValidationError as exc:
        raise InvalidRequest(
            'renditions must be a JSON list of preset names, such as ["thumbnail", "listing"].', field="renditions"
        ) from exc
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidRequest(
            f"renditions: there is no preset {unknown[0]!r}; the presets are {', '.join(known)}.", field="renditions"
        )
    return tuple(dict.fromkeys(names))


_PRESET_NAMES = TypeAdapter(list[str])


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
