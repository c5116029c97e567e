"""Response bodies of the HTTP API (the domain returns plain results; links are added here)."""

from typing import Literal

from pydantic import BaseModel, Field

from ..models import CropBox, JobStatus
from .catalog_schemas import ChecksView

_RENDITIONS = Field(
    description="Every preset's rendition of the image, by preset name, at its negotiated URL (the format follows "
    "Accept); those asked for in `renditions` are already made, the others are made on their first request",
    examples=[{"thumbnail": "/images/ABC-123/0123456789abcdef0123456789abcdef/thumbnail"}],
)


class ImageCreated(BaseModel):
    image_id: str
    retrieval_url: str
    renditions: dict[str, str] = _RENDITIONS
    checks: ChecksView | None = Field(default=None, description="With `profile` in a manual crop: its checks")


class SmartCropAccepted(BaseModel):
    image_id: str
    retrieval_url: str
    renditions: dict[str, str] = _RENDITIONS
    status_url: str


class JobView(BaseModel):
    image_id: str
    status: JobStatus
    retrieval_url: str
    renditions: dict[str, str] = _RENDITIONS
    error: str | None = None
    crop_box: CropBox | None = Field(default=None, description="The box the image was cropped to, once succeeded")
    object_found: bool | None = Field(
        default=None,
        description="True if the locator found an object; false if it fell back to a centred box; null until done",
    )
    checks: ChecksView | None = Field(default=None, description="With `profile` in the request, once succeeded")
    webhook: "WebhookView | None" = Field(default=None, description="The callback_url's deliveries, if one was given")


class WebhookView(BaseModel):
    url: str
    attempts: int = Field(description="POSTs made so far")
    last_status: str | None = Field(
        description="`HTTP 204`, `error: ConnectTimeout`, `refused: ...`; `; gave up` at the end"
    )


class UploadCreated(BaseModel):
    upload_id: str
    url: str
    fields: dict[str, str]
    expires_at: int


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: Literal["ok"] = "ok"
