"""Crop-box validation against image size and EXIF orientation, for any box."""

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageStat

from image_processor import imaging
from image_processor.api.errors import status_and_code
from image_processor.api.forms import Upload, parse_crop_box
from image_processor.errors import ServiceError

MAX_PIXELS = 50_000_000
# The transpose exif_transpose applies for each orientation, and the one that undoes it.
_SHOWN_BY = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_UNDONE_BY = {
    Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
}


def gradient(width: int, height: int) -> Image.Image:
    """Red grows to the right and green downwards, so every region has its own mean colour."""
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            (x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), 128)
            for y in range(height)
            for x in range(width)
        ]
    )
    return image


def stored_with_orientation(shown: Image.Image, orientation: int) -> bytes:
    """A PNG whose pixels, once EXIF orientation `orientation` is applied, are `shown`."""
    method = _SHOWN_BY[orientation]
    stored = shown if method is None else shown.transpose(_UNDONE_BY.get(method, method))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "PNG", exif=exif.tobytes())
    return buffer.getvalue()


def crop_field(x: int, y: int, width: int, height: int) -> Upload:
    box = {"x": x, "y": y, "width": width, "height": height}
    return Upload(source=None, upload_id="unused", fields={"crop_box": json.dumps(box)})


sizes = st.integers(min_value=1, max_value=24)
offsets = st.integers(min_value=-3, max_value=30)
lengths = st.integers(min_value=-3, max_value=30)


@settings(max_examples=150, deadline=None)
@given(
    shown_width=sizes,
    shown_height=sizes,
    orientation=st.integers(min_value=1, max_value=8),
    x=offsets,
    y=offsets,
    width=lengths,
    height=lengths,
)
def test_a_box_is_cropped_exactly_when_it_fits_the_shown_image(
    shown_width: int, shown_height: int, orientation: int, x: int, y: int, width: int, height: int
) -> None:
    shown = gradient(shown_width, shown_height)
    source = stored_with_orientation(shown, orientation)
    fits = x >= 0 and y >= 0 and width > 0 and height > 0 and x + width <= shown_width and y + height <= shown_height
    try:
        box = parse_crop_box(crop_field(x, y, width, height))
        result = imaging.crop_to_jpeg(source, box, max_pixels=MAX_PIXELS, quality=95)
    except ServiceError as exc:
        assert not fits, f"a fitting box was refused: {exc.message}"
        assert 400 <= status_and_code(exc)[0] < 500
        assert exc.field is not None and exc.field.startswith("crop_box")
        return
    assert fits, "a box outside the shown image was cropped"
    cropped = Image.open(io.BytesIO(result))
    assert cropped.size == (width, height)
    expected = ImageStat.Stat(shown.crop((x, y, x + width, y + height))).mean
    actual = ImageStat.Stat(cropped.convert("RGB")).mean
    assert all(abs(a - e) <= 12 for a, e in zip(actual, expected, strict=True)), (actual, expected)


@settings(max_examples=60, deadline=None)
@given(
    shown_width=sizes,
    shown_height=sizes,
    orientation=st.integers(min_value=1, max_value=8),
)
def test_probe_reports_the_shown_size_for_every_orientation(
    shown_width: int, shown_height: int, orientation: int
) -> None:
    info = imaging.probe(
        stored_with_orientation(gradient(shown_width, shown_height), orientation), max_pixels=MAX_PIXELS
    )
    assert (info.width, info.height) == (shown_width, shown_height)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["x", "y", "width", "height", "z"]),
        st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=3) | st.integers(),
    )
)
def test_any_json_object_is_either_a_valid_box_or_a_422_naming_a_crop_box_field(fields: dict[str, object]) -> None:
    upload = Upload(source=None, upload_id="unused", fields={"crop_box": json.dumps(fields)})
    try:
        box = parse_crop_box(upload)
    except ServiceError as exc:
        assert status_and_code(exc)[0] == 422
        assert exc.field is not None and exc.field.startswith("crop_box")
        return
    assert set(fields) == {"x", "y", "width", "height"}
    assert all(type(value) is int for value in fields.values())
    assert box.x >= 0 and box.y >= 0 and box.width > 0 and box.height > 0


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_orientation_fixture_builder_round_trips(orientation: int) -> None:
    shown = gradient(5, 3)
    _, decoded = imaging.preview(stored_with_orientation(shown, orientation), max_pixels=MAX_PIXELS, size=64)
    assert decoded.tobytes() == shown.tobytes()
