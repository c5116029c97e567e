"""Rendition presets: the named sizes a stored image is served in. No request can ask for any other size.

Built in: `thumbnail`, `listing` and `zoom`. An operator's file (RENDITIONS_FILE, YAML or JSON) adds
presets or replaces built-in ones, as a mapping from preset name to its fields:

    listing:
      width: 800
      height: 800
      fit: pad            # contain | cover | pad
      background: "#f4f4f4"
      margin_percent: 5
      trim: true
      formats: [jpg, webp]
      quality: {jpg: 82, webp: 78}
"""

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

Fit = Literal["contain", "cover", "pad"]
RenditionFormat = Literal["jpg", "webp", "avif"]
# The order a negotiated request prefers them in (the smallest files first); JPEG is what every client takes.
NEGOTIATION_ORDER: tuple[RenditionFormat, ...] = ("avif", "webp", "jpg")
MEDIA_TYPES: Mapping[RenditionFormat, str] = MappingProxyType(
    {"jpg": "image/jpeg", "webp": "image/webp", "avif": "image/avif"}
)
PRESET_NAME_PATTERN = r"[a-z0-9][a-z0-9_-]{0,31}"
_PRESET_NAME_RE = re.compile(PRESET_NAME_PATTERN)
_COLOUR_RE = re.compile(r"#?([0-9a-fA-F]{6})")
MAX_SIDE = 4096
_DEFAULT_QUALITY: Mapping[RenditionFormat, int] = MappingProxyType({"jpg": 85, "webp": 80, "avif": 55})

Side = Annotated[int, Field(ge=1, le=MAX_SIDE)]
Quality = Annotated[int, Field(ge=1, le=100)]


class Preset(BaseModel):
    """One rendition: its box, how the image fits it, and the formats and qualities it is encoded in.

    Never larger than the stored image: `contain` and `cover` shrink only, and `pad` pads a small image more.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: Side
    height: Side
    fit: Fit = "contain"
    # An sRGB colour, `#rrggbb`: the padding of `pad` and the margin.
    background: tuple[int, int, int] = (255, 255, 255)
    # Background around the image on each side, in percent of the box's width (left, right) and height.
    margin_percent: float = Field(default=0.0, ge=0, lt=50)
    # Cut a near-uniform border (the colour of the top-left pixel) before fitting.
    trim: bool = False
    formats: tuple[RenditionFormat, ...] = NEGOTIATION_ORDER
    quality: dict[RenditionFormat, Quality] = Field(default_factory=lambda: dict(_DEFAULT_QUALITY))

    @field_validator("background", mode="before")
    @classmethod
    def _parse_colour(cls, value: object) -> object:
        if isinstance(value, str):
            match = _COLOUR_RE.fullmatch(value.strip())
            if match is None:
                raise ValueError(f"{value!r} is not a colour such as #ffffff")
            digits = match.group(1)
            return tuple(int(digits[at : at + 2], 16) for at in (0, 2, 4))
        return value

    @field_validator("background")
    @classmethod
    def _check_colour(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if not all(0 <= channel <= 255 for channel in value):
            raise ValueError("each channel of a colour is 0 to 255")
        return value

    @field_validator("formats")
    @classmethod
    def _jpeg_is_always_offered(cls, value: tuple[RenditionFormat, ...]) -> tuple[RenditionFormat, ...]:
        if "jpg" not in value:
            raise ValueError("must include jpg, the format a negotiated request falls back to")
        if len(set(value)) != len(value):
            raise ValueError("lists a format twice")
        return value

    @field_validator("quality", mode="after")
    @classmethod
    def _fill_quality(cls, value: dict[RenditionFormat, int]) -> dict[RenditionFormat, int]:
        return {**_DEFAULT_QUALITY, **value}

    @model_validator(mode="after")
    def _margin_leaves_room(self) -> "Preset":
        inner_width, inner_height = self.inner_box
        if inner_width < 1 or inner_height < 1:
            raise ValueError(f"margin_percent {self.margin_percent} leaves no room for the image")
        return self

    @property
    def margins(self) -> tuple[int, int]:
        """The margin in pixels: (left and right each, top and bottom each)."""
        return round(self.width * self.margin_percent / 100), round(self.height * self.margin_percent / 100)

    @property
    def inner_box(self) -> tuple[int, int]:
        """The box the image itself is fitted into, the margins taken off."""
        margin_x, margin_y = self.margins
        return self.width - 2 * margin_x, self.height - 2 * margin_y


BUILT_IN_PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "thumbnail": Preset(width=200, height=200, fit="contain"),
        "listing": Preset(width=600, height=600, fit="pad"),
        "zoom": Preset(width=2000, height=2000, fit="contain"),
    }
)


class InvalidPresetsFile(ValueError):
    """RENDITIONS_FILE cannot be used; the message names the preset and field."""


class PresetCatalogue(Mapping[str, Preset]):
    """Every preset the service knows, by name, in a stable order (built-in ones first)."""

    def __init__(self, presets: Mapping[str, Preset]) -> None:
        self._presets = dict(presets)

    def __getitem__(self, name: str) -> Preset:
        return self._presets[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._presets)

    def __len__(self) -> int:
        return len(self._presets)


def load_catalogue(path: Path | None) -> PresetCatalogue:
    """The built-in presets, with those of the file at `path` (if any) added or replacing them."""
    presets = dict(BUILT_IN_PRESETS)
    if path is not None:
        presets.update(_read_file(path))
    return PresetCatalogue(presets)


def _read_file(path: Path) -> dict[str, Preset]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidPresetsFile(f"RENDITIONS_FILE {path} cannot be read: {exc.strerror}") from exc
    document = _parse(path, text)
    if not isinstance(document, dict):
        raise InvalidPresetsFile(f"RENDITIONS_FILE {path} must map preset names to their fields")
    presets: dict[str, Preset] = {}
    for name, fields in document.items():
        if not isinstance(name, str) or not _PRESET_NAME_RE.fullmatch(name):
            raise InvalidPresetsFile(
                f"RENDITIONS_FILE {path}: preset name {name!r} must match {PRESET_NAME_PATTERN}"
                " (lower-case letters, digits, '-' and '_')"
            )
        try:
            presets[name] = Preset.model_validate(fields)
        except ValidationError as exc:
            raise InvalidPresetsFile(_describe(path, name, exc)) from exc
    return presets


def _parse(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise InvalidPresetsFile(f"RENDITIONS_FILE {path} is not valid JSON: {exc}") from exc
    import yaml  # imported here: only an operator's YAML file needs it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidPresetsFile(f"RENDITIONS_FILE {path} is not valid YAML: {exc}") from exc


def _describe(path: Path, name: str, exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    location = ".".join(str(part) for part in error["loc"])
    where = f"preset {name!r}" + (f", field {location!r}" if location else "")
    return f"RENDITIONS_FILE {path}: {where}: {error['msg']}"
