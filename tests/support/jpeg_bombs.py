"""Progressive JPEGs with many valid scans, written by hand: a flat grey greyscale image whose every
coefficient is zero, so each scan is a few bytes of end-of-band runs, yet every scan is another pass
over all the blocks for the decoder. Every scan is legal (no decoder warning), so a strict loader
accepts the file."""

import struct

_MAX_AL = 13  # the deepest successive-approximation shift libjpeg accepts for 8-bit samples


def many_scans_jpeg(width: int, height: int, *, scans: int) -> bytes:
    """A greyscale progressive JPEG of `scans` scans (1 DC scan, then AC scans band by band, each band
    first coded at Al=13 and then refined one bit at a time); at most 1 + 63 * 14 = 883."""
    ac_scans = [scan for k in range(1, 64) for scan in _band_script(k)]
    if not 1 <= scans <= 1 + len(ac_scans):
        raise ValueError(f"scans must be between 1 and {1 + len(ac_scans)}")
    blocks = ((width + 7) // 8) * ((height + 7) // 8)
    parts = [b"\xff\xd8", _dqt(), _sof2(width, height), _dht(0, 0, {1: [0]}), _dht(1, 0, _EOB_RUN_TABLE)]
    parts.append(_sos(0, 0, 0, 0) + _stuffed(_dc_zeros(blocks)))
    parts.extend(_sos(k, k, ah, al) + _stuffed(_eob_runs(blocks)) for k, ah, al in ac_scans[: scans - 1])
    parts.append(b"\xff\xd9")
    return b"".join(parts)


def _band_script(k: int) -> list[tuple[int, int, int]]:
    """Band k's scans as (k, Ah, Al): first at Al=13, then a refinement per bit."""
    return [(k, 0, _MAX_AL), *((k, ah, ah - 1) for ah in range(_MAX_AL, 0, -1))]


# EOBn (symbol n << 4, n extra bits) for n = 0..14, every code 4 bits long.
_EOB_RUN_TABLE = {4: [n << 4 for n in range(15)]}


def _segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload


def _dqt() -> bytes:
    return _segment(0xDB, b"\x00" + b"\x01" * 64)


def _sof2(width: int, height: int) -> bytes:
    return _segment(0xC2, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")


def _dht(table_class: int, table_id: int, lengths: dict[int, list[int]]) -> bytes:
    counts = bytes(len(lengths.get(length, [])) for length in range(1, 17))
    symbols = bytes(symbol for length in range(1, 17) for symbol in lengths.get(length, []))
    return _segment(0xC4, bytes([table_class << 4 | table_id]) + counts + symbols)


def _sos(ss: int, se: int, ah: int, al: int) -> bytes:
    return _segment(0xDA, b"\x01\x01\x00" + bytes([ss, se, ah << 4 | al]))


class _Bits:
    def __init__(self) -> None:
        self.value = 0
        self.count = 0

    def put(self, value: int, length: int) -> None:
        self.value = self.value << length | value
        self.count += length

    def bytes(self) -> bytes:
        padding = -self.count % 8
        self.put((1 << padding) - 1, padding)
        return self.value.to_bytes(self.count // 8, "big") if self.count else b""


def _dc_zeros(blocks: int) -> bytes:
    bits = _Bits()
    bits.put(0, blocks)  # the DC table's only code, "0", meaning a difference of 0
    return bits.bytes()


def _eob_runs(blocks: int) -> bytes:
    bits = _Bits()
    while blocks:
        run = min(blocks, 32767)
        n = run.bit_length() - 1
        bits.put(n, 4)  # code n: EOBn, whose 4-bit code is n itself (codes assigned in symbol order)
        bits.put(run - (1 << n), n)
        blocks -= run
    return bits.bytes()


def _stuffed(data: bytes) -> bytes:
    return data.replace(b"\xff", b"\xff\x00")
