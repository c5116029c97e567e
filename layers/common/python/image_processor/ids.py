"""Image ids: 128 random bits as 32 lower-case hex digits, made and recognised here."""

import re
import uuid

_IMAGE_ID_RE = re.compile(r"[0-9a-f]{32}")


def new_image_id() -> str:
    return uuid.uuid4().hex


def is_image_id(value: str) -> bool:
    return _IMAGE_ID_RE.fullmatch(value) is not None
