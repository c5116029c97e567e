"""Removing PNG chunks whose metadata libvips would inflate without a bound, before it sees the file.

Text chunks (tEXt, zTXt, iTXt) go always: 63 zTXt chunks of a few hundred bytes each unpack to over
200 MB. An iCCP colour profile is inflated here with a cap of MAX_ICC_PROFILE_BYTES: within it the
chunk stays (the crop converts from it to sRGB); past it, or unreadable, the chunk is dropped and the
image is treated as sRGB, as a PNG without a profile is. Real profiles are a few KB (a camera's or
a printer's rarely reach 1 MB), while a 49 KB chunk can inflate to 48 MB.
"""

import zlib

MAX_ICC_PROFILE_BYTES = 1024 * 1024

_TEXT_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt"})
_ICCP = b"iCCP"
_MAX_PROFILE_NAME = 79


def without_costly_chunks(data: bytes) -> bytes:
    """The PNG without its text chunks or an oversized colour profile. Unreadable chunk structure is left
    to the decoder."""
    kept, at, dropped = [data[:8]], 8, False
    while at + 12 <= len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        end = at + 12 + length
        if end > len(data):
            break
        kind = data[at + 4 : at + 8]
        if kind in _TEXT_CHUNKS or (kind == _ICCP and not _profile_fits(data[at + 8 : end - 4])):
            dropped = True
        else:
            kept.append(data[at:end])
        at = end
    if not dropped:
        return data
    kept.append(data[at:])
    return b"".join(kept)


def _profile_fits(chunk: bytes) -> bool:
    """Whether the iCCP chunk's profile inflates to at most MAX_ICC_PROFILE_BYTES (inflating no more than that)."""
    name_end = chunk.find(b"\x00", 0, _MAX_PROFILE_NAME + 1)
    if name_end < 1 or len(chunk) < name_end + 2 or chunk[name_end + 1] != 0:  # 0: the only compression method
        return False
    inflater = zlib.decompressobj()
    try:
        profile = inflater.decompress(chunk[name_end + 2 :], MAX_ICC_PROFILE_BYTES + 1)
    except zlib.error:
        return False
    return len(profile) <= MAX_ICC_PROFILE_BYTES
