"""One whole run: the emulator, a service per configuration, every measurement, every process stopped."""

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import sample
from .client import ServiceClient
from .cold_start import ColdStart, measure_cold_starts
from .config import Config
from .dynamodb_calls import DecisionCost, measure_decision_costs
from .ipx import running_ipx
from .machine import machine_info
from .phases import (
    MemoryPeak,
    PositionCost,
    RequestCost,
    SmartCropRun,
    measure_crop_positions,
    measure_manual_crop,
    measure_other_requests,
    measure_peak_memory,
    measure_smart_crop,
    say,
)
from .renditions import RenditionRun, measure_renditions
from .stack import LocalAws, local_aws, service
from .stats import Comparison, LevelResult


@dataclass(frozen=True)
class Results:
    machine: dict[str, str]
    settings: dict[str, str]
    manual_crop: list[Comparison]
    manual_crop_variants: dict[str, list[LevelResult]]
    other_requests: list[RequestCost]
    smart_crop: list[SmartCropRun]
    rate_limit: list[DecisionCost]
    duration_seconds: float
    crop_positions: list[PositionCost] = field(default_factory=list)
    cold_start: list[ColdStart] = field(default_factory=list)
    memory: MemoryPeak | None = None
    renditions: RenditionRun | None = None


def run(config: Config) -> Results:
    started = time.perf_counter()
    image = sample.photo_jpeg(config.width, config.height)
    say(f"sample image {config.width}x{config.height}, {len(image) / 1e6:.1f} MB")
    smart_crop_upload = sample.photo_jpeg(config.smart_crop_width, config.smart_crop_height)
    smart: list[SmartCropRun] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as scratch,
        _logs_on_failure(Path(scratch)),
        local_aws() as aws_stack,
    ):
        work_dir = Path(scratch)
        with contextlib.ExitStack() as servers:
            connections = max(config.levels)
            server = servers.enter_context(service(aws_stack, work_dir, "manual", config.server_env()))
            client = servers.enter_context(ServiceClient(server.url, connections=connections))
            variants = {}
            for index, (name, env) in enumerate(config.variants.items()):
                variant = servers.enter_context(
                    service(aws_stack, work_dir, f"variant-{index}", {**config.server_env(), **env})
                )
                variants[name] = servers.enter_context(ServiceClient(variant.url, connections=connections))
            manual, manual_variants = measure_manual_crop(config, image, client, variants=variants)
            positions = measure_crop_positions(config, image, client)
            other_requests = measure_other_requests(config, image, client)
        renditions = _renditions_against_ipx(config, image, aws_stack, work_dir)
        with service(aws_stack, work_dir, "memory", config.server_env()) as server:
            memory = measure_peak_memory(config, image, server)
        for latency in config.ai_latencies:
            env = config.server_env(ai_latency_seconds=latency)
            with (
                service(aws_stack, work_dir, f"smart-{latency:g}", env) as server,
                ServiceClient(server.url) as client,
            ):
                smart.append(measure_smart_crop(config, smart_crop_upload, client, ai_latency_seconds=latency))
        say("rate-limit decisions")
        dynamodb = aws_stack.dynamodb_client()
        decisions = measure_decision_costs(dynamodb, aws_stack.tables["rate_limit"], decisions=config.decisions)
    cold_start = measure_cold_starts(config.cold_starts)
    return Results(
        machine=machine_info(),
        settings=config.described(len(image), len(smart_crop_upload)),
        manual_crop=manual,
        manual_crop_variants=manual_variants,
        other_requests=other_requests,
        smart_crop=smart,
        rate_limit=decisions,
        duration_seconds=time.perf_counter() - started,
        crop_positions=positions,
        cold_start=cold_start,
        memory=memory,
        renditions=renditions,
    )


def run_renditions(config: Config) -> RenditionRun:
    """The renditions phase alone (`python -m bench --only renditions`)."""
    image = sample.photo_jpeg(config.width, config.height)
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as scratch,
        _logs_on_failure(Path(scratch)),
        local_aws() as aws_stack,
    ):
        return _renditions_against_ipx(config, image, aws_stack, Path(scratch))


def _renditions_against_ipx(config: Config, image: bytes, aws_stack: LocalAws, work_dir: Path) -> RenditionRun:
    """A service of its own, and IPX serving that service's images folder from disk."""
    with (
        service(aws_stack, work_dir, "renditions", config.server_env()) as server,
        ServiceClient(server.url, connections=config.rendition_stampede) as client,
        running_ipx(work_dir / "renditions", work_dir / "ipx.log") as ipx_url,
        contextlib.ExitStack() as peers,
    ):
        ipx = peers.enter_context(ServiceClient(ipx_url, connections=4)) if ipx_url else None
        return measure_renditions(config, image, client, ipx)


@contextlib.contextmanager
def _logs_on_failure(work_dir: Path) -> Iterator[None]:
    """If the run fails, show the end of each server log before the scratch folder goes."""
    try:
        yield
    except BaseException:
        for log in sorted(work_dir.glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-20:]
            print(f"--- {log.name} (last lines) ---", *tail, sep="\n", file=sys.stderr)
        raise
