"""A stored image as a preset's rendition: shrunk while decoding, fitted, padded, encoded without metadata."""

import functools
from typing import Any

import pyvips

from ..errors import UnsupportedImage
from ..presets import Preset, RenditionFormat
from .budget import MemoryBudget
from .colour import to_srgb
from .pipeline import reserved, run_decoding, without_metadata
from .probe import open_source

# The trim is found on an image shrunk to this many times the preset's box: fine enough to cut a border
# within a pixel of the result, small enough that a zoom's trim never decodes a 50 MP image at full size.
_TRIM_ANALYSIS_SCALE = 2
# How far (0-255 per channel) a border pixel may differ from the corner's colour and still be trimmed.
_TRIM_THRESHOLD = 12
# libaom's speed/size trade-off: effort 4 (libvips's default) takes ten times as long as 1 for files
# a few percent smaller; a first request waits for this encode.
_AVIF_EFFORT = 1
_WEBP_EFFORT = 4
_OVERHEAD_BYTES = 4 * 1024 * 1024
_JPEG_SHRINKS = (8, 4, 2)


def render(
    data: bytes,
    preset: Preset,
    fmt: RenditionFormat,
    *,
    max_pixels: int,
    budget: MemoryBudget | None = None,
) -> bytes:
    """The `preset` rendition of the image in `data`, as `fmt`: 8-bit sRGB, no metadata, never enlarged."""
    if fmt not in encodable_formats():
        raise UnsupportedImage(f"this service cannot encode {fmt}", field="format")
    source = open_source(data, max_pixels=max_pixels)  # the header only: format, size, pixel limit
    cost = rendition_cost(source.info.format, source.info.width, source.info.height, len(data), preset)
    with reserved(budget, cost):
        return run_decoding(lambda: _encode(_fitted(data, preset), preset, fmt))


def rendition_cost(source_format: str, width: int, height: int, source_bytes: int, preset: Preset) -> int:
    """Bytes a rendition holds at its peak: the compressed input (libvips copies it), the image as decoded,
    the trim's analysis image, and the result with its canvas, twice over for the encoder.

    A JPEG decodes shrunk by 2, 4 or 8, the largest that still leaves libvips a factor of two to resize
    with (its thumbnail does so for quality), so a thumbnail of 12 MP decodes a sixteenth of the pixels."""
    box_width, box_height = preset.inner_box
    if preset.trim:
        box_width, box_height = box_width * _TRIM_ANALYSIS_SCALE, box_height * _TRIM_ANALYSIS_SCALE
    factor = min(width / box_width, height / box_height)
    shrinks = (s for s in _JPEG_SHRINKS if s <= factor / 2)
    shrink = next(shrinks, 1) if source_format == "JPEG" else 1
    decoded = (width // shrink) * (height // shrink) * 4
    return _OVERHEAD_BYTES + 2 * source_bytes + decoded + preset.width * preset.height * 3 * 2


@functools.cache
def encodable_formats() -> frozenset[RenditionFormat]:
    """The formats this libvips can write; AVIF needs libheif built with an AV1 encoder."""
    formats: set[RenditionFormat] = {"jpg", "webp"}
    try:
        pyvips.Image.black(8, 8, bands=3).heifsave_buffer(compression="av1", Q=50, effort=0)
    except pyvips.Error:
        return frozenset(formats)
    return frozenset({*formats, "avif"})


def _fitted(data: bytes, preset: Preset) -> Any:
    """The image shrunk into the preset's box (never enlarged), with its padding or margin."""
    width, height = preset.inner_box
    crop = "centre" if preset.fit == "cover" else "none"
    if preset.trim:
        analysis = _shrink_on_load(data, width * _TRIM_ANALYSIS_SCALE, height * _TRIM_ANALYSIS_SCALE, "none")
        image = to_srgb(_trimmed(analysis.copy_memory())).thumbnail_image(width, height=height, size="down", crop=crop)
    else:
        image = to_srgb(_shrink_on_load(data, width, height, crop))
    if preset.fit == "pad":
        canvas_width, canvas_height = preset.width, preset.height
    else:
        margin_x, margin_y = preset.margins
        canvas_width, canvas_height = image.width + 2 * margin_x, image.height + 2 * margin_y
    if (canvas_width, canvas_height) == (image.width, image.height):
        return image
    return image.embed(
        (canvas_width - image.width) // 2,
        (canvas_height - image.height) // 2,
        canvas_width,
        canvas_height,
        extend="background",
        background=list(preset.background),
    )


def _shrink_on_load(data: bytes, width: int, height: int, crop: str) -> Any:
    # libvips's thumbnail picks the JPEG decoder's shrink (1/2, 1/4, 1/8) from the target size, so the
    # image is never decoded at full size when the rendition is much smaller than it.
    return pyvips.Image.thumbnail_buffer(data, width, height=height, size="down", crop=crop, fail_on="error")


def _trimmed(image: Any) -> Any:
    """The image without a border of the top-left pixel's colour; unchanged if all of it is that colour."""
    srgb = to_srgb(image)
    corner = srgb.getpoint(0, 0)
    left, top, width, height = srgb.find_trim(threshold=_TRIM_THRESHOLD, background=corner, line_art=False)
    if width < 1 or height < 1:
        return srgb
    return srgb.crop(left, top, width, height)


def _encode(image: Any, preset: Preset, fmt: RenditionFormat) -> bytes:
    clean = without_metadata(image.copy(interpretation="srgb"))
    quality = preset.quality[fmt]
    data: bytes
    if fmt == "jpg":
        data = clean.jpegsave_buffer(Q=quality, keep=pyvips.enums.ForeignKeep.NONE, optimize_coding=True)
    elif fmt == "webp":
        data = clean.webpsave_buffer(Q=quality, keep=pyvips.enums.ForeignKeep.NONE, effort=_WEBP_EFFORT)
    else:
        data = clean.heifsave_buffer(
            Q=quality, compression="av1", keep=pyvips.enums.ForeignKeep.NONE, effort=_AVIF_EFFORT, bitdepth=8
        )
    return data
