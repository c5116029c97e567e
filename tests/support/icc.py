"""A minimal ICC v2 RGB display profile (matrix/TRC), written byte by byte.

`swapped_primaries_profile()` describes a space whose red and blue primaries are sRGB's blue and red:
a pixel stored as (255, 0, 0) in it is sRGB blue, so a pipeline that honours the profile turns it blue.
"""

import struct

# sRGB colorants adapted to the D50 profile connection space (as in the sRGB IEC61966-2.1 profile).
SRGB_RED_XYZ = (0.4361, 0.2225, 0.0139)
SRGB_GREEN_XYZ = (0.3851, 0.7169, 0.0971)
SRGB_BLUE_XYZ = (0.1431, 0.0606, 0.7141)
D50_XYZ = (0.9642, 1.0, 0.8249)

_HEADER_SIZE = 128


def swapped_primaries_profile() -> bytes:
    return rgb_matrix_profile(
        red=SRGB_BLUE_XYZ, green=SRGB_GREEN_XYZ, blue=SRGB_RED_XYZ, gamma=2.2, description="Swapped red/blue"
    )


def rgb_matrix_profile(
    *,
    red: tuple[float, float, float],
    green: tuple[float, float, float],
    blue: tuple[float, float, float],
    gamma: float,
    description: str,
) -> bytes:
    curve = _curve(gamma)
    tags = [
        (b"desc", _text_description(description)),
        (b"cprt", _text("No copyright, test data")),
        (b"wtpt", _xyz(D50_XYZ)),
        (b"rXYZ", _xyz(red)),
        (b"gXYZ", _xyz(green)),
        (b"bXYZ", _xyz(blue)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    table_size = 4 + 12 * len(tags)
    offset = _HEADER_SIZE + table_size
    entries, payload = [], b""
    for signature, data in tags:
        entries.append(struct.pack(">4sII", signature, offset + len(payload), len(data)))
        payload += _pad(data)
    body = struct.pack(">I", len(tags)) + b"".join(entries) + payload
    return _header(_HEADER_SIZE + len(body)) + body


def _header(size: int) -> bytes:
    header = struct.pack(
        ">I4sI4s4s4s6H4s4sI4s4sQI12s4s16s28s",
        size,
        b"none",
        0x02100000,  # version 2.1
        b"mntr",
        b"RGB ",
        b"XYZ ",
        2026, 1, 1, 0, 0, 0,
        b"acsp",
        b"APPL",
        0,
        b"none",
        b"none",
        0,
        0,  # perceptual intent
        _xyz_numbers(D50_XYZ),
        b"test",
        b"\x00" * 16,
        b"\x00" * 28,
    )  # fmt: skip
    assert len(header) == _HEADER_SIZE
    return header


def _s15fixed16(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz_numbers(xyz: tuple[float, float, float]) -> bytes:
    return b"".join(_s15fixed16(value) for value in xyz)


def _xyz(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \x00\x00\x00\x00" + _xyz_numbers(xyz)


def _curve(gamma: float) -> bytes:
    return b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256))


def _text(value: str) -> bytes:
    return b"text\x00\x00\x00\x00" + value.encode("ascii") + b"\x00"


def _text_description(value: str) -> bytes:
    ascii_value = value.encode("ascii") + b"\x00"
    return (
        b"desc\x00\x00\x00\x00"
        + struct.pack(">I", len(ascii_value))
        + ascii_value
        + struct.pack(">II", 0, 0)  # no Unicode description
        + struct.pack(">HB", 0, 0)
        + b"\x00" * 67  # no ScriptCode description
    )


def _pad(data: bytes) -> bytes:
    return data + b"\x00" * (-len(data) % 4)
