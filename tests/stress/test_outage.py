"""Stop the DynamoDB emulator mid-run: smart crop fails closed with 503, the rest keeps working, and it recovers."""

import json
import time
from typing import Any

import boto3
import httpx
from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.support import images
from tools.local_tables import create_tables
from tools.processes import free_port, running_emulator


def smart_crop(client: TestClient) -> httpx.Response:
    response: httpx.Response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"})},
    )
    return response


def manual_crop(client: TestClient) -> httpx.Response:
    response: httpx.Response = client.post(
        "/images/manual-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
        data={
            "product_info": json.dumps({"product_id": "ABC-123"}),
            "crop_box": json.dumps({"x": 0, "y": 0, "width": 10, "height": 10}),
        },
    )
    return response


def wait_for_job(client: TestClient, status_url: str) -> dict[str, Any]:
    for _ in range(400):
        body: dict[str, Any] = client.get(status_url).json()
        if body["status"] in ("succeeded", "failed"):
            return body
        time.sleep(0.025)
    raise AssertionError(f"{status_url} never finished: {body}")


def test_smart_crop_fails_closed_while_dynamodb_is_down_and_recovers(settings: Settings, tmp_path: Any) -> None:
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    names = {role: f"outage-{role}" for role in ("rate_limit", "jobs", "idempotency", "catalog")}
    outage = settings.model_copy(
        update={
            "aws_endpoint_url": endpoint,
            "aws_timeout_seconds": 0.5,
            "rate_limit_table": names["rate_limit"],
            "jobs_table": names["jobs"],
            "idempotency_table": names["idempotency"],
            "catalog_table": names["catalog"],
        }
    )

    def provision() -> None:
        create_tables(boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1"), names)

    with TestClient(create_app(build_services(outage)), client=("203.0.113.10", 50000)) as client:
        with running_emulator(port):
            provision()
            before = smart_crop(client)
            assert before.status_code == 202
            assert wait_for_job(client, before.json()["status_url"])["status"] == "succeeded"
            kept = manual_crop(client).json()["retrieval_url"]

        started = time.monotonic()
        down = smart_crop(client)
        elapsed = time.monotonic() - started
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "service_unavailable"
        assert elapsed < 5
        assert manual_crop(client).status_code == 200
        assert client.get(kept).status_code == 200
        assert client.get(before.json()["retrieval_url"]).status_code == 200

        with running_emulator(port):
            provision()  # the emulator keeps no state across restarts; DynamoDB would
            after = smart_crop(client)
            assert after.status_code == 202
            assert wait_for_job(client, after.json()["status_url"])["status"] == "succeeded"
