"""Response bodies of the product catalog routes."""

from typing import Literal

from pydantic import BaseModel, Field

from ..models import CropBox, JobStatus


class RenditionView(BaseModel):
    preset: str
    url: str


class CatalogImage(BaseModel):
    image_id: str
    retrieval_url: str
    created_at: str = Field(description="When the crop was accepted (ISO 8601, UTC)")
    source: Literal["manual", "smart"]
    status: JobStatus | None = Field(default=None, description="Smart crops: the job's state; null for manual")
    crop_box: CropBox | None = Field(default=None, description="Smart crops: the box chosen, once succeeded")
    object_found: bool | None = Field(default=None, description="Smart crops: whether the AI found an object")
    size_bytes: int | None = Field(default=None, description="The stored JPEG's size; null until it is stored")
    width: int | None = Field(default=None, description="The stored JPEG's width in pixels")
    height: int | None = Field(default=None, description="The stored JPEG's height in pixels")
    renditions: list[RenditionView] = Field(default_factory=list, description="Renditions made so far")


class CatalogPageView(BaseModel):
    images: list[CatalogImage]
    next: str | None = Field(description="Pass as `next` for the following page; null on the last page")


class CheckView(BaseModel):
    name: str = Field(description="`white_background`, `product_fill`, `min_long_side` or `format`")
    passed: bool
    measured: float | int | str = Field(description="Percent, pixels, or `JPEG sRGB`, as `required` is")
    required: float | int | str


class ChecksView(BaseModel):
    profile: str
    passed: bool = Field(description="Every check passed")
    checks: list[CheckView]
