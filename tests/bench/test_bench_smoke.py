"""`make bench` in miniature: one real service process, a tiny image, two concurrency levels, a few requests."""

import json
import time
from pathlib import Path

import pytest

from bench import sample
from bench.__main__ import CHART_NAME, write
from bench.client import ServiceClient
from bench.config import Config
from bench.dynamodb_calls import measure_decision_costs
from bench.machine import machine_info
from bench.phases import (
    measure_crop_positions,
    measure_manual_crop,
    measure_other_requests,
    measure_peak_memory,
    measure_smart_crop,
)
from bench.runner import Results
from bench.stack import LocalAws, service
from bench.stats import LevelResult, measure_alternating, percentile

TINY = Config(
    width=64,
    height=48,
    crop_side=32,
    smart_crop_width=64,
    smart_crop_height=48,
    levels=(1, 2),
    requests=3,
    requests_per_client=1,
    rounds=2,
    other_requests=3,
    smart_crop_requests=2,
    decisions=2,
    memory_uploads=3,
    image_concurrency=2,
    drain_timeout_seconds=30,
)


def assert_sane(result: LevelResult, *, requests: int) -> None:
    assert result.requests == requests
    assert result.throughput_rps > 0
    assert 0 < result.p50_ms <= result.p95_ms <= result.max_ms


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([10.0], 0.95) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)


def test_alternating_measurement_times_every_call_the_same_number_of_times() -> None:
    calls = {"fast": lambda: None, "slow": lambda: time.sleep(0.002)}
    results = measure_alternating(calls, concurrency=2, requests=5, rounds=2)
    assert set(results) == {"fast", "slow"}
    for result in results.values():
        assert_sane(result, requests=5)
    assert results["slow"].p50_ms > results["fast"].p50_ms


@pytest.mark.slow
def test_the_bench_measures_a_service_process_and_writes_its_results(
    tmp_path: Path, aws_endpoint: str, table_names: dict[str, str]
) -> None:
    local_aws = LocalAws(endpoint=aws_endpoint, tables=table_names)
    image = sample.photo_jpeg(TINY.width, TINY.height)
    with (
        service(local_aws, tmp_path, "smoke", TINY.server_env()) as server,
        ServiceClient(server.url, connections=2) as client,
    ):
        manual, variants = measure_manual_crop(TINY, image, client, variants={"again": client})
        positions = measure_crop_positions(TINY, image, client)
        other_requests = measure_other_requests(TINY, image, client)
        smart = measure_smart_crop(TINY, image, client, ai_latency_seconds=0.0)
    with service(local_aws, tmp_path, "memory", TINY.server_env()) as server:
        memory = measure_peak_memory(TINY, image, server)
    decisions = measure_decision_costs(local_aws.dynamodb_client(), table_names["rate_limit"], decisions=2)

    assert [position.position for position in positions] == ["top", "middle", "bottom"]
    for position in positions:
        for measured in (position.raw_pillow, position.raw_vips, position.service):
            assert_sane(measured, requests=3)
    assert [row.concurrency for row in manual] == [1, 2]
    for row in manual:
        # At two clients each batch keeps both busy: 2 clients x 1 request x 2 batches, more than `requests`.
        assert_sane(row.raw, requests=TINY.requests_at(row.concurrency))
        assert_sane(row.service, requests=TINY.requests_at(row.concurrency))
        assert row.throughput_ratio == pytest.approx(row.service.throughput_rps / row.raw.throughput_rps)
        assert row.p95_ratio == pytest.approx(row.service.p95_ms / row.raw.p95_ms)
    assert [row.service.requests for row in manual] == [3, 4]
    assert [row.concurrency for row in variants["again"]] == [1, 2]
    for result in variants["again"]:
        assert_sane(result, requests=TINY.requests_at(result.concurrency))
    assert [cost.result.concurrency for cost in other_requests] == [1, 2, 1]
    for cost in other_requests:
        assert_sane(cost.result, requests=3)
    assert_sane(smart.acceptance, requests=2)
    assert memory.statuses == {200: 3}
    assert 0 < memory.start_up_bytes <= memory.peak_bytes
    assert smart.succeeded == smart.jobs == 3  # the warm-up request is a job too
    calls = {cost.path: cost.api_calls_per_decision for cost in decisions}
    assert calls == {
        "admit": 1,
        "refuse": 1,
        "admit after the window (prune)": 2,
        "check, then acquire": 2,
        "check refuses (before the body)": 1,
        "check, then acquire after the window (prune)": 2,
    }

    results = Results(
        machine=machine_info(),
        settings=TINY.described(len(image), len(image)),
        manual_crop=manual,
        manual_crop_variants=variants,
        other_requests=other_requests,
        smart_crop=[smart],
        rate_limit=decisions,
        duration_seconds=1.0,
        crop_positions=positions,
        memory=memory,
    )
    write(results, tmp_path / "results")
    assert (tmp_path / "results" / CHART_NAME).read_bytes().startswith(b"\x89PNG")
    saved = json.loads((tmp_path / "results" / "results.json").read_text())
    assert saved["manual_crop"][1]["service"]["requests"] == 4
    markdown = (tmp_path / "results" / "results.md").read_text()
    assert f"]({CHART_NAME})" in markdown
    assert "| admit after the window (prune) | 2 | 2.00 |" in markdown
    assert "| again | 2 |" in markdown
    assert "| peak RSS of the service while 3 uploads arrive at once (MB) | <= 240 |" in markdown
    assert "| 3 x 200 |" in markdown
    assert "| service p50 / raw-Pillow full-decode p50, 1 client | <= 0.6 |" in markdown
    assert not list((tmp_path / "results").glob("*.tmp"))
