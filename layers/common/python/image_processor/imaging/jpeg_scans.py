"""Counting a JPEG's scans by walking its markers, before any pixel is decoded.

A progressive JPEG's decode cost grows with its scan count, not its pixels: every scan is another pass
over all the coefficients. Encoders write about 10 scans (libjpeg's progressive script has 10 for
colour, 6 for greyscale; optimisers such as mozjpeg and jpegtran stay below 20), so MAX_JPEG_SCANS
leaves ample room for any real photo while refusing a file that repeats scans to burn CPU (a 20 MiB
file could hold hundreds of thousands).
"""

import re

from ..errors import ImageTooComplex

MAX_JPEG_SCANS = 100

_SOI = b"\xff\xd8"
_SOS = 0xDA
_EOI = 0xD9
# Markers without a length field: TEM, RST0-7, SOI, EOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8), 0xD8, 0xD9})
# Inside entropy-coded data, 0xFF is followed by 0x00 (a stuffed byte), RSTn or fill 0xFFs; anything else ends it.
_NEXT_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")


def count_scans(data: bytes, *, stop_after: int = MAX_JPEG_SCANS) -> int:
    """Start-of-scan markers in `data`, counting no further than `stop_after` + 1. Structure this walk
    cannot follow (a truncated segment, garbage between markers) ends the count: the decoder judges it."""
    if not data.startswith(_SOI):
        return 0
    scans, at = 0, 2
    while at + 4 <= len(data) and scans <= stop_after:
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker in _STANDALONE:
            if marker == _EOI:
                break
            at += 2
            continue
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if marker == _SOS:
            scans += 1
            found = _NEXT_MARKER.search(data, at)
            if found is None:
                break
            at = found.start()
    return scans


def check_scans(data: bytes) -> None:
    scans = count_scans(data)
    if scans > MAX_JPEG_SCANS:
        raise ImageTooComplex(
            f"source_image is a JPEG with more than {MAX_JPEG_SCANS} scans; encoders write about 10, "
            "and each one costs another pass over the whole image",
            field="source_image",
        )
