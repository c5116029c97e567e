"""What a decode may cost beyond its pixels: JPEG scans, time, and a PNG's colour profile."""

import io
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from image_processor import imaging
from image_processor.errors import ImageTooComplex
from image_processor.imaging import deadline
from image_processor.imaging.jpeg_scans import MAX_JPEG_SCANS, count_scans
from image_processor.imaging.png_chunks import without_costly_chunks
from image_processor.models import CropBox
from tests.support import images
from tests.support.icc import swapped_primaries_profile
from tests.support.jpeg_bombs import many_scans_jpeg

MAX_PIXELS = 50_000_000
BOX = CropBox(x=0, y=0, width=64, height=64)


@pytest.fixture
def short_deadline() -> Iterator[None]:
    deadline.set_decode_timeout(1e-6)
    try:
        yield
    finally:
        deadline.set_decode_timeout(deadline.DEFAULT_DECODE_TIMEOUT_SECONDS)


def test_scans_are_counted_from_the_markers() -> None:
    assert count_scans(images.solid_jpeg()) == 1
    assert count_scans(images.encode(Image.new("RGB", (64, 64)), progressive=True)) == 10
    assert count_scans(many_scans_jpeg(64, 64, scans=250), stop_after=1000) == 250


def test_a_jpeg_with_many_scans_is_refused_before_any_pixel_is_decoded() -> None:
    bomb = many_scans_jpeg(4000, 4000, scans=883)

    started = time.process_time()
    with pytest.raises(ImageTooComplex, match=f"more than {MAX_JPEG_SCANS} scans"):
        imaging.crop_to_jpeg(bomb, BOX, max_pixels=MAX_PIXELS, quality=90)

    assert time.process_time() - started < 0.5  # decoding it takes about 3 s of CPU


def test_a_jpeg_at_the_scan_limit_is_cropped() -> None:
    jpeg = imaging.crop_to_jpeg(many_scans_jpeg(256, 256, scans=MAX_JPEG_SCANS), BOX, max_pixels=MAX_PIXELS, quality=90)

    assert Image.open(io.BytesIO(jpeg)).size == (64, 64)


@pytest.mark.usefixtures("short_deadline")
def test_a_decode_past_its_deadline_is_stopped() -> None:
    photo = images.encode(Image.effect_noise((2000, 2000), 64).convert("RGB"), quality=90)

    with pytest.raises(ImageTooComplex, match="IMAGE_DECODE_TIMEOUT_SECONDS"):
        imaging.crop_to_jpeg(photo, CropBox(x=0, y=0, width=2000, height=2000), max_pixels=MAX_PIXELS, quality=90)


@pytest.mark.usefixtures("short_deadline")
def test_a_decode_stopped_at_its_deadline_frees_its_memory_reservation() -> None:
    budget = imaging.MemoryBudget(64 * 1024 * 1024)
    photo = images.encode(Image.effect_noise((2000, 2000), 64).convert("RGB"), quality=90)

    with pytest.raises(ImageTooComplex):
        imaging.crop_to_jpeg(
            photo, CropBox(x=0, y=0, width=2000, height=2000), max_pixels=MAX_PIXELS, quality=90, budget=budget
        )

    whole_budget_taken = threading.Event()

    def take_the_whole_budget() -> None:
        with budget.reserve(budget.total):
            whole_budget_taken.set()

    threading.Thread(target=take_the_whole_budget, daemon=True).start()
    assert whole_budget_taken.wait(10)  # nothing is still reserved by the stopped decode


def _png_with_icc_chunk(profile: bytes) -> bytes:
    """A small PNG carrying `profile` in an iCCP chunk (Pillow writes it compressed, as encoders do)."""
    return images.encode(Image.new("RGB", (64, 64), images.RED), "PNG", icc_profile=profile)


def _iccp(data: bytes) -> bytes | None:
    at = 8
    while at + 12 <= len(data):
        length = struct.unpack(">I", data[at : at + 4])[0]
        if data[at + 4 : at + 8] == b"iCCP":
            return data[at + 8 : at + 8 + length]
        at += 12 + length
    return None


def test_a_png_profile_that_inflates_past_the_cap_is_dropped_before_decoding() -> None:
    bomb = _png_with_icc_chunk(b"\0" * (48 * 1024 * 1024))
    assert len(bomb) < 100_000  # 48 MB of profile in about 49 KB

    kept = without_costly_chunks(bomb)

    assert _iccp(bomb) is not None
    assert _iccp(kept) is None
    assert imaging.probe(bomb, max_pixels=MAX_PIXELS).metadata_bytes == 0


def test_a_png_profile_within_the_cap_is_kept_and_priced() -> None:
    profile = swapped_primaries_profile()
    png = _png_with_icc_chunk(profile)

    assert without_costly_chunks(png) == png
    info = imaging.probe(png, max_pixels=MAX_PIXELS)
    assert info.metadata_bytes >= len(profile)
    assert imaging.decode_cost(info) > imaging.decode_cost(
        imaging.probe(images.encode(Image.new("RGB", (64, 64)), "PNG"), max_pixels=MAX_PIXELS)
    )
