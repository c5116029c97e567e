"""Marketplace checks on made images: each rule passes and fails, with the measured values."""

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from image_processor.errors import InvalidRequest, UnsupportedImage
from image_processor.imaging.checks import (
    BUILT_IN_PROFILE,
    CheckResult,
    Profile,
    load_profiles,
    profile_named,
    run_checks,
)

WHITE, RED, GREY = (255, 255, 255), (200, 30, 30), (235, 235, 235)


def product_photo(
    size: tuple[int, int],
    product: tuple[int, int, int, int],
    *,
    background: tuple[int, int, int] = WHITE,
    fmt: str = "JPEG",
    mode: str = "RGB",
) -> bytes:
    image = Image.new("RGB", size, background)
    ImageDraw.Draw(image).rectangle(product, fill=RED)
    buffer = io.BytesIO()
    if mode != "RGB":
        image = image.convert(mode)
    image.save(buffer, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def checks_of(data: bytes, profile: Profile | None = None) -> dict[str, CheckResult]:
    report = run_checks(data, BUILT_IN_PROFILE, profile or Profile())
    return {check.name: check for check in report.checks}


def test_a_compliant_main_image_passes_every_rule() -> None:
    # 1200 x 1000, the product spans 1100 of the 1200 px width (91.7 %), the border is white.
    data = product_photo((1200, 1000), (50, 100, 1149, 899))
    report = run_checks(data, BUILT_IN_PROFILE, Profile())

    assert report.passed and report.profile == "marketplace"
    checks = {check.name: check for check in report.checks}
    assert [check.name for check in report.checks] == ["white_background", "product_fill", "min_long_side", "format"]
    assert checks["white_background"].measured == 100.0 and checks["white_background"].required == 95.0
    assert checks["product_fill"].measured == pytest.approx(91.7, abs=1.0)
    assert checks["product_fill"].required == 85.0
    assert (checks["min_long_side"].measured, checks["min_long_side"].required) == (1200, 1000)
    assert (checks["format"].measured, checks["format"].required) == ("JPEG sRGB", "JPEG sRGB")


def test_a_grey_background_fails_white_background_and_says_how_much_was_white() -> None:
    checks = checks_of(product_photo((1200, 1000), (50, 100, 1149, 899), background=GREY))
    assert not checks["white_background"].passed
    assert checks["white_background"].measured == 0.0


def test_a_product_touching_one_border_lowers_the_white_share_proportionally() -> None:
    # The product runs to the bottom edge over half the width: the bottom strip is half red.
    data = product_photo((1000, 1000), (250, 100, 749, 999))
    checks = checks_of(data)
    # Border strips of 2 % (5 px on the 256 px preview): top, bottom, left, right; half the bottom is red.
    assert checks["white_background"].measured == pytest.approx(87.5, abs=1.5)
    assert not checks["white_background"].passed


def test_a_small_product_fails_product_fill_with_its_share_of_the_long_side() -> None:
    checks = checks_of(product_photo((1200, 1000), (400, 300, 799, 699)))  # 400 of 1200 px
    assert not checks["product_fill"].passed
    assert checks["product_fill"].measured == pytest.approx(33.3, abs=1.0)
    assert checks["white_background"].passed


def test_fill_just_under_and_over_the_threshold() -> None:
    under = checks_of(product_photo((1000, 1000), (100, 100, 899, 899)))  # 80 %
    over = checks_of(product_photo((1000, 1000), (40, 40, 959, 959)))  # 92 %
    assert under["product_fill"].measured == pytest.approx(80.0, abs=1.0) and not under["product_fill"].passed
    assert over["product_fill"].measured == pytest.approx(92.0, abs=1.0) and over["product_fill"].passed


def test_a_small_image_fails_min_long_side() -> None:
    checks = checks_of(product_photo((900, 600), (20, 20, 879, 579)))
    assert (checks["min_long_side"].passed, checks["min_long_side"].measured) == (False, 900)


@pytest.mark.parametrize(
    ("fmt", "mode", "measured"),
    [("PNG", "RGB", "PNG sRGB"), ("JPEG", "CMYK", "JPEG cmyk"), ("JPEG", "L", "JPEG b-w")],
)
def test_anything_but_an_srgb_jpeg_fails_format(fmt: str, mode: str, measured: str) -> None:
    checks = checks_of(product_photo((1200, 1000), (50, 100, 1149, 899), fmt=fmt, mode=mode))
    assert (checks["format"].passed, checks["format"].measured) == (False, measured)


def test_profiles_come_from_a_file_beside_the_built_in_one(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"thumbnail": {"min_long_side": 500, "product_fill_min_percent": 30}}))
    profiles = load_profiles(path)
    assert set(profiles) == {"marketplace", "thumbnail"}
    checks = checks_of(product_photo((900, 600), (300, 100, 599, 499)), profiles["thumbnail"])
    assert checks["min_long_side"].passed and checks["min_long_side"].required == 500
    assert checks["product_fill"].passed and checks["product_fill"].required == 30


def test_a_bad_profiles_file_or_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"x": {"min_long_side": "big"}}))
    with pytest.raises(ValueError, match="CHECK_PROFILES_FILE"):
        load_profiles(path)
    with pytest.raises(InvalidRequest, match="marketplace") as refused:
        profile_named(load_profiles(None), "amazon")
    assert refused.value.field == "profile"


def test_bytes_that_are_not_an_image_are_unsupported() -> None:
    with pytest.raises(UnsupportedImage):
        run_checks(b"not an image", BUILT_IN_PROFILE, Profile())
