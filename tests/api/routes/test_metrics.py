"""GET /metrics: the service's counters and timings in Prometheus's text format, by the names
image_processor.metrics defines (the same ones Lambda prints as EMF)."""

import json
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from image_processor.metrics import ALL_METRICS
from image_processor.metrics.prometheus import prometheus_name
from image_processor.settings import Settings
from tests.support import images
from tests.support.apps import app_client
from tests.support.uploads import manual_crop

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def crops(samples: Samples, kind: str, outcome: str) -> float:
    return samples.get(("image_processor_crops_total", (("kind", kind), ("outcome", outcome))), 0.0)


def test_every_metric_is_exposed_by_its_name(client: TestClient) -> None:
    text = client.get("/metrics").text
    for metric in ALL_METRICS:
        assert f"# HELP {prometheus_name(metric)} " in text, metric.name
    assert "# TYPE image_processor_crops_total counter" in text
    assert "# TYPE image_processor_job_duration_seconds histogram" in text
    assert "# TYPE image_processor_ai_call_duration_seconds histogram" in text


def test_the_process_start_is_counted_once(client: TestClient) -> None:
    assert scrape(client)[("image_processor_cold_start_total", ())] == 1.0


def test_manual_crops_are_counted_by_outcome(client: TestClient) -> None:
    assert manual_crop(client, images.solid_jpeg(400, 300)).status_code == 200
    out_of_bounds = {"x": 390, "y": 0, "width": 100, "height": 100}
    assert manual_crop(client, images.solid_jpeg(400, 300), box=out_of_bounds).status_code == 422
    assert manual_crop(client, b"not an image").status_code in (400, 415)

    samples = scrape(client)

    assert crops(samples, "manual", "succeeded") == 1.0
    assert crops(samples, "manual", "rejected") == 2.0
    assert crops(samples, "manual", "failed") == 0.0


def test_rate_limit_refusals_are_counted(settings: Settings) -> None:
    with app_client(settings.model_copy(update={"manual_crop_rate_limit_requests": 1})) as client:
        assert manual_crop(client, images.solid_jpeg(400, 300)).status_code == 200
        assert manual_crop(client, images.solid_jpeg(400, 300)).status_code == 429

        samples = scrape(client)

    assert samples[("image_processor_rate_limit_refusals_total", (("kind", "manual"),))] == 1.0
    assert crops(samples, "manual", "rejected") == 1.0


def test_a_smart_crop_is_counted_when_its_job_ends_with_its_duration_and_ai_call(client: TestClient) -> None:
    response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"})},
    )
    assert response.status_code == 202, response.text
    assert wait_for_job(client, response.json()["status_url"])["status"] == "succeeded"

    # The worker records the job's end just after its final write, which the status may show first.
    samples = eventually(lambda: scrape(client), lambda samples: crops(samples, "smart", "succeeded") > 0)

    assert crops(samples, "smart", "succeeded") == 1.0
    duration = (("outcome", "succeeded"),)
    assert samples[("image_processor_job_duration_seconds_count", duration)] == 1.0
    assert samples[("image_processor_job_duration_seconds_sum", duration)] >= 0.0
    assert samples[("image_processor_ai_call_duration_seconds_count", duration)] == 1.0
    assert ("image_processor_ai_call_failures_total", (("failure", "transient"),)) not in samples


def eventually(read: Callable[[], Samples], done: Callable[[Samples], bool]) -> Samples:
    deadline = time.monotonic() + 30
    while not done(samples := read()) and time.monotonic() < deadline:
        time.sleep(0.025)
    return samples


def wait_for_job(client: TestClient, status_url: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(status_url).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.025)
    raise AssertionError(f"{status_url} never finished")
