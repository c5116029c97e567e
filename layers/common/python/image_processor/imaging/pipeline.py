"""Crop and encode, decoding only what the crop needs."""

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import pyvips
from PIL import Image, ImageOps

from ..errors import CropOutOfBounds, UnsupportedImage
from ..models import CropBox
from .budget import MemoryBudget, decode_cost
from .colour import to_srgb
from .deadline import within_deadline
from .probe import UNDECODABLE, ImageInfo, Source, open_source, open_with_pillow

# Header fields a JPEG can be written from; every other field (EXIF, XMP, ICC, IPTC, comments) is dropped.
_IMAGE_FIELDS = frozenset(
    {"width", "height", "bands", "format", "coding", "interpretation", "xoffset", "yoffset", "xres", "yres"}
)


def crop_to_jpeg(
    data: bytes, box: CropBox, *, max_pixels: int, quality: int, budget: MemoryBudget | None = None
) -> bytes:
    """The crop as a JPEG. With a `budget`, waits until the decode's estimated memory is free."""
    source = open_source(data, max_pixels=max_pixels)
    check_bounds(source.info, box)
    with reserved(budget, decode_cost(source.info, box)):
        return run_decoding(lambda: encode_jpeg(to_srgb(_region(source, box)), quality=quality))


def preview(
    data: bytes, *, max_pixels: int, size: int, budget: MemoryBudget | None = None
) -> tuple[ImageInfo, Image.Image]:
    """The image as displayed, shrunk to fit `size` x `size` (JPEGs shrink while decoding), for analysis."""
    source = open_source(data, max_pixels=max_pixels)
    with reserved(budget, decode_cost(source.info)):
        shrunk: Any
        if source.vips is not None:
            shrunk = run_decoding(
                lambda: pyvips.Image.thumbnail_buffer(data, size, height=size, size="down", fail_on="error")
            )
        else:
            shrunk = _pillow_as_vips(data).thumbnail_image(size, height=size, size="down")
        return source.info, run_decoding(lambda: _to_pillow(to_srgb(shrunk)))


def check_bounds(info: ImageInfo, box: CropBox) -> None:
    if box.right > info.width:
        raise CropOutOfBounds(
            f"crop_box x + width = {box.right} exceeds the image width {info.width}", field="crop_box.width"
        )
    if box.bottom > info.height:
        raise CropOutOfBounds(
            f"crop_box y + height = {box.bottom} exceeds the image height {info.height}", field="crop_box.height"
        )


def encode_jpeg(image: Any, *, quality: int) -> bytes:
    """Baseline JPEG with no metadata at all: no EXIF (GPS), XMP, IPTC, ICC or comments."""
    data: bytes = within_deadline(
        without_metadata(image),
        lambda clean: clean.jpegsave_buffer(Q=quality, keep=pyvips.enums.ForeignKeep.NONE, subsample_mode="on"),
    )
    return data


def without_metadata(image: Any) -> Any:
    """A copy of `image` with no header field an encoder could write as metadata."""
    clean = image.copy()
    for name in clean.get_fields():
        if name not in _IMAGE_FIELDS:
            clean.remove(name)
    return clean


def stored_box(box: CropBox, orientation: int, stored_width: int, stored_height: int) -> CropBox:
    """The region of the stored (unrotated) pixels that is `box` once EXIF orientation is applied."""
    x, y, w, h, sw, sh = box.x, box.y, box.width, box.height, stored_width, stored_height
    left, top, width, height = {
        1: (x, y, w, h),
        2: (sw - x - w, y, w, h),
        3: (sw - x - w, sh - y - h, w, h),
        4: (x, sh - y - h, w, h),
        5: (y, x, h, w),
        6: (y, sh - x - w, h, w),
        7: (sw - y - h, sh - x - w, h, w),
        8: (sw - y - h, x, h, w),
    }[orientation]
    return CropBox(x=left, y=top, width=width, height=height)


def _orient(image: Any, orientation: int) -> Any:
    """Stored pixels to displayed ones, as EXIF orientation `orientation` says (on the small cropped region)."""
    if orientation == 2:
        return image.fliphor()
    if orientation == 3:
        return image.rot180()
    if orientation == 4:
        return image.flipver()
    if orientation == 5:
        return image.rot90().fliphor()
    if orientation == 6:
        return image.rot90()
    if orientation == 7:
        return image.rot270().fliphor()
    if orientation == 8:
        return image.rot270()
    return image


def _region(source: Source, box: CropBox) -> Any:
    if source.vips is None:
        return _pillow_as_vips(source.data).crop(box.x, box.y, box.width, box.height)
    info = source.info
    inside = stored_box(box, info.orientation, *info.stored_size)
    region = source.vips.crop(inside.x, inside.y, inside.width, inside.height)
    if info.orientation == 1:
        return region
    # Rotating needs random access: materialise only the crop (the rows below it are never decoded).
    return _orient(within_deadline(region, lambda image: image.copy_memory()), info.orientation)


def _pillow_as_vips(data: bytes) -> Any:
    """Pillow's decode (BMP, HEVC HEIC) handed to libvips, first frame, upright, with its ICC profile."""
    image = open_with_pillow(data)
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except OSError as exc:
        raise UnsupportedImage(UNDECODABLE, field="source_image") from exc
    profile = image.info.get("icc_profile")
    if image.mode not in {"RGB", "RGBA", "L", "LA"}:
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    vips = pyvips.Image.new_from_memory(image.tobytes(), image.width, image.height, len(image.getbands()), "uchar")
    vips = vips.copy(interpretation="b-w" if image.mode in {"L", "LA"} else "srgb")
    if profile:
        vips.set_type(pyvips.GValue.blob_type, "icc-profile-data", profile)
    return vips


def _to_pillow(image: Any) -> Image.Image:
    pixels: bytes = within_deadline(image, lambda image: image.write_to_memory())
    return Image.frombytes("RGB", (image.width, image.height), pixels)


def reserved(budget: MemoryBudget | None, cost: int) -> AbstractContextManager[None]:
    return nullcontext() if budget is None else budget.reserve(cost)


def run_decoding[T](work: Callable[[], T]) -> T:
    """Pixels are decoded lazily, so a corrupt file fails here, while the pipeline runs."""
    try:
        result: T = work()
    except pyvips.Error as exc:
        # The decoder's own words stay in the logs (`reason`): they describe the library, not the request.
        raise UnsupportedImage(UNDECODABLE, field="source_image", reason=str(exc)) from exc
    return result
