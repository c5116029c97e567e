"""Checking a stored image against a marketplace's main-image rules, on a shrink-on-load preview.

The built-in `marketplace` profile, as sellers summarise the marketplaces' rules:
- `white_background`: at least 95 % of the pixels on the outer 2 % border (each side) are within
  ΔE 3 (CIE76, the Lab distance) of pure white;
- `product_fill`: the bounding box of what is not background (further than ΔE 3 from white) covers at
  least 85 % of the image's longer side;
- `min_long_side`: at least 1000 px on the longer side (from the header);
- `format`: a JPEG in sRGB (three bands, sRGB interpretation).
The pixel rules are measured on a preview of at most `preview_size` px, which libvips shrinks while
decoding a JPEG (a few milliseconds, not a full decode); the header gives the size and format.
Profiles other than the built-in one come from a JSON file (CHECK_PROFILES_FILE).
"""

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyvips
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InvalidRequest, UnsupportedImage
from .probe import UNDECODABLE

BUILT_IN_PROFILE = "marketplace"
_WHITE_LAB = [100.0, 0.0, 0.0]


class Profile(BaseModel):
    """One set of rules; every threshold can be set in the profiles file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    white_background_min_percent: float = Field(default=95.0, ge=0, le=100)
    border_percent: float = Field(default=2.0, gt=0, le=50)
    max_delta_e: float = Field(default=3.0, gt=0)
    product_fill_min_percent: float = Field(default=85.0, ge=0, le=100)
    min_long_side: int = Field(default=1000, ge=1)
    formats: tuple[str, ...] = ("jpeg",)
    preview_size: int = Field(default=256, ge=64, le=2048)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    measured: float | int | str
    required: float | int | str


@dataclass(frozen=True)
class CheckReport:
    profile: str
    passed: bool
    checks: list[CheckResult]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_profiles(path: Path | None) -> dict[str, Profile]:
    """The built-in profile, plus (or replaced by) those of the JSON file `{"name": {settings}}`."""
    profiles = {BUILT_IN_PROFILE: Profile()}
    if path is None:
        return profiles
    try:
        raw = json.loads(path.read_text())
        if not isinstance(raw, dict):
            raise ValueError("the file must hold a JSON object of profiles")
        profiles |= {str(name): Profile.model_validate(settings) for name, settings in raw.items()}
    except (OSError, ValueError, ValidationError) as exc:
        raise ValueError(f"CHECK_PROFILES_FILE {path}: {exc}") from exc
    return profiles


def profile_named(profiles: Mapping[str, Profile], name: str) -> Profile:
    if name not in profiles:
        raise InvalidRequest(f"profile must be one of: {', '.join(sorted(profiles))}.", field="profile")
    return profiles[name]


def run_checks(data: bytes, name: str, profile: Profile) -> CheckReport:
    """Blocking (decodes a preview): run it in a worker thread."""
    try:
        header = pyvips.Image.new_from_buffer(data, "", access="sequential", fail=True)
        preview = pyvips.Image.thumbnail_buffer(
            data, profile.preview_size, height=profile.preview_size, size="down", fail_on="error"
        )
        distance = _delta_e_from_white(preview)
        checks = [
            _white_background(distance, profile),
            _product_fill(distance, profile),
            _min_long_side(header, profile),
            _format(header, profile),
        ]
    except pyvips.Error as exc:
        raise UnsupportedImage(UNDECODABLE, reason=str(exc)) from exc
    return CheckReport(profile=name, passed=all(check.passed for check in checks), checks=checks)


def _delta_e_from_white(preview: Any) -> Any:
    image = preview.flatten(background=[255] * (preview.bands - 1)) if preview.hasalpha() else preview
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")
    lab = image.colourspace("lab")
    # Decoded once into memory (it is small): each rule reads it again, which a sequential JPEG read cannot.
    return lab.dE76(lab.new_from_image(_WHITE_LAB)).copy_memory()


def _white_background(distance: Any, profile: Profile) -> CheckResult:
    width, height = distance.width, distance.height
    side_x = max(1, round(width * profile.border_percent / 100))
    side_y = max(1, round(height * profile.border_percent / 100))
    strips = [(0, 0, width, side_y), (0, height - side_y, width, side_y)]
    if height > 2 * side_y:
        strips += [(0, side_y, side_x, height - 2 * side_y), (width - side_x, side_y, side_x, height - 2 * side_y)]
    near_white = (distance <= profile.max_delta_e).ifthenelse(1.0, 0.0)
    white = sum(near_white.crop(*strip).avg() * strip[2] * strip[3] for strip in strips)
    total = sum(strip[2] * strip[3] for strip in strips)
    percent = 100.0 * white / total
    return CheckResult(
        "white_background",
        percent >= profile.white_background_min_percent,
        round(percent, 1),
        profile.white_background_min_percent,
    )


def _product_fill(distance: Any, profile: Profile) -> CheckResult:
    foreground = (distance > profile.max_delta_e).ifthenelse(255, 0).cast("uchar")
    if foreground.max() == 0:
        percent = 0.0
    else:
        _, _, box_width, box_height = foreground.find_trim(threshold=127, background=[0])
        percent = 100.0 * max(box_width, box_height) / max(distance.width, distance.height)
    return CheckResult(
        "product_fill", percent >= profile.product_fill_min_percent, round(percent, 1), profile.product_fill_min_percent
    )


def _min_long_side(header: Any, profile: Profile) -> CheckResult:
    long_side = max(header.width, header.height)
    return CheckResult("min_long_side", long_side >= profile.min_long_side, long_side, profile.min_long_side)


def _format(header: Any, profile: Profile) -> CheckResult:
    loader = str(header.get("vips-loader")) if header.get_typeof("vips-loader") else "unknown"
    file_format = loader.removesuffix("_buffer").removesuffix("load") or "unknown"
    srgb = header.interpretation == "srgb" and header.bands == 3
    colour = "sRGB" if srgb else str(header.interpretation)
    required = " or ".join(name.upper() for name in profile.formats) + " sRGB"
    passed = file_format in profile.formats and srgb
    return CheckResult("format", passed, f"{file_format.upper()} {colour}", required)
