"""Reading only the header: which decoder, how big as displayed, and what decoding it will cost."""

import io
from dataclasses import dataclass, field
from typing import Any

import pyvips
from PIL import Image, UnidentifiedImageError
from pyvips import ffi, vips_lib

from ..errors import ImageTooLarge, UnsupportedImage
from .jpeg_scans import check_scans
from .png_chunks import without_costly_chunks

# libvips loaders by content, each mapped to the format name the service reports. Anything else that
# libvips could load (SVG, PDF, its own raw and matrix formats) is refused.
_VIPS_LOADERS = {
    "VipsForeignLoadJpegBuffer": "JPEG",
    "VipsForeignLoadPngBuffer": "PNG",
    "VipsForeignLoadWebpBuffer": "WEBP",
    "VipsForeignLoadNsgifBuffer": "GIF",
    "VipsForeignLoadTiffBuffer": "TIFF",
    "VipsForeignLoadHeifBuffer": "HEIF",
}
# What the bundled libvips cannot decode: BMP, and HEIC (HEVC) from phones. Pillow does.
_PILLOW_FORMATS = ("BMP", "HEIF")
_END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}
_ROTATED_ORIENTATIONS = frozenset({5, 6, 7, 8})
_PILLOW_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError)
UNDECODABLE = "source_image could not be decoded; the file may be damaged or truncated"
UNSUPPORTED = "source_image is not a supported image (JPEG, PNG, WebP, GIF, TIFF, BMP, HEIC/HEIF or AVIF)"


@dataclass(frozen=True)
class ImageInfo:
    """Format and size as displayed (after EXIF orientation), and what the decoder's memory depends on."""

    format: str
    width: int
    height: int
    bands: int = field(default=3, compare=False)
    bytes_per_sample: int = field(default=1, compare=False)
    progressive: bool = field(default=False, compare=False)
    orientation: int = field(default=1, compare=False)
    decoder: str = field(default="vips", compare=False)
    metadata_bytes: int = field(default=0, compare=False)  # profile, EXIF, XMP and IPTC as libvips holds them

    @property
    def stored_size(self) -> tuple[int, int]:
        if self.orientation in _ROTATED_ORIENTATIONS:
            return self.height, self.width
        return self.width, self.height


@dataclass(frozen=True)
class Source:
    """A header-checked upload: libvips's lazy image (no pixel decoded yet) or, for Pillow's formats, None."""

    info: ImageInfo
    data: bytes
    vips: Any  # pyvips.Image | None; pyvips has no type hints


def open_source(data: bytes, *, max_pixels: int) -> Source:
    if not data:
        raise UnsupportedImage("source_image is empty", field="source_image")
    loader = _vips_loader(data)
    if loader == "PNG":
        data = without_costly_chunks(data)
    elif loader == "JPEG":
        check_scans(data)
    if loader is not None:
        try:
            image = pyvips.Image.new_from_buffer(data, "", access="sequential", fail=True)
        except pyvips.Error as exc:
            _refuse_bomb_libvips_rejected(data, max_pixels)
            raise UnsupportedImage(UNSUPPORTED, field="source_image") from exc
        if not (loader == "HEIF" and image.get("heif-compression") == "hevc"):
            info = _check(_vips_info(image, loader), max_pixels)
            if loader in _END_MARKERS and data.rfind(_END_MARKERS[loader]) == -1:
                # Cut off before its end marker: libvips would notice only if the crop reached the missing rows.
                raise UnsupportedImage(UNDECODABLE, field="source_image", reason="no end marker: truncated")
            return Source(info=info, data=data, vips=image)
    return Source(info=_check(_pillow_info(data), max_pixels), data=data, vips=None)


def probe(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Read only the header: format, shown size and decode cost; refuse non-images and bombs."""
    return open_source(data, max_pixels=max_pixels).info


def open_with_pillow(data: bytes) -> Image.Image:
    _register_heif()
    try:
        return Image.open(io.BytesIO(data), formats=list(_PILLOW_FORMATS))
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("source_image has more pixels than allowed", field="source_image") from exc
    except _PILLOW_ERRORS as exc:
        raise UnsupportedImage(UNSUPPORTED, field="source_image") from exc


def _vips_loader(data: bytes) -> str | None:
    pointer = vips_lib.vips_foreign_find_load_buffer(data, len(data))
    if pointer == ffi.NULL:
        return None
    return _VIPS_LOADERS.get(ffi.string(pointer).decode())


def _vips_info(image: Any, loader: str) -> ImageInfo:
    fields = set(image.get_fields())
    orientation = image.get("orientation") if "orientation" in fields else 1
    orientation = orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1
    fmt = "AVIF" if loader == "HEIF" and image.get("heif-compression") == "av1" else loader
    width, height = image.width, image.height
    if orientation in _ROTATED_ORIENTATIONS:
        width, height = height, width
    return ImageInfo(
        format=fmt,
        width=width,
        height=height,
        bands=image.bands,
        bytes_per_sample=_SAMPLE.get(image.format, 8),
        progressive=bool(image.get("interlaced")) if "interlaced" in fields else False,
        orientation=orientation,
        metadata_bytes=sum(len(image.get(name)) for name in _METADATA_BLOBS & fields),
    )


_METADATA_BLOBS = frozenset({"icc-profile-data", "exif-data", "xmp-data", "iptc-data"})
_SAMPLE = {"uchar": 1, "char": 1, "ushort": 2, "short": 2, "uint": 4, "int": 4, "float": 4, "double": 8}


def _pillow_info(data: bytes) -> ImageInfo:
    # BMP has no orientation, and pillow-heif applies HEIF's own rotation and mirroring when it decodes.
    image = open_with_pillow(data)
    width, height = image.size
    bands = len(image.getbands())
    return ImageInfo(
        format=str(image.format),
        width=width,
        height=height,
        bands=max(bands, 3),
        bytes_per_sample=2 if image.mode.startswith("I;16") else 1,
        decoder="pillow",
    )


def _check(info: ImageInfo, max_pixels: int) -> ImageInfo:
    if info.width < 1 or info.height < 1:
        raise UnsupportedImage("source_image has no pixels", field="source_image")
    pixels = info.width * info.height
    if pixels > max_pixels:
        raise ImageTooLarge(
            f"source_image is {info.width}x{info.height} = {pixels} pixels; the limit is {max_pixels}",
            field="source_image",
        )
    return info


def _refuse_bomb_libvips_rejected(data: bytes, max_pixels: int) -> None:
    """libvips refuses some absurd headers (a PNG 2^31 pixels wide) outright: still say why, from the header."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG", "JPEG", "GIF", "TIFF", "WEBP"]) as image:
            width, height = image.size
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge("source_image has more pixels than allowed", field="source_image") from exc
    except _PILLOW_ERRORS:
        return
    _check(ImageInfo(format="", width=width, height=height), max_pixels)


def _register_heif() -> None:
    # pillow-heif decodes the HEVC that the bundled libvips lacks; registering is idempotent. Imported
    # here, when Pillow is first needed: it loads its own libheif (about 20 ms) that most uploads never use.
    from pillow_heif import register_heif_opener

    register_heif_opener()
