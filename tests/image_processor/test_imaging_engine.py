"""The libvips engine: new formats, nothing of the input's metadata in the output, and decode memory."""

import io
import subprocess
import sys
import textwrap
import threading

import pillow_heif
import pytest
import pyvips
from PIL import Image

from image_processor import imaging
from image_processor.api.errors import status_and_code
from image_processor.errors import ImageTooLarge, UnsupportedImage
from image_processor.imaging import pipeline
from image_processor.models import CropBox
from tests.support import images

MAX_PIXELS = 50_000_000


def crop(data: bytes, x: int, y: int, width: int, height: int) -> bytes:
    return imaging.crop_to_jpeg(data, CropBox(x=x, y=y, width=width, height=height), max_pixels=MAX_PIXELS, quality=90)


def avif(colour: tuple[int, int, int]) -> bytes:
    image = pyvips.Image.black(64, 48, bands=3).new_from_image(list(colour)).cast("uchar")
    data: bytes = image.copy(interpretation="srgb").heifsave_buffer(compression="av1", Q=90)
    return data


def heic(colour: tuple[int, int, int]) -> bytes:
    """HEVC-coded, as phones write it (the bundled libvips cannot encode or decode HEVC; pillow-heif can)."""
    pillow_heif.register_heif_opener()
    return images.encode(Image.new("RGB", (64, 48), colour), "HEIF", quality=90)


@pytest.mark.parametrize(("make", "fmt"), [(avif, "AVIF"), (heic, "HEIF")])
def test_phone_formats_are_accepted(make: object, fmt: str) -> None:
    source = make(images.BLUE)  # type: ignore[operator]
    assert imaging.probe(source, max_pixels=MAX_PIXELS) == imaging.ImageInfo(fmt, 64, 48)
    result = crop(source, 8, 8, 20, 10)
    assert Image.open(io.BytesIO(result)).size == (20, 10)
    assert images.close_to(images.pixel(result, 10, 5), images.BLUE, tolerance=16)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', id="svg"),
        pytest.param(images.encode(Image.new("RGB", (8, 8)), "PPM"), id="ppm"),
        pytest.param(b"P2\n2 2\n255\n0 0 0 0\n", id="pgm-text"),
        pytest.param(b"1 2 3\n4 5 6\n", id="csv-matrix"),
    ],
)
def test_formats_libvips_could_load_but_the_service_does_not_take_are_415(data: bytes) -> None:
    with pytest.raises(UnsupportedImage) as caught:
        crop(data, 0, 0, 1, 1)
    assert status_and_code(caught.value) == (415, "unsupported_image")


def markers(jpeg: bytes) -> set[int]:
    """The JPEG's marker segments up to the image data (APPn, COM, ...)."""
    found, at = set(), 2
    while at < len(jpeg) and jpeg[at] == 0xFF and jpeg[at + 1] != 0xDA:
        found.add(jpeg[at + 1])
        at += 2 + int.from_bytes(jpeg[at + 2 : at + 4], "big")
    return found


METADATA_MARKERS = {0xFE} | set(range(0xE1, 0xF0))  # COM, APP1 (EXIF, XMP) .. APP15 (ICC is APP2)


def test_a_jpeg_comment_exif_and_icc_do_not_survive() -> None:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    source = images.encode(
        Image.new("RGB", (64, 64), images.RED), quality=95, comment=b"secret comment", exif=exif.tobytes()
    )
    result = crop(source, 0, 0, 32, 32)
    assert markers(result) & METADATA_MARKERS == set()
    assert b"secret" not in result and b"PhoneMaker" not in result


@pytest.mark.parametrize("size", [100, 65_533, 65_534, 200_000])
def test_a_gif_comment_of_any_length_is_dropped_not_a_failure(size: int) -> None:
    """Pillow copied a GIF's comment into the JPEG and failed (a 500) past 65,533 bytes."""
    source = images.encode(Image.new("P", (40, 40), 1), "GIF", comment=b"c" * size)
    assert Image.open(io.BytesIO(source)).info["comment"] == b"c" * size
    result = crop(source, 0, 0, 20, 20)
    assert markers(result) & METADATA_MARKERS == set()
    assert b"ccc" not in result


def test_crop_boxes_of_every_orientation_match_rotating_the_whole_frame() -> None:
    """The box is mapped into stored pixels and only the crop is rotated; libvips's autorot is the reference."""
    stored = pyvips.Image.xyz(30, 20).extract_band(0).bandjoin(pyvips.Image.xyz(30, 20).extract_band(1)) * 8
    stored = stored.bandjoin(128).cast("uchar").copy(interpretation="srgb")
    for orientation in range(1, 9):
        oriented = stored.copy()
        oriented.set_type(pyvips.GValue.gint_type, "orientation", orientation)
        shown = oriented.autorot()
        box = CropBox(x=3, y=5, width=7, height=4)
        inside = pipeline.stored_box(box, orientation, stored.width, stored.height)
        region = pipeline._orient(stored.crop(inside.x, inside.y, inside.width, inside.height), orientation)
        expected = shown.crop(box.x, box.y, box.width, box.height)
        assert region.write_to_memory() == expected.write_to_memory(), orientation


def test_an_image_over_the_pixel_cap_never_reaches_the_pipeline() -> None:
    # A header claiming 30000 x 30000 pixels: decoding it would take gigabytes and minutes, refusing it none.
    with pytest.raises(ImageTooLarge):
        imaging.crop_to_jpeg(
            images.png_header_claiming(30000, 30000),
            CropBox(x=0, y=0, width=1, height=1),
            max_pixels=10_000,
            quality=90,
        )


def progressive_jpeg(width: int, height: int) -> bytes:
    image = pyvips.Image.gaussnoise(width, height).bandjoin([pyvips.Image.gaussnoise(width, height)] * 2)
    data: bytes = image.cast("uchar").copy(interpretation="srgb").jpegsave_buffer(interlace=True, subsample_mode="off")
    return data


def test_decode_cost_knows_progressive_jpegs_and_whole_frame_formats() -> None:
    baseline = imaging.probe(images.noisy("JPEG", 2000, 1000), max_pixels=MAX_PIXELS)
    progressive = imaging.probe(progressive_jpeg(2000, 1000), max_pixels=MAX_PIXELS)
    rgba_png = imaging.probe(images.encode(Image.new("RGBA", (2000, 1000)), "PNG"), max_pixels=MAX_PIXELS)
    webp = imaging.probe(images.noisy("WEBP", 2000, 1000), max_pixels=MAX_PIXELS)
    assert progressive.progressive and not baseline.progressive
    small = CropBox(x=0, y=0, width=10, height=10)
    assert imaging.decode_cost(baseline, small) < 10 * 1024 * 1024  # streamed: rows, not the frame
    assert imaging.decode_cost(rgba_png, small) < 10 * 1024 * 1024
    assert imaging.decode_cost(progressive, small) >= 2000 * 1000 * 3 * 2  # every DCT coefficient
    assert imaging.decode_cost(webp, small) >= 2000 * 1000 * 3


def reserving(budget: imaging.MemoryBudget, cost: int, release: threading.Event) -> threading.Event:
    """Reserve `cost` in a thread that holds it until `release`; the event returned is set once it is held."""
    held = threading.Event()

    def hold() -> None:
        with budget.reserve(cost):
            held.set()
            release.wait(30)

    threading.Thread(target=hold, daemon=True).start()
    return held


def test_the_budget_refuses_what_can_never_fit_and_queues_the_rest() -> None:
    budget = imaging.MemoryBudget(100)
    with pytest.raises(ImageTooLarge), budget.reserve(101):
        pass
    release_first, release_second, release_third = threading.Event(), threading.Event(), threading.Event()
    assert reserving(budget, 60, release_first).wait(15)
    second = reserving(budget, 60, release_second)
    assert not second.wait(0.2)  # 60 + 60 > 100: it waits
    release_first.set()
    assert second.wait(15)  # the first gave its 60 back
    assert reserving(budget, 40, release_third).wait(15)  # 60 + 40 fit
    release_second.set()
    release_third.set()
    assert reserving(budget, 100, threading.Event()).wait(15)  # everything was given back


def test_a_progressive_jpeg_stays_within_its_estimated_decode_cost(tmp_path: object) -> None:
    """Measured in a fresh process: the peak RSS a progressive 4:4:4 crop adds is within the budget's estimate."""
    script = textwrap.dedent(
        """
        import resource, sys
        import pyvips
        from image_processor import imaging
        from image_processor.models import CropBox
        imaging.configure(max_pixels=50_000_000)
        noise = pyvips.Image.gaussnoise(3000, 2000)
        data = noise.bandjoin([noise, noise]).cast("uchar").copy(interpretation="srgb").jpegsave_buffer(
            interlace=True, subsample_mode="off")
        del noise
        info = imaging.probe(data, max_pixels=50_000_000)
        box = CropBox(x=0, y=1900, width=100, height=100)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        imaging.crop_to_jpeg(data, box, max_pixels=50_000_000, quality=90)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(after - before, imaging.decode_cost(info, box))
        """
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120)
    grew, estimate = (int(value) for value in output.stdout.split())
    assert grew <= estimate, (grew, estimate)
    assert estimate <= 3000 * 2000 * 3 * 2 * 1.5  # the estimate is not padded into meaninglessness


def test_png_text_chunks_are_never_inflated() -> None:
    """63 zTXt chunks of a megabyte of text each: a 64 KB upload that libvips would unpack into 63 MB of metadata."""
    from PIL import PngImagePlugin

    from image_processor.imaging.probe import open_source

    info = PngImagePlugin.PngInfo()
    for index in range(63):
        info.add_text(f"k{index}", "a" * 1_000_000, zip=True)
    source = images.encode(Image.new("RGB", (16, 16), images.RED), "PNG", pnginfo=info)
    assert len(source) < 100_000
    opened = open_source(source, max_pixels=MAX_PIXELS)
    assert not [name for name in opened.vips.get_fields() if name.startswith("png-comment")]
    assert images.close_to(images.pixel(crop(source, 0, 0, 8, 8), 4, 4), images.RED)
