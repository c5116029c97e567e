"""The measurements made against one running service."""

import functools
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tools.processes import ServiceProcess

from . import sample
from .baseline import raw_pillow_crop, raw_vips_crop
from .client import ServiceClient, Upload, multipart
from .config import JPEG_QUALITY, Config
from .stats import Comparison, LevelResult, compare, measure, measure_alternating

RAW_VIPS = "raw libvips (in-process, no HTTP)"
_FINISHED = frozenset({"succeeded", "failed"})
_TINY_BOX = {"x": 8, "y": 8, "width": 32, "height": 32}


@dataclass(frozen=True)
class RequestCost:
    label: str
    result: LevelResult


@dataclass(frozen=True)
class PositionCost:
    """One client, the box at one height of the frame: the service and both raw engines, taking turns."""

    position: str
    raw_pillow: LevelResult
    raw_vips: LevelResult
    service: LevelResult


@dataclass(frozen=True)
class MemoryPeak:
    """The service's resident memory after start-up, and at its peak while `uploads` crops arrived at once."""

    uploads: int
    upload_bytes: int
    start_up_bytes: int
    peak_bytes: int
    statuses: dict[int, int]


@dataclass(frozen=True)
class SmartCropRun:
    ai_latency_seconds: float
    acceptance: LevelResult
    jobs: int
    succeeded: int
    drain_seconds: float


def measure_manual_crop(
    config: Config, image: bytes, client: ServiceClient, *, variants: Mapping[str, ServiceClient] | None = None
) -> tuple[list[Comparison], dict[str, list[LevelResult]]]:
    """Raw Pillow, the service and its `variants` take turns at each level, so a noisy neighbour slows all alike."""
    upload = _manual_crop_upload(config, image)
    calls: dict[str, Callable[[], object]] = {
        "raw": functools.partial(raw_pillow_crop, image, config.crop_box(), quality=JPEG_QUALITY),
        "service": functools.partial(client.manual_crop, upload),
        RAW_VIPS: functools.partial(raw_vips_crop, image, config.crop_box(), quality=JPEG_QUALITY),
    }
    calls |= {name: functools.partial(other.manual_crop, upload) for name, other in (variants or {}).items()}
    comparisons: list[Comparison] = []
    variant_results: dict[str, list[LevelResult]] = {name: [] for name in [RAW_VIPS, *(variants or {})]}
    for level in config.levels:
        say(f"manual crop at concurrency {level}")
        requests = config.requests_at(level)
        measured = measure_alternating(calls, concurrency=level, requests=requests, rounds=config.rounds)
        comparisons.append(compare(measured["raw"], measured["service"]))
        for name, results in variant_results.items():
            results.append(measured[name])
    return comparisons, variant_results


def measure_crop_positions(config: Config, image: bytes, client: ServiceClient) -> list[PositionCost]:
    costs = []
    for position in ("top", "middle", "bottom"):
        say(f"manual crop at the {position} of the frame")
        box = config.crop_box_at(position)
        left, top, right, bottom = box
        crop_box = {"x": left, "y": top, "width": right - left, "height": bottom - top}
        upload = multipart(image, {"product_info": {"product_id": "BENCH-1"}, "crop_box": crop_box})
        calls: dict[str, Callable[[], object]] = {
            "pillow": functools.partial(raw_pillow_crop, image, box, quality=JPEG_QUALITY),
            "vips": functools.partial(raw_vips_crop, image, box, quality=JPEG_QUALITY),
            "service": functools.partial(client.manual_crop, upload),
        }
        measured = measure_alternating(calls, concurrency=1, requests=config.requests, rounds=config.rounds)
        costs.append(PositionCost(position, measured["pillow"], measured["vips"], measured["service"]))
    return costs


def measure_other_requests(config: Config, image: bytes, client: ServiceClient) -> list[RequestCost]:
    """Retrieval of a stored crop, and a manual crop too small to cost anything but HTTP, validation and storage."""
    say("retrieval and the fixed cost of a request")
    stored = client.manual_crop(_manual_crop_upload(config, image))
    size = client.read_image(stored)
    costs = [
        RequestCost(
            f"GET /images/{{path}}: the stored crop ({size / 1e3:.0f} kB)",
            measure(lambda: client.read_image(stored), concurrency=level, requests=config.other_requests),
        )
        for level in sorted({1, max(config.levels)})
    ]
    tiny = multipart(sample.photo_jpeg(64, 48), {"product_info": {"product_id": "BENCH-TINY"}, "crop_box": _TINY_BOX})
    floor = measure(lambda: client.manual_crop(tiny), concurrency=1, requests=config.other_requests)
    return [*costs, RequestCost("POST /images/manual-crop: a 64x48 image (no pixel work to speak of)", floor)]


def measure_peak_memory(config: Config, image: bytes, server: ServiceProcess) -> MemoryPeak:
    """`config.memory_uploads` manual crops of the full photo sent at once to a fresh server (VmHWM)."""
    say(f"peak memory with {config.memory_uploads} uploads at once")
    start_up = server.peak_rss_bytes()
    upload = _manual_crop_upload(config, image)
    statuses: dict[int, int] = {}
    with (
        ServiceClient(server.url, connections=config.memory_uploads) as client,
        ThreadPoolExecutor(max_workers=config.memory_uploads, thread_name_prefix="bench-memory") as pool,
    ):
        for status in pool.map(lambda _: client.manual_crop_status(upload), range(config.memory_uploads)):
            statuses[status] = statuses.get(status, 0) + 1
    return MemoryPeak(
        uploads=config.memory_uploads,
        upload_bytes=len(upload.body),
        start_up_bytes=start_up,
        peak_bytes=server.peak_rss_bytes(),
        statuses=statuses,
    )


def _manual_crop_upload(config: Config, image: bytes) -> Upload:
    left, top, right, bottom = config.crop_box()
    crop_box = {"x": left, "y": top, "width": right - left, "height": bottom - top}
    return multipart(image, {"product_info": {"product_id": "BENCH-1"}, "crop_box": crop_box})


def measure_smart_crop(
    config: Config, image: bytes, client: ServiceClient, *, ai_latency_seconds: float
) -> SmartCropRun:
    """Time to 202 one request at a time, then how long until the queued jobs have all finished."""
    say(f"smart crop with the mock AI taking {ai_latency_seconds:g} s")
    upload = multipart(image, {"product_info": {"product_id": "BENCH-SMART"}})
    accepted: list[str] = []
    acceptance = measure(
        lambda: accepted.append(client.smart_crop(upload)), concurrency=1, requests=config.smart_crop_requests
    )
    drain_started = time.perf_counter()
    statuses = _wait_for_jobs(client, accepted, timeout=config.drain_timeout_seconds)
    return SmartCropRun(
        ai_latency_seconds=ai_latency_seconds,
        acceptance=acceptance,
        jobs=len(accepted),
        succeeded=sum(status == "succeeded" for status in statuses.values()),
        drain_seconds=time.perf_counter() - drain_started,
    )


def _wait_for_jobs(client: ServiceClient, image_ids: list[str], *, timeout: float) -> dict[str, str]:
    """Poll every job until all have finished or the timeout passes; the last status seen of each."""
    statuses = dict.fromkeys(image_ids, "pending")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for image_id, status in statuses.items():
            if status not in _FINISHED:
                statuses[image_id] = client.job_status(image_id)
        if all(status in _FINISHED for status in statuses.values()):
            break
        time.sleep(0.1)
    return statuses


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)
