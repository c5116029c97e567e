"""Domain values shared by the API and the worker: product ids, crop boxes, job states."""

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

PRODUCT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_PRODUCT_ID_RE = re.compile(PRODUCT_ID_PATTERN)


def is_safe_product_id(value: str) -> bool:
    return bool(_PRODUCT_ID_RE.fullmatch(value))


class ProductInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    product_id: str = Field(pattern=PRODUCT_ID_PATTERN, examples=["ABC-123"])


class CropBox(BaseModel):
    model_config = ConfigDict(extra="forbid")

    x: StrictInt = Field(ge=0)
    y: StrictInt = Field(ge=0)
    width: StrictInt = Field(gt=0)
    height: StrictInt = Field(gt=0)

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height


JobStatus = Literal["pending", "processing", "succeeded", "failed"]
