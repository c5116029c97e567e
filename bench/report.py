"""results.md and results.json from one run."""

import dataclasses
import json
import os
from pathlib import Path

from .cold_start import ColdStart
from .renditions import IPX_MODIFIERS, RenditionRun, stampede_ratio
from .runner import Results


def write_atomically(path: Path, content: bytes) -> None:
    temporary = path.with_name(f"{path.name}.tmp")
    temporary.write_bytes(content)
    os.replace(temporary, path)


def to_json(results: Results) -> str:
    return json.dumps(dataclasses.asdict(results), indent=2) + "\n"


def to_markdown(results: Results, *, chart: str | None = None) -> str:
    when = f"`make bench`, {results.machine['date']}, took {results.duration_seconds:.0f} s."
    lines = ["# Benchmark results", "", when, ""]
    lines += targets_table(results)
    lines += _manual_crop_table(results)
    if chart:
        lines += [f"![Latency and throughput against concurrency]({chart})", ""]
    lines += _positions_table(results)
    lines += _other_requests_table(results)
    lines += _smart_crop_table(results)
    lines += _rate_limit_table(results)
    lines += _memory_table(results)
    lines += renditions_table(results.renditions)
    lines += cold_start_table(results.cold_start)
    lines += ["## Machine and settings", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in {**results.machine, **results.settings}.items()]
    return "\n".join(lines) + "\n"


# The performance targets the issues set for the service, by the figure each one judges.
_TARGETS = {
    "manual": "service p50 / raw-Pillow full-decode p50, 1 client",
    "scaling": "service throughput at 4 clients / raw Pillow single-thread throughput",
    "smart": "smart crop `202` p50, mock AI 2 s",
    "memory": "peak RSS of the service while {uploads} uploads arrive at once (MB)",
    "rendition_first": "`listing.webp` first request p50 / IPX p50, same transform",
    "rendition_stored": "stored `listing.webp` p50 (ms)",
    "rendition_rate": "stored `listing.webp` req/s at 4 clients / IPX req/s, same URL",
    "rendition_stampede": "{stampede} simultaneous first requests: wall / one generation (identical answers)",
}
# Issue 11: at most half of the 481-522 MB the Pillow engine peaked at, holding every upload in memory.
PEAK_RSS_TARGET_MB = 240
_MB = 1024 * 1024


def target_figures(results: Results) -> dict[str, tuple[float, str, bool] | None]:
    """Each target's measured figure, how it is stated, and whether the run met it (None: not measured)."""
    by_level = {row.concurrency: row for row in results.manual_crop}
    figures: dict[str, tuple[float, str, bool] | None] = dict.fromkeys(_TARGETS)
    if 1 in by_level:
        ratio = by_level[1].p50_ratio
        figures["manual"] = (ratio, "<= 0.6", ratio <= 0.6)
    if 1 in by_level and 4 in by_level:
        scaling = by_level[4].service.throughput_rps / by_level[1].raw.throughput_rps
        figures["scaling"] = (scaling, ">= 2.0", scaling >= 2.0)
    slow_ai = [run for run in results.smart_crop if run.ai_latency_seconds >= 2]
    if slow_ai:
        p50 = slow_ai[0].acceptance.p50_ms
        figures["smart"] = (p50, "<= 25 ms", p50 <= 25)
    if results.memory is not None:
        peak = results.memory.peak_bytes / _MB
        figures["memory"] = (peak, f"<= {PEAK_RSS_TARGET_MB}", peak <= PEAK_RSS_TARGET_MB)
    figures |= _rendition_figures(results.renditions)
    return figures


def _rendition_figures(run: RenditionRun | None) -> dict[str, tuple[float, str, bool] | None]:
    """Issue 18's targets: against IPX where it ran, absolute where it could not be compared."""
    if run is None:
        return {}
    figures: dict[str, tuple[float, str, bool] | None] = {
        "rendition_stored": (run.stored.p50_ms, "<= 5", run.stored.p50_ms <= 5),
        "rendition_stampede": (
            stampede_ratio(run),
            "<= 3, identical",
            stampede_ratio(run) <= 3 and run.stampede_identical,
        ),
    }
    if run.ipx_first_request is not None and run.ipx_at_4 is not None:
        first = run.first_request.p50_ms / run.ipx_first_request.p50_ms
        rate = run.stored_at_4.throughput_rps / run.ipx_at_4.throughput_rps
        figures["rendition_first"] = (first, "<= 1.0", first <= 1.0)
        figures["rendition_rate"] = (rate, ">= 10", rate >= 10)
    return figures


def targets_table(results: Results) -> list[str]:
    lines = ["## Targets", "", "| Figure | Target | Measured | Met |", "|---|---|---:|---|"]
    by_level = {row.concurrency: row for row in results.manual_crop}
    for key, figure in target_figures(results).items():
        if figure is None:
            continue
        value, target, met = figure
        label = _TARGETS[key].format(
            uploads=results.memory.uploads if results.memory else 0,
            stampede=results.renditions.stampede_requests if results.renditions else 0,
        )
        lines.append(f"| {label} | {target} | {value:.2f} | {'yes' if met else 'no'} |")
    if 1 in by_level and 4 in by_level:
        raw = by_level[4].raw.throughput_rps / by_level[1].raw.throughput_rps
        lines.append(f"| raw Pillow throughput, 4 threads / 1 (what the machine allows) | | {raw:.2f} | |")
    for cold in results.cold_start:
        met = cold.import_p50_ms <= cold.import_target_ms
        lines.append(
            f"| {cold.function} function: handler import p50 (ms) | <= {cold.import_target_ms:.0f} "
            f"| {cold.import_p50_ms:.0f} | {'yes' if met else 'no'} |"
        )
    return [*lines, ""]


def manual_crop_table(results: Results) -> list[str]:
    """The main table alone (also copied into the README)."""
    lines = [
        "| Concurrency | Raw Pillow req/s | Service req/s | Throughput ratio | Raw p50 / p95 (ms) "
        "| Service p50 / p95 (ms) | p50 ratio | p95 ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results.manual_crop:
        lines.append(
            f"| {row.concurrency} | {row.raw.throughput_rps:.2f} | {row.service.throughput_rps:.2f} "
            f"| {row.throughput_ratio:.2f} | {row.raw.p50_ms:.0f} / {row.raw.p95_ms:.0f} "
            f"| {row.service.p50_ms:.0f} / {row.service.p95_ms:.0f} | {row.p50_ratio:.2f} | {row.p95_ratio:.2f} |"
        )
    return lines


def variants_table(results: Results) -> list[str]:
    """Other service configurations, timed in the same turns as the default one."""
    lines = [
        "| Also timed | Concurrency | req/s | p50 / p95 (ms) | Service throughput / this |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, rows in results.manual_crop_variants.items():
        for default, row in zip(results.manual_crop, rows, strict=True):
            lines.append(
                f"| {name} | {row.concurrency} | {row.throughput_rps:.2f} | {row.p50_ms:.0f} / {row.p95_ms:.0f} "
                f"| {default.service.throughput_rps / row.throughput_rps:.2f} |"
            )
    return lines


def _memory_table(results: Results) -> list[str]:
    memory = results.memory
    if memory is None:
        return []
    answered = ", ".join(f"{count} x {status}" for status, count in sorted(memory.statuses.items()))
    return [
        "## Peak memory",
        "",
        f"{memory.uploads} manual crops of the photo ({memory.upload_bytes / 1e6:.1f} MB each) sent at once to a "
        "fresh server; resident memory from its `/proc` status (VmHWM).",
        "",
        "| Uploads at once | Start-up RSS (MB) | Peak RSS (MB) | Answers |",
        "|---:|---:|---:|---|",
        f"| {memory.uploads} | {memory.start_up_bytes / _MB:.0f} | {memory.peak_bytes / _MB:.0f} | {answered} |",
        "",
    ]


def renditions_table(run: RenditionRun | None) -> list[str]:
    """The service's `listing.webp` against IPX reading the same stored file from disk."""
    if run is None:
        return []
    ipx_first = f"{run.ipx_first_request.p50_ms:.0f}" if run.ipx_first_request else "not run"
    ipx_rate = f"{run.ipx_at_4.throughput_rps:.1f}" if run.ipx_at_4 else "not run"
    return [
        "## Renditions against IPX",
        "",
        f"`GET /images/P/ID/listing.webp` of a {run.source}; IPX serves `/{IPX_MODIFIERS}/P/ID.jpg` from the same "
        "folder (it makes the rendition again on every request). First requests take turns, one fresh stored "
        "image each.",
        "",
        "| Figure | Service | IPX |",
        "|---|---:|---:|",
        f"| first request p50 / p95 (ms) | {run.first_request.p50_ms:.0f} / {run.first_request.p95_ms:.0f} "
        f"| {ipx_first} |",
        f"| stored rendition p50 / p95 (ms), 1 client | {run.stored.p50_ms:.1f} / {run.stored.p95_ms:.1f} | |",
        f"| stored rendition req/s, 4 clients | {run.stored_at_4.throughput_rps:.0f} | {ipx_rate} |",
        f"| {run.stampede_requests} simultaneous first requests: wall (ms), identical | "
        f"{run.stampede_wall_ms:.0f}, {'yes' if run.stampede_identical else 'NO'} | |",
        f"| rendition size (bytes) | {run.rendition_bytes} | |",
        "",
    ]


def _manual_crop_table(results: Results) -> list[str]:
    requests = ", ".join(str(comparison.service.requests) for comparison in results.manual_crop)
    lines = [
        "## Manual crop: service against raw Pillow",
        "",
        f"{requests} timed requests at the levels below, after warm-up; ratios are service / raw "
        "(throughput ratio below 1 and latency ratio above 1 mean the service is slower).",
        "",
        *manual_crop_table(results),
        "",
    ]
    if results.manual_crop_variants:
        lines += [
            "Timed in the same turns (raw libvips: the service's engine without HTTP, validation or storage):",
            "",
            *variants_table(results),
            "",
        ]
    return lines


def _positions_table(results: Results) -> list[str]:
    if not results.crop_positions:
        return []
    lines = [
        "## Manual crop by where the box sits in the frame",
        "",
        "One client; the service and both in-process engines take turns. libvips decodes rows only down",
        "to the box's last row; Pillow decodes the whole frame wherever the box is.",
        "",
        "| Box at | Raw Pillow p50 (ms) | Raw libvips p50 (ms) | Service p50 (ms) | Service / raw Pillow |",
        "|---|---:|---:|---:|---:|",
    ]
    for cost in results.crop_positions:
        lines.append(
            f"| {cost.position} | {cost.raw_pillow.p50_ms:.0f} | {cost.raw_vips.p50_ms:.0f} "
            f"| {cost.service.p50_ms:.0f} | {cost.service.p50_ms / cost.raw_pillow.p50_ms:.2f} |"
        )
    return [*lines, ""]


def _other_requests_table(results: Results) -> list[str]:
    lines = [
        "## Retrieval, and what a request costs without the pixel work",
        "",
        "| Request | Concurrency | req/s | p50 (ms) | p95 (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {cost.label} | {cost.result.concurrency} | {cost.result.throughput_rps:.0f} "
        f"| {cost.result.p50_ms:.1f} | {cost.result.p95_ms:.1f} |"
        for cost in results.other_requests
    ]
    return [*lines, ""]


def _smart_crop_table(results: Results) -> list[str]:
    lines = [
        "## Smart crop: time to `202 Accepted`",
        "",
        "One request at a time; the mock AI's latency is set per server. The response does not wait for the AI: "
        "the jobs run on the server's worker pool (LOCAL_WORKER_CONCURRENCY) and are polled at `/jobs/{id}` "
        "until all have finished (the warm-up request's job included).",
        "",
        "| Mock AI latency | Requests | 202 p50 (ms) | 202 p95 (ms) "
        "| Jobs succeeded | Last job done (s after last 202) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {run.ai_latency_seconds:g} s | {run.acceptance.requests} | {run.acceptance.p50_ms:.0f} "
        f"| {run.acceptance.p95_ms:.0f} | {run.succeeded} / {run.jobs} | {run.drain_seconds:.1f} |"
        for run in results.smart_crop
    ]
    return [*lines, ""]


def _rate_limit_table(results: Results) -> list[str]:
    lines = [
        "## Rate limiter: DynamoDB calls per decision",
        "",
        "Counted with botocore `before-call` (API calls) and `before-send` (HTTP attempts) hooks on the "
        "limiter's client, against the local emulator.",
        "",
        "| Decision | Decisions | API calls / decision | HTTP requests / decision | Operations | p50 (ms) | p95 (ms) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for cost in results.rate_limit:
        operations = ", ".join(f"{name} x{count}" for name, count in cost.operations.items())
        lines.append(
            f"| {cost.path} | {cost.decisions} | {cost.api_calls_per_decision:.2f} "
            f"| {cost.http_requests_per_decision:.2f} | {operations} | {cost.p50_ms:.1f} | {cost.p95_ms:.1f} |"
        )
    return [*lines, ""]


def cold_start_table(cold_starts: list[ColdStart]) -> list[str]:
    """Each packaged function's import and first invocation, in fresh execution environments."""
    if not cold_starts:
        return []
    lines = [
        "## Lambda cold start",
        "",
        "Each function's zip unpacked and run in a fresh Python 3.12 interpreter that sees only the zip and the "
        "runtime's boto3, with the environment Terraform deployed (tests/support/lambda_runtime). First event: "
        "`GET /health` for the API, a smart-crop job for the worker.",
        "",
        "| Function | Runs | Import p50 / max (ms) | Import target (ms) | First invocation p50 / max (ms) "
        "| First answers |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for cold in cold_starts:
        lines.append(
            f"| {cold.function} | {cold.runs} | {cold.import_p50_ms:.0f} / {max(cold.import_ms):.0f} "
            f"| {cold.import_target_ms:.0f} | {cold.first_invocation_p50_ms:.0f} / {max(cold.first_invocation_ms):.0f} "
            f"| {', '.join(sorted(set(cold.outcomes)))} |"
        )
    return [*lines, ""]


def rendition_targets_table(run: RenditionRun) -> list[str]:
    """Issue 18's targets for a renditions run of its own (`--only renditions`)."""
    lines = ["| Figure | Target | Measured | Met |", "|---|---|---:|---|"]
    for key, figure in _rendition_figures(run).items():
        if figure is not None:
            value, target, met = figure
            label = _TARGETS[key].format(stampede=run.stampede_requests, uploads=0)
            lines.append(f"| {label} | {target} | {value:.2f} | {'yes' if met else 'no'} |")
    return [*lines, ""]


def renditions_json(run: RenditionRun) -> str:
    return json.dumps(dataclasses.asdict(run), indent=2) + "\n"


def cold_start_json(cold_starts: list[ColdStart]) -> str:
    return json.dumps([dataclasses.asdict(cold) for cold in cold_starts], indent=2) + "\n"
