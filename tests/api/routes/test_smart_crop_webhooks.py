"""POST /images/smart-crop with callback_url: refused unless allowed, then the job's JSON POSTed, signed,
when it ends; retried against a receiver that fails twice; attempts recorded on the job."""

import base64
import json
import time
from typing import Any

import httpx
from fastapi.testclient import TestClient
from pydantic import SecretStr
from standardwebhooks import Webhook

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.support import images
from tests.support.receiver import running_receiver
from tests.support.uploads import assert_error

SECRET = "whsec_" + base64.b64encode(b"smart-crop-webhook-secret-012345").decode()


def smart_crop(client: TestClient, callback_url: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"}), "callback_url": callback_url},
    )
    return response


def test_a_callback_url_is_a_422_while_webhooks_are_off(client: TestClient) -> None:
    response = smart_crop(client, "https://hooks.example.com/jobs")
    assert_error(response, 422, "invalid_request", "callback_url")
    assert "WEBHOOK_URL_PREFIXES" in response.json()["error"]["message"]


def test_a_callback_url_outside_the_prefixes_is_a_422(settings: Settings) -> None:
    hooked = settings.model_copy(
        update={"webhook_url_prefixes": ["https://hooks.example.com/"], "webhook_secret": SecretStr(SECRET)}
    )
    with TestClient(create_app(build_services(hooked)), client=(CLIENT_IP, 1)) as client:
        response = smart_crop(client, "https://169.254.169.254/latest/meta-data")
    assert_error(response, 422, "invalid_request", "callback_url")


def test_the_finished_job_is_posted_signed_and_retried_past_two_failures(settings: Settings) -> None:
    with running_receiver([500, 502]) as receiver:
        hooked = settings.model_copy(
            update={"webhook_url_prefixes": [receiver.url], "webhook_secret": SecretStr(SECRET)}
        )
        with TestClient(create_app(build_services(hooked)), client=(CLIENT_IP, 1)) as client:
            accepted = smart_crop(client, receiver.url + "/abc")
            assert accepted.status_code == 202, accepted.text
            status_url = accepted.json()["status_url"]
            deadline = time.monotonic() + 30
            job: dict[str, Any] = {}
            while time.monotonic() < deadline:
                job = client.get(status_url).json()
                if (job.get("webhook") or {}).get("last_status") == "HTTP 204":
                    break
                time.sleep(0.05)

    assert job["status"] == "succeeded"
    assert job["webhook"] == {"url": receiver.url + "/abc", "attempts": 3, "last_status": "HTTP 204"}
    assert len(receiver.received) == 3
    delivered = receiver.received[-1]
    payload = Webhook(SECRET).verify(delivered.body, delivered.headers)
    assert payload["image_id"] == job["image_id"]
    assert payload["status"] == "succeeded"
    assert payload["crop_box"] == job["crop_box"]
    assert payload["retrieval_url"] == job["retrieval_url"]
