"""Response bodies of the HTTP API (the domain returns plain results; links are added here)."""

from pydantic import BaseModel

from ..models import JobStatus


class ImageCreated(BaseModel):
    image_id: str
    retrieval_url: str


class SmartCropAccepted(ImageCreated):
    status_url: str


class JobView(BaseModel):
    image_id: str
    status: JobStatus
    retrieval_url: str
    error: str | None = None


class UploadCreated(BaseModel):
    upload_id: str
    url: str
    fields: dict[str, str]
    expires_at: int
