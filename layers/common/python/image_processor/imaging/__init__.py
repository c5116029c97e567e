"""The image pipeline on libvips: bytes in, JPEG bytes out. Knows nothing of HTTP or AWS.

`probe` reads the header, `crop_to_jpeg` decodes only the rows the crop needs, `preview` makes the
smart crop's small analysis image, and `budget` admits work by the memory its decode will take.
"""

from .budget import MemoryBudget, decode_cost
from .pipeline import check_bounds, crop_to_jpeg, encode_jpeg, preview, stored_box
from .probe import ImageInfo, probe
from .setup import configure

__all__ = [
    "ImageInfo",
    "MemoryBudget",
    "check_bounds",
    "configure",
    "crop_to_jpeg",
    "decode_cost",
    "encode_jpeg",
    "preview",
    "probe",
    "stored_box",
]
