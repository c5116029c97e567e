"""The image pipeline: bytes in, bytes out. Knows nothing of HTTP or AWS."""

import io
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError, _imaging

from .errors import CropOutOfBounds, ImageTooLarge, UnsupportedImage
from .models import CropBox

SUPPORTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP"})
_ROTATED_ORIENTATIONS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION_TAG = 0x0112
_SRGB_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError)


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int


def probe(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Read only the header: format and size as displayed (after EXIF orientation)."""
    image = _open(data, max_pixels=max_pixels)
    width, height = image.size
    if _orientation(image) in _ROTATED_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(format=str(image.format), width=width, height=height)


def decode(data: bytes, *, max_pixels: int) -> Image.Image:
    """Decode the first frame, apply EXIF orientation and return an 8-bit sRGB RGB image."""
    image = _open(data, max_pixels=max_pixels)
    try:
        image.load()
        # In place: an upright image (most uploads) is not copied, and a 12 MP copy costs about as much as the crop.
        ImageOps.exif_transpose(image, in_place=True)
        return _to_srgb(image)
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(
            f"source_image has more than the {max_pixels} pixels allowed", field="source_image"
        ) from exc
    except _DECODE_ERRORS as exc:
        # The decoder's own words stay in the logs (`reason`): they describe the library, not the request.
        raise UnsupportedImage(
            "source_image could not be decoded; the file may be damaged or truncated",
            field="source_image",
            reason=str(exc),
        ) from exc


def crop(image: Image.Image, box: CropBox) -> Image.Image:
    width, height = image.size
    if box.right > width:
        raise CropOutOfBounds(
            f"crop_box x + width = {box.right} exceeds the image width {width}", field="crop_box.width"
        )
    if box.bottom > height:
        raise CropOutOfBounds(
            f"crop_box y + height = {box.bottom} exceeds the image height {height}", field="crop_box.height"
        )
    return image.crop((box.x, box.y, box.right, box.bottom))


def encode_jpeg(image: Image.Image, *, quality: int) -> bytes:
    buffer = io.BytesIO()
    # No exif/icc_profile arguments: the output carries no metadata (GPS included) and is plain sRGB.
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def keep_freed_blocks(count: int) -> None:
    """Let Pillow keep up to `count` freed memory blocks for the next image instead of unmapping them.

    By default it keeps none, so every 12 MP decode maps fresh memory and pays for its page faults:
    about a third of a manual crop's time in the service. Memory is only kept after it has been in
    use, so this never raises the peak; it holds memory after a burst instead of returning it.
    """
    _imaging.set_blocks_max(count)


def crop_to_jpeg(data: bytes, box: CropBox, *, max_pixels: int, quality: int) -> bytes:
    return encode_jpeg(crop(decode(data, max_pixels=max_pixels), box), quality=quality)


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
    if not data:
        raise UnsupportedImage("source_image is empty", field="source_image")
    try:
        image = Image.open(io.BytesIO(data), formats=sorted(SUPPORTED_FORMATS))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(
            f"source_image has more than the {max_pixels} pixels allowed", field="source_image"
        ) from exc
    except _DECODE_ERRORS as exc:
        raise UnsupportedImage(
            "source_image is not a supported image (JPEG, PNG, WebP, GIF, TIFF or BMP)", field="source_image"
        ) from exc
    width, height = image.size
    if width < 1 or height < 1:
        raise UnsupportedImage("source_image has no pixels", field="source_image")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"source_image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            field="source_image",
        )
    return image


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) else 1


def _to_srgb(image: Image.Image) -> Image.Image:
    icc_profile = image.info.get("icc_profile")
    image = _to_8bit(image)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in {"LA", "La", "PA", "RGBa", "RGBA"} or "transparency" in image.info:
        image = _flatten_on_white(image.convert("RGBA"))
    if image.mode not in {"RGB", "L", "CMYK"}:
        image = image.convert("RGB")
    if icc_profile:
        converted = _apply_icc(image, icc_profile)
        if converted is not None:
            return converted
    return image.convert("RGB") if image.mode != "RGB" else image


def _to_8bit(image: Image.Image) -> Image.Image:
    if image.mode.startswith("I;16") or image.mode == "I":
        scale = 1 / 256 if image.mode.startswith("I;16") or _max_value(image) > 255 else 1
        return image.convert("I").point(lambda value: value * scale).convert("L")
    if image.mode == "F":
        extrema = image.getextrema()
        low, high = float(extrema[0]), float(extrema[1])  # type: ignore[arg-type]
        span = (high - low) or 1.0
        return image.point(lambda value: (value - low) * 255 / span).convert("L")
    return image


def _max_value(image: Image.Image) -> float:
    extrema = image.getextrema()
    return float(extrema[1]) if isinstance(extrema[1], (int, float)) else 255.0


def _flatten_on_white(image: Image.Image) -> Image.Image:
    background = Image.new("RGBA", image.size, (255, 255, 255, 255))
    background.alpha_composite(image)
    return background.convert("RGB")


def _apply_icc(image: Image.Image, icc_profile: bytes) -> Image.Image | None:
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        converted = ImageCms.profileToProfile(image, source, _SRGB_PROFILE, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None
    return converted if isinstance(converted, Image.Image) else None
