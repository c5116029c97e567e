"""Test images made on the fly: orientation, modes, profiles and broken files."""

import io
import struct
import zlib
from typing import Any

from PIL import Image

from tests.support.icc import swapped_primaries_profile

RED, BLUE, GREEN, WHITE = (220, 20, 20), (20, 20, 220), (20, 200, 20), (255, 255, 255)


def encode(image: Image.Image, fmt: str = "JPEG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def solid_jpeg(width: int = 400, height: int = 300, colour: tuple[int, int, int] = RED) -> bytes:
    return encode(Image.new("RGB", (width, height), colour), quality=95)


def halves(width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (width, height), top)
    image.paste(bottom, (0, height // 2, width, height))
    return image


def exif_rotated_jpeg() -> bytes:
    """Stored 400x200, red on top and blue below, tagged Orientation=6 (shown rotated 90 degrees clockwise).

    As displayed it is 200x400 with blue on the left and red on the right.
    """
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(halves(400, 200, RED, BLUE), quality=95, exif=exif.tobytes())


def jpeg_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 0.0)
    return encode(Image.new("RGB", (200, 200), GREEN), quality=95, exif=exif.tobytes())


def rgba_png() -> bytes:
    image = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    image.paste((20, 20, 220, 255), (50, 0, 100, 100))
    return encode(image, "PNG")


def palette_png_with_transparency() -> bytes:
    image = Image.new("P", (100, 100), 0)
    image.putpalette([0, 0, 0, 20, 200, 20] + [0] * (256 * 3 - 6))
    image.paste(1, (50, 0, 100, 100))
    return encode(image, "PNG", transparency=0)


def la_png() -> bytes:
    image = Image.new("LA", (100, 100), (0, 0))
    image.paste((40, 255), (50, 0, 100, 100))
    return encode(image, "PNG")


def cmyk_jpeg() -> bytes:
    return encode(Image.new("CMYK", (120, 80), (0, 255, 255, 0)), quality=95)


def sixteen_bit_png(value: int = 65535) -> bytes:
    """A 64x64 16-bit greyscale PNG written by hand (Pillow would write only 8 bits)."""
    width = height = 64
    raw = b"".join(b"\x00" + struct.pack(">H", value) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def icc_tagged_jpeg() -> bytes:
    """Stored pixels (255, 0, 0) tagged with a profile whose red primary is sRGB's blue: shown blue."""
    return encode(Image.new("RGB", (64, 64), (255, 0, 0)), quality=95, icc_profile=swapped_primaries_profile())


def sixteen_bit_rgb_png(colour: tuple[int, int, int] = (65535, 0, 0)) -> bytes:
    """A 32x32 16-bit-per-channel RGB PNG written by hand."""
    width = height = 32
    raw = b"".join(b"\x00" + struct.pack(">HHH", *colour) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw))
        + _png_chunk(b"IEND", b"")
    )


def noisy(fmt: str, width: int = 64, height: int = 64) -> bytes:
    """Random-looking pixels, so that every format's file has real compressed data to cut into."""
    image = Image.effect_noise((width, height), 60).convert("RGB")
    return encode(image, fmt)


def truncated(fmt: str) -> bytes:
    data = noisy(fmt)
    return data[: len(data) // 2]


def corrupted(fmt: str) -> bytes:
    """The format's signature followed by garbage where the headers should be."""
    data = noisy(fmt)
    keep = 16 if fmt == "WEBP" else 8
    return data[:keep] + bytes((index * 37 + 11) % 256 for index in range(len(data) - keep))


def truncated_jpeg() -> bytes:
    data = solid_jpeg(600, 400)
    return data[: len(data) // 2]


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge image, followed by a few bytes of pixel data (a pixel bomb)."""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
    )


def jpeg_header_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) claims `width` x `height`."""
    data = bytearray(solid_jpeg(16, 16))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def gif_header_claiming(width: int, height: int) -> bytes:
    """A GIF whose screen and first frame both claim `width` x `height`."""
    data = bytearray(encode(Image.new("P", (16, 16), 0), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    descriptor = data.index(b"\x2c", 13)
    data[descriptor + 5 : descriptor + 9] = struct.pack("<HH", width, height)
    return bytes(data)


def tiff_header_claiming(width: int, height: int) -> bytes:
    """A little-endian baseline greyscale TIFF whose IFD claims `width` x `height`, with 64 bytes of pixels."""
    entries = [
        (256, 4, 1, width),  # ImageWidth, LONG
        (257, 4, 1, height),  # ImageLength
        (258, 3, 1, 8),  # BitsPerSample, SHORT
        (259, 3, 1, 1),  # Compression: none
        (262, 3, 1, 1),  # PhotometricInterpretation: BlackIsZero
        (273, 4, 1, 0),  # StripOffsets, patched below
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, height),  # RowsPerStrip
        (279, 4, 1, 64),  # StripByteCounts
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    pixels_at = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = pixels_at if tag == 273 else value
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x80" * 64


def bmp_header_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode(Image.new("RGB", (4, 4), RED), "BMP"))
    data[18:26] = struct.pack("<ii", width, height)
    return bytes(data)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pixel(jpeg: bytes, x: int, y: int) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(jpeg)) as image:
        value = image.convert("RGB").getpixel((x, y))
    assert isinstance(value, tuple)
    return (int(value[0]), int(value[1]), int(value[2]))


def close_to(actual: tuple[int, int, int], expected: tuple[int, int, int], tolerance: int = 30) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))
