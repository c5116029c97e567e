"""The image pipeline on libvips: bytes in, image bytes out. Knows nothing of HTTP or AWS.

`probe` reads the header, `crop_to_jpeg` decodes only the rows the crop needs, `preview` makes the
smart crop's small analysis image, `render` makes a preset's rendition (JPEG, WebP or AVIF), and
`budget` admits work by the memory its decode will take.
"""

from .budget import MemoryBudget, decode_cost
from .pipeline import check_bounds, crop_to_jpeg, encode_jpeg, preview, stored_box
from .probe import ImageInfo, probe
from .renditions import encodable_formats, render, rendition_cost
from .setup import configure

__all__ = [
    "ImageInfo",
    "MemoryBudget",
    "check_bounds",
    "configure",
    "crop_to_jpeg",
    "decode_cost",
    "encodable_formats",
    "encode_jpeg",
    "preview",
    "probe",
    "render",
    "rendition_cost",
    "stored_box",
]
