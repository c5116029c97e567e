"""Run a call at a fixed concurrency and summarise it: throughput and latency percentiles."""

import math
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass


@dataclass(frozen=True)
class LevelResult:
    concurrency: int
    requests: int
    wall_seconds: float
    throughput_rps: float
    p50_ms: float
    p95_ms: float
    max_ms: float


@dataclass(frozen=True)
class Comparison:
    """The service against the raw-Pillow baseline at one concurrency (ratios are service / raw)."""

    concurrency: int
    raw: LevelResult
    service: LevelResult
    p50_ratio: float
    p95_ratio: float
    throughput_ratio: float


def percentile(samples: list[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks (NumPy's default)."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def measure(call: Callable[[], object], *, concurrency: int, requests: int, warmup: int | None = None) -> LevelResult:
    """`requests` calls from `concurrency` threads, after `warmup` untimed calls (one per thread by default)."""
    return measure_alternating({"call": call}, concurrency=concurrency, requests=requests, warmup=warmup)["call"]


def measure_alternating(
    calls: Mapping[str, Callable[[], object]],
    *,
    concurrency: int,
    requests: int,
    rounds: int = 1,
    warmup: int | None = None,
) -> dict[str, LevelResult]:
    """Each call `requests` times from `concurrency` threads, taking turns in `rounds` batches.

    Taking turns spreads a noisy neighbour's bursts over every call alike, so ratios between them
    hold better than numbers measured minutes apart. Throughput is requests over the summed wall time.
    """
    if concurrency < 1 or requests < 1 or not 1 <= rounds <= requests:
        raise ValueError("concurrency and requests must be at least 1, and rounds between 1 and requests")
    batches = [requests // rounds + (1 if index < requests % rounds else 0) for index in range(rounds)]
    latencies: dict[str, list[float]] = {name: [] for name in calls}
    walls = dict.fromkeys(calls, 0.0)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"bench-c{concurrency}") as pool:
        for call in calls.values():
            list(pool.map(lambda _, call=call: call(), range(concurrency if warmup is None else warmup)))
        for batch in batches:
            for name, call in calls.items():
                started = time.perf_counter()
                latencies[name] += pool.map(lambda _, call=call: _timed_ms(call), range(batch))
                walls[name] += time.perf_counter() - started
    return {name: _summary(concurrency, latencies[name], walls[name]) for name in calls}


def _timed_ms(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def _summary(concurrency: int, latencies_ms: list[float], wall_seconds: float) -> LevelResult:
    return LevelResult(
        concurrency=concurrency,
        requests=len(latencies_ms),
        wall_seconds=wall_seconds,
        throughput_rps=len(latencies_ms) / wall_seconds,
        p50_ms=percentile(latencies_ms, 0.50),
        p95_ms=percentile(latencies_ms, 0.95),
        max_ms=max(latencies_ms),
    )


def compare(raw: LevelResult, service: LevelResult) -> Comparison:
    if raw.concurrency != service.concurrency:
        raise ValueError("compare results measured at the same concurrency")
    return Comparison(
        concurrency=raw.concurrency,
        raw=raw,
        service=service,
        p50_ratio=service.p50_ms / raw.p50_ms,
        p95_ratio=service.p95_ms / raw.p95_ms,
        throughput_ratio=service.throughput_rps / raw.throughput_rps,
    )
