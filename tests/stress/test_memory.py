"""Fifty concurrent 12-megapixel uploads: the image-work limit keeps the server's peak memory bounded."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.stress.conftest import service_process
from tests.support import images

pytestmark = pytest.mark.slow

MB = 1024 * 1024
WIDTH, HEIGHT = 4000, 3000  # 12 megapixels
UPLOADS = 50
IMAGE_CONCURRENCY = 2
# A decoded 12 MP RGB image is 36 MB; with the converted copy, the crop and the encoder's buffers an
# image in flight costs about 3x that. Uploads waiting for a slot are held as bytes (about 5 MB here).
PER_IMAGE_BYTES = 3 * WIDTH * HEIGHT * 3
BOUND_BYTES = 1536 * MB


def photo_like_jpeg() -> bytes:
    """Smooth shading plus sensor-like noise: about 5 MB as a JPEG, like a phone photo."""
    shading = Image.radial_gradient("L").resize((WIDTH, HEIGHT)).convert("RGB")
    noise = Image.effect_noise((WIDTH, HEIGHT), 24).convert("RGB")
    return images.encode(Image.blend(shading, noise, 0.5), quality=90)


def test_fifty_concurrent_twelve_megapixel_crops_stay_within_the_memory_bound(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    """Audit 9: uploads are bounded in bytes and pixels, and the crop limiter bounds how many are decoded at once."""
    upload = photo_like_jpeg()
    form = {
        "product_info": json.dumps({"product_id": "MEM-1"}),
        "crop_box": json.dumps({"x": 500, "y": 500, "width": 3000, "height": 2000}),
    }
    # Room for every upload at once: this test bounds image work, not the upload budget (which would answer 503).
    budget = UPLOADS * (len(upload) + MB)
    env = {**service_env, "IMAGE_CONCURRENCY": str(IMAGE_CONCURRENCY), "UPLOAD_BUDGET_BYTES": str(budget)}
    with service_process(env, tmp_path / "server.log") as server:
        baseline = server.peak_rss_bytes()
        limits = httpx.Limits(max_connections=UPLOADS)
        with httpx.Client(base_url=server.url, timeout=120, limits=limits) as client:

            def crop(_: int) -> int:
                response = client.post(
                    "/images/manual-crop", files={"source_image": ("big.jpg", upload, "image/jpeg")}, data=form
                )
                return response.status_code

            with ThreadPoolExecutor(max_workers=UPLOADS) as pool:
                statuses = list(pool.map(crop, range(UPLOADS)))
        peak = server.peak_rss_bytes()

    expected = baseline + IMAGE_CONCURRENCY * PER_IMAGE_BYTES + UPLOADS * len(upload)
    print(
        f"peak RSS {peak / MB:.0f} MB after {UPLOADS} concurrent {WIDTH}x{HEIGHT} crops "
        f"(start-up {baseline / MB:.0f} MB, upload {len(upload) / MB:.1f} MB, IMAGE_CONCURRENCY={IMAGE_CONCURRENCY}; "
        f"estimate {expected / MB:.0f} MB, bound {BOUND_BYTES / MB:.0f} MB)"
    )
    assert statuses == [200] * UPLOADS
    assert peak < BOUND_BYTES
