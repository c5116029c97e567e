"""Any decoded band layout to 8-bit sRGB with three bands: ICC, CMYK, 16-bit, grey and alpha onto white."""

from typing import Any

import pyvips

_ICC_FIELD = "icc-profile-data"


def to_srgb(image: Any) -> Any:
    converted = _from_embedded_profile(image) if _ICC_FIELD in image.get_fields() else None
    if converted is not None:
        image = converted
    elif image.interpretation == "cmyk" and image.bands >= 4:
        image = _naive_cmyk(image)
    else:
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255], max_alpha=255)
    if image.bands > 3:
        image = image.extract_band(0, n=3)
    if image.bands == 1:
        image = image.bandjoin([image, image])
    return image.copy(interpretation="srgb")


def _from_embedded_profile(image: Any) -> Any | None:
    """The image in sRGB through its embedded profile, or None if the profile is broken or does not fit."""
    try:
        return image.icc_transform("srgb", embedded=True, intent="perceptual", depth=8)
    except pyvips.Error:
        return None


def _naive_cmyk(image: Any) -> Any:
    """CMYK without a profile, converted as Pillow does: each channel times (1 - K)."""
    cmy, black = image.extract_band(0, n=3), image.extract_band(3)
    return ((255 - cmy) * (255 - black) / 255).cast("uchar").copy(interpretation="srgb")
