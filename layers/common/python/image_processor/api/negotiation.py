"""Choosing a rendition's format from `Accept`: AVIF, then WebP, then JPEG, which every client takes."""

from collections.abc import Sequence

from ..presets import MEDIA_TYPES, NEGOTIATION_ORDER, RenditionFormat


def negotiate(accept: str | None, offered: Sequence[RenditionFormat]) -> RenditionFormat:
    """The first of AVIF and WebP that `accept` names explicitly (q > 0) and is `offered`, else JPEG.

    Wildcards (`*/*`, `image/*`) do not count: a client that sends only those gets the format it surely decodes.
    """
    accepted = _accepted_types(accept or "")
    for fmt in NEGOTIATION_ORDER:
        if fmt in offered and MEDIA_TYPES[fmt] in accepted:
            return fmt
    return "jpg"


def _accepted_types(accept: str) -> set[str]:
    types = set()
    for item in accept.split(","):
        media_type, *parameters = (part.strip() for part in item.split(";"))
        if media_type and _quality(parameters) > 0:
            types.add(media_type.lower())
    return types


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0
