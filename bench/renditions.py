"""Storefront renditions against IPX: the first request, a stored rendition, and a stampede of first requests."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .client import ServiceClient, multipart
from .config import Config
from .ipx import ipx_path
from .phases import say
from .stats import LevelResult, measure_alternating

PRESET_PATH = "listing.webp"
# The same transform in IPX's terms: fitted inside 600x600 and padded on white, WebP.
IPX_MODIFIERS = "s_600x600,fit_contain,b_ffffff,f_webp"
WEBP = "image/webp"


@dataclass(frozen=True)
class RenditionRun:
    """`listing.webp` of a stored full-frame JPEG: made on its first request, then served from storage."""

    source: str
    first_request: LevelResult
    ipx_first_request: LevelResult | None
    stored: LevelResult
    stored_at_4: LevelResult
    ipx_at_4: LevelResult | None
    stampede_requests: int
    stampede_wall_ms: float
    stampede_identical: bool
    rendition_bytes: int


def measure_renditions(config: Config, image: bytes, client: ServiceClient, ipx: ServiceClient | None) -> RenditionRun:
    """Stores full-frame crops of `image`, then times their renditions (IPX reads the same stored files)."""
    fresh = config.rendition_first_requests + 1  # one untimed first request each, as warm-up
    say(f"renditions: storing {fresh + 1} full-frame crops")
    stored = [_store_full_frame(config, image, client) for _ in range(fresh + 1)]
    say("renditions: first requests, the service and IPX taking turns on the same stored images")
    service_images, ipx_images = iter(stored[:fresh]), iter(stored[:fresh])
    calls: dict[str, Callable[[], object]] = {"service": lambda: client.read(_rendition(next(service_images)), WEBP)}
    if ipx is not None:
        calls["ipx"] = lambda: ipx.read(ipx_path(IPX_MODIFIERS, _stored_path(next(ipx_images))), WEBP)
    first = measure_alternating(calls, concurrency=1, requests=config.rendition_first_requests, warmup=1)

    made = _rendition(stored[0])
    say("renditions: the stored rendition at 1 and 4 clients")
    repeat: dict[str, Callable[[], object]] = {"service": lambda: client.read(made, WEBP)}
    if ipx is not None:
        repeat["ipx"] = lambda: ipx.read(ipx_path(IPX_MODIFIERS, _stored_path(stored[0])), WEBP)
    at_1 = measure_alternating({"service": repeat["service"]}, concurrency=1, requests=config.rendition_requests)
    at_4 = measure_alternating(repeat, concurrency=4, requests=config.requests_at(4), rounds=config.rounds)

    say(f"renditions: {config.rendition_stampede} simultaneous first requests for one rendition")
    wall_ms, bodies = _stampede(lambda: client.read(_rendition(stored[-1]), WEBP), config.rendition_stampede)
    return RenditionRun(
        source=f"{config.width}x{config.height} JPEG stored by a full-frame manual crop",
        first_request=first["service"],
        ipx_first_request=first.get("ipx"),
        stored=at_1["service"],
        stored_at_4=at_4["service"],
        ipx_at_4=at_4.get("ipx"),
        stampede_requests=len(bodies),
        stampede_wall_ms=wall_ms,
        stampede_identical=len(set(bodies)) == 1,
        rendition_bytes=len(bodies[0]),
    )


def stampede_ratio(run: RenditionRun) -> float:
    """The stampede's wall time over one generation (the service's first-request p50 in the same run)."""
    return run.stampede_wall_ms / run.first_request.p50_ms


def _stampede(call: Callable[[], bytes], clients: int) -> tuple[float, list[bytes]]:
    """`clients` threads released at once; the wall time from the release to the last answer."""
    barrier = threading.Barrier(clients + 1)

    def one() -> bytes:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=clients, thread_name_prefix="bench-stampede") as pool:
        futures = [pool.submit(one) for _ in range(clients)]
        barrier.wait()
        started = time.perf_counter()
        bodies = [future.result() for future in futures]
        wall_ms = (time.perf_counter() - started) * 1000
    return wall_ms, bodies


def _store_full_frame(config: Config, image: bytes, client: ServiceClient) -> str:
    box = {"x": 0, "y": 0, "width": config.width, "height": config.height}
    return client.manual_crop(multipart(image, {"product_info": {"product_id": "BENCH-R"}, "crop_box": box}))


def _rendition(retrieval_url: str) -> str:
    """`/images/P/ID.jpg` -> `/images/P/ID/listing.webp`."""
    return f"{retrieval_url.removesuffix('.jpg')}/{PRESET_PATH}"


def _stored_path(retrieval_url: str) -> str:
    """The stored file's path under the images folder: `/images/P/ID.jpg` -> `P/ID.jpg`."""
    return retrieval_url.removeprefix("/images/")
