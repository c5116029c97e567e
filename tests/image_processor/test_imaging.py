"""The image pipeline on its own: bytes in, JPEG bytes out."""

import io
from collections.abc import Callable

import pytest
from PIL import Image, ImageFile

from image_processor import imaging
from image_processor.api.errors import status_and_code
from image_processor.errors import CropOutOfBounds, ImageTooLarge, ServiceError, UnsupportedImage
from image_processor.models import CropBox
from tests.support import images

MAX_PIXELS = 50_000_000


def crop(data: bytes, x: int, y: int, width: int, height: int, *, max_pixels: int = MAX_PIXELS) -> bytes:
    box = CropBox(x=x, y=y, width=width, height=height)
    return imaging.crop_to_jpeg(data, box, max_pixels=max_pixels, quality=90)


def opened(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


def test_crop_returns_exactly_the_requested_region() -> None:
    source = images.encode(images.halves(100, 100, images.RED, images.BLUE), "PNG")
    top = opened(crop(source, 10, 0, 50, 40))
    bottom = opened(crop(source, 10, 60, 50, 40))
    assert top.size == bottom.size == (50, 40)
    assert images.close_to(images.pixel(crop(source, 10, 0, 50, 40), 25, 20), images.RED)
    assert images.close_to(images.pixel(crop(source, 10, 60, 50, 40), 25, 20), images.BLUE)


def test_exif_orientation_is_applied_before_cropping() -> None:
    """Audit 8: a box drawn on the image as shown (rotated) cuts that region of the shown image."""
    source = images.exif_rotated_jpeg()
    assert imaging.probe(source, max_pixels=MAX_PIXELS) == imaging.ImageInfo(format="JPEG", width=200, height=400)
    left = crop(source, 0, 0, 100, 100)
    right = crop(source, 100, 300, 100, 100)
    assert images.close_to(images.pixel(left, 50, 50), images.BLUE)
    assert images.close_to(images.pixel(right, 50, 50), images.RED)


def test_a_box_inside_the_stored_size_but_outside_the_shown_size_is_refused() -> None:
    """Audit 5/8: bounds are checked against the oriented image (stored 400x200, shown 200x400)."""
    with pytest.raises(CropOutOfBounds) as caught:
        crop(images.exif_rotated_jpeg(), 0, 0, 300, 100)
    assert caught.value.field == "crop_box.width"
    with pytest.raises(CropOutOfBounds) as caught:
        crop(images.exif_rotated_jpeg(), 0, 350, 100, 100)
    assert caught.value.field == "crop_box.height"


@pytest.mark.parametrize(
    ("x", "y", "width", "height", "field"),
    [
        (301, 0, 100, 100, "crop_box.width"),
        (0, 0, 401, 10, "crop_box.width"),
        (0, 201, 10, 100, "crop_box.height"),
        (0, 0, 10, 301, "crop_box.height"),
    ],
)
def test_out_of_bounds_boxes_are_refused_instead_of_padded(x: int, y: int, width: int, height: int, field: str) -> None:
    """Audit 5: Pillow would pad the outside part with black; the pipeline refuses it."""
    with pytest.raises(CropOutOfBounds) as caught:
        crop(images.solid_jpeg(400, 300), x, y, width, height)
    assert status_and_code(caught.value)[0] == 422
    assert caught.value.field == field


def test_a_box_covering_the_whole_image_is_accepted() -> None:
    assert opened(crop(images.solid_jpeg(400, 300), 0, 0, 400, 300)).size == (400, 300)


@pytest.mark.parametrize(
    ("make", "box", "expected"),
    [
        pytest.param(images.rgba_png, (0, 0, 40, 40), images.WHITE, id="rgba-transparent-is-white"),
        pytest.param(images.rgba_png, (60, 0, 40, 40), (20, 20, 220), id="rgba-opaque-keeps-colour"),
        pytest.param(images.la_png, (0, 0, 40, 40), images.WHITE, id="la-transparent-is-white"),
        pytest.param(images.la_png, (60, 0, 40, 40), (40, 40, 40), id="la-opaque-keeps-grey"),
        pytest.param(images.palette_png_with_transparency, (0, 0, 40, 40), images.WHITE, id="p-transparent-is-white"),
        pytest.param(images.palette_png_with_transparency, (60, 0, 40, 40), images.GREEN, id="p-opaque-keeps-colour"),
        pytest.param(images.cmyk_jpeg, (0, 0, 40, 40), (255, 0, 0), id="cmyk-red"),
        pytest.param(images.sixteen_bit_png, (0, 0, 40, 40), images.WHITE, id="16-bit-grey-white"),
        pytest.param(lambda: images.sixteen_bit_png(32768), (0, 0, 40, 40), (128, 128, 128), id="16-bit-grey-mid"),
        pytest.param(images.sixteen_bit_rgb_png, (0, 0, 20, 20), (255, 0, 0), id="16-bit-rgb-red"),
    ],
)
def test_every_mode_ends_as_an_rgb_jpeg_with_the_right_colours(
    make: Callable[[], bytes], box: tuple[int, int, int, int], expected: tuple[int, int, int]
) -> None:
    """Audit 7: modes JPEG cannot hold are converted (alpha composited on white), never a 500."""
    result = crop(make(), *box)
    image = opened(result)
    assert (image.format, image.mode) == ("JPEG", "RGB")
    assert images.close_to(images.pixel(result, box[2] // 2, box[3] // 2), expected, tolerance=12)


def test_an_embedded_icc_profile_is_converted_to_srgb() -> None:
    """Audit 7: stored (255, 0, 0) under a profile whose red primary is sRGB blue comes out blue."""
    result = crop(images.icc_tagged_jpeg(), 0, 0, 32, 32)
    assert images.close_to(images.pixel(result, 16, 16), (0, 0, 255), tolerance=20)
    assert "icc_profile" not in opened(result).info


def test_a_broken_icc_profile_is_ignored_rather_than_failing() -> None:
    source = images.encode(Image.new("RGB", (32, 32), images.RED), quality=95, icc_profile=b"not a profile" * 10)
    assert images.close_to(images.pixel(crop(source, 0, 0, 16, 16), 8, 8), images.RED)


def test_metadata_including_gps_is_stripped_from_the_output() -> None:
    source = images.jpeg_with_gps()
    assert opened(source).getexif().get_ifd(0x8825)
    image = opened(crop(source, 0, 0, 50, 50))
    assert not image.getexif()
    assert "exif" not in image.info
    assert "icc_profile" not in image.info


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_every_supported_format_is_decoded_by_content(fmt: str) -> None:
    assert opened(crop(images.noisy(fmt), 0, 0, 32, 32)).size == (32, 32)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_truncated_and_corrupted_files_are_unsupported_images(fmt: str) -> None:
    """Audit 6: a truncated or corrupt upload is a 4xx domain error, never a Pillow exception."""
    for data in (images.truncated(fmt), images.corrupted(fmt)):
        with pytest.raises(ServiceError) as caught:
            crop(data, 0, 0, 8, 8)
        assert 400 <= status_and_code(caught.value)[0] < 500
        assert caught.value.field == "source_image"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"hello, this is text named photo.jpg\n", id="text"),
        pytest.param(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", id="pdf"),
        pytest.param(b"\xff\xd8\xff", id="jpeg-magic-only"),
        pytest.param(images.truncated_jpeg(), id="truncated-jpeg"),
    ],
)
def test_non_images_are_unsupported(data: bytes) -> None:
    """Audit 6: non-image, empty and truncated uploads raise UnsupportedImage (415)."""
    with pytest.raises(UnsupportedImage) as caught:
        crop(data, 0, 0, 1, 1)
    assert status_and_code(caught.value)[0] == 415


def test_formats_outside_the_allow_list_are_refused_even_if_pillow_reads_them() -> None:
    with pytest.raises(UnsupportedImage):
        crop(images.encode(Image.new("RGB", (8, 8)), "PPM"), 0, 0, 1, 1)


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(images.png_header_claiming, id="png"),
        pytest.param(images.jpeg_header_claiming, id="jpeg"),
        pytest.param(images.gif_header_claiming, id="gif"),
        pytest.param(images.tiff_header_claiming, id="tiff"),
        pytest.param(images.bmp_header_claiming, id="bmp"),
    ],
)
def test_pixel_bombs_are_refused_from_the_header(bomb: Callable[[int, int], bytes]) -> None:
    """Audit 9: a header claiming 30000x30000 is refused before any pixel is decoded."""
    with pytest.raises(ImageTooLarge) as caught:
        crop(bomb(30000, 30000), 0, 0, 1, 1)
    assert status_and_code(caught.value)[0] == 422


def test_the_pixel_cap_is_checked_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit 9: an image just over a configured cap never reaches the decoder."""

    def must_not_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("decoded an image over the pixel cap")

    source = images.solid_jpeg(101, 100)
    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    with pytest.raises(ImageTooLarge) as caught:
        crop(source, 0, 0, 1, 1, max_pixels=100 * 100)
    assert "10100" in caught.value.message


def test_an_image_exactly_at_the_pixel_cap_is_accepted() -> None:
    assert opened(crop(images.solid_jpeg(100, 100), 0, 0, 100, 100, max_pixels=100 * 100)).size == (100, 100)


def test_probe_reads_format_and_shown_size_without_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_decode(self: ImageFile.ImageFile) -> None:
        raise AssertionError("probe decoded the pixels")

    source = images.exif_rotated_jpeg()
    monkeypatch.setattr(ImageFile.ImageFile, "load", must_not_decode)
    assert imaging.probe(source, max_pixels=MAX_PIXELS) == imaging.ImageInfo("JPEG", 200, 400)


def test_gif_uses_its_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), colour) for colour in (images.RED, images.BLUE)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    assert images.close_to(images.pixel(crop(buffer.getvalue(), 0, 0, 10, 10), 5, 5), images.RED)


def test_jpeg_quality_is_applied() -> None:
    source = images.noisy("PNG", 128, 128)
    box = CropBox(x=0, y=0, width=128, height=128)
    low = imaging.crop_to_jpeg(source, box, max_pixels=MAX_PIXELS, quality=10)
    high = imaging.crop_to_jpeg(source, box, max_pixels=MAX_PIXELS, quality=95)
    assert len(low) < len(high)
