"""Who gets through to the crop endpoints and what they spend: quotas counted only for valid requests,
manual crop's own budget, and Idempotency-Key retries that get the first answer."""

import contextlib
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.services import Services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.support import images
from tests.support.apps import files_under
from tests.support.uploads import BOX, assert_error

PRODUCT = json.dumps({"product_id": "ABC-123"})


def smart_crop(
    client: TestClient,
    *,
    field: str = "source_image",
    source: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    response: httpx.Response = client.post(
        "/images/smart-crop",
        files={field: ("photo.jpg", source or images.solid_jpeg(64, 48), "image/jpeg")},
        data={"product_info": PRODUCT},
        headers=headers or {},
    )
    return response


def manual_crop(
    client: TestClient, *, box: dict[str, int] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    response: httpx.Response = client.post(
        "/images/manual-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(200, 150), "image/jpeg")},
        data={"product_info": PRODUCT, "crop_box": json.dumps(box or BOX)},
        headers=headers or {},
    )
    return response


@contextlib.contextmanager
def api(settings: Settings, *, peer: str = CLIENT_IP, services: Services | None = None) -> Iterator[TestClient]:
    app = create_app(services or build_services(settings))
    with TestClient(app, client=(peer, 50000)) as client:
        yield client


def stored_quota_item(dynamodb: Any, settings: Settings, key: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = dynamodb.get_item(
        TableName=settings.rate_limit_table, Key={"ip_address": {"S": key}}, ConsistentRead=True
    ).get("Item")
    return item


# --- Mistakes do not spend the quota (issue 12, correctness 4) ------------------------------------------


def test_three_misnamed_file_fields_then_a_valid_request_is_accepted(settings: Settings) -> None:
    """As a newcomer tried it with RATE_LIMIT_REQUESTS=3: three 422s used to leave the valid request a 429."""
    with api(settings.model_copy(update={"rate_limit_requests": 3})) as client:
        for _ in range(3):
            assert_error(smart_crop(client, field="image"), 422, "invalid_request", "source_image")
        accepted = smart_crop(client)
    assert accepted.status_code == 202, accepted.text
    assert accepted.headers["RateLimit-Remaining"] == "2"


def test_uploads_that_are_not_images_are_not_counted(settings: Settings) -> None:
    with api(settings.model_copy(update={"rate_limit_requests": 2})) as client:
        for _ in range(4):
            assert smart_crop(client, source=b"%PDF-1.7 not an image").status_code == 415
        assert [smart_crop(client).status_code for _ in range(3)] == [202, 202, 429]


def test_a_client_at_its_limit_is_refused_before_its_body_is_read(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with api(settings.model_copy(update={"rate_limit_requests": 1})) as client:
        assert smart_crop(client).status_code == 202
        monkeypatch.setattr("image_processor.api.routes.images.read_upload", _never_called)
        assert_error(smart_crop(client, field="image"), 429, "rate_limited")


async def _never_called(*args: object, **kwargs: object) -> None:
    raise AssertionError("the body was read")


# --- Manual crop's own budget (issue 14, item 1) ---------------------------------------------------------


def test_manual_crop_is_limited_per_client_with_its_own_budget(settings: Settings) -> None:
    limited = settings.model_copy(update={"manual_crop_rate_limit_requests": 2, "rate_limit_requests": 1})
    with api(limited) as client:
        statuses = [manual_crop(client).status_code for _ in range(3)]
        refused = manual_crop(client)
        smart = smart_crop(client)
    with api(limited, peer="198.51.100.40") as neighbour:
        other = manual_crop(neighbour)
    assert statuses == [200, 200, 429]
    assert_error(refused, 429, "rate_limited")
    assert "Manual crop is limited to 2 requests" in refused.json()["error"]["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert smart.status_code == 202  # the smart-crop budget is separate
    assert other.status_code == 200


def test_manual_crop_mistakes_are_not_counted(settings: Settings) -> None:
    with api(settings.model_copy(update={"manual_crop_rate_limit_requests": 1})) as client:
        for _ in range(3):
            assert manual_crop(client, box={"x": 0, "y": 0, "width": 0, "height": 5}).status_code == 422
        assert manual_crop(client).status_code == 200
        assert manual_crop(client).status_code == 429


def test_manual_crop_is_unlimited_when_its_budget_is_zero(settings: Settings) -> None:
    assert settings.manual_crop_rate_limit_requests == 0
    with api(settings) as client:
        assert all(manual_crop(client).status_code == 200 for _ in range(25))


def test_with_api_keys_each_key_has_its_own_manual_crop_budget(settings: Settings, dynamodb: Any) -> None:
    keyed = settings.model_copy(
        update={"manual_crop_rate_limit_requests": 1, "api_keys": [SecretStr("key-one"), SecretStr("key-two")]}
    )
    with api(keyed) as client:
        first = [manual_crop(client, headers={"X-API-Key": "key-one"}).status_code for _ in range(2)]
        second = manual_crop(client, headers={"X-API-Key": "key-two"}).status_code
    assert first == [200, 429]
    assert second == 200  # the same address, another key
    assert stored_quota_item(dynamodb, settings, f"manual-crop:ip:{CLIENT_IP}") is None


def test_clients_without_an_address_share_one_quota_for_both_crops(settings: Settings, dynamodb: Any) -> None:
    """Issue 20: an unknown address was a 422 for smart crop but a shared bucket for manual crop; now both share."""
    limited = settings.model_copy(update={"rate_limit_requests": 1, "manual_crop_rate_limit_requests": 1})
    with api(limited, peer="unix-socket") as client:  # a peer without an IP address, as over a Unix socket
        smart = [smart_crop(client), smart_crop(client)]
        manual = [manual_crop(client), manual_crop(client)]
    assert smart[0].status_code == 202, smart[0].text
    assert_error(smart[1], 429, "rate_limited")
    assert manual[0].status_code == 200, manual[0].text
    assert_error(manual[1], 429, "rate_limited")
    assert stored_quota_item(dynamodb, settings, "unknown") is not None
    assert stored_quota_item(dynamodb, settings, "manual-crop:ip:unknown") is not None


# --- Idempotency-Key (issue 12, correctness 7) -----------------------------------------------------------


def test_a_manual_crop_retry_with_the_same_key_gets_the_first_answer_and_makes_no_second_image(
    settings: Settings,
) -> None:
    limited = settings.model_copy(update={"manual_crop_rate_limit_requests": 2})
    with api(limited) as client:
        first = manual_crop(client, headers={"Idempotency-Key": "order-7-crop"})
        retry = manual_crop(client, headers={"Idempotency-Key": "order-7-crop"})  # a new multipart boundary
        another = manual_crop(client)
    assert first.status_code == retry.status_code == 200
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert len(files_under(settings.processed_images_dir)) == 2  # the first crop and `another`
    assert another.status_code == 200  # the retry took no quota slot


def test_a_smart_crop_retry_gets_the_first_answer_without_a_second_job_or_slot(settings: Settings) -> None:
    with api(settings.model_copy(update={"rate_limit_requests": 1})) as client:
        first = smart_crop(client, headers={"Idempotency-Key": "retry-me"})
        retry = smart_crop(client, headers={"Idempotency-Key": "retry-me"})  # the client is now at its limit
        new_request = smart_crop(client, headers={"Idempotency-Key": "another"})
    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    assert retry.headers["Location"] == first.headers["Location"]
    assert_error(new_request, 429, "rate_limited")


def test_the_same_key_with_a_different_body_is_refused(settings: Settings) -> None:
    with api(settings) as client:
        assert manual_crop(client, headers={"Idempotency-Key": "k1"}).status_code == 200
        other_box = manual_crop(
            client, box={"x": 1, "y": 1, "width": 10, "height": 10}, headers={"Idempotency-Key": "k1"}
        )
        other_route = smart_crop(client, headers={"Idempotency-Key": "k1"})
    assert_error(other_box, 422, "idempotency_key_reused")
    assert_error(other_route, 422, "idempotency_key_reused")
    assert len(files_under(settings.processed_images_dir)) == 1


def test_a_failed_request_frees_its_key_for_a_corrected_retry(settings: Settings) -> None:
    with api(settings) as client:
        out_of_bounds = manual_crop(
            client, box={"x": 150, "y": 0, "width": 100, "height": 10}, headers={"Idempotency-Key": "k"}
        )
        corrected = manual_crop(client, headers={"Idempotency-Key": "k"})
    assert_error(out_of_bounds, 422, "crop_out_of_bounds")
    assert corrected.status_code == 200, corrected.text


def test_keys_are_scoped_per_client(settings: Settings) -> None:
    services = build_services(settings)
    with api(settings, services=services) as first_client:
        first = manual_crop(first_client, headers={"Idempotency-Key": "shared"})
    with api(settings, peer="198.51.100.50", services=services) as second_client:
        second = manual_crop(second_client, headers={"Idempotency-Key": "shared"})
    assert first.status_code == second.status_code == 200
    assert second.json()["image_id"] != first.json()["image_id"]
    assert "Idempotent-Replayed" not in second.headers


def test_a_malformed_key_is_refused(settings: Settings) -> None:
    with api(settings) as client:
        assert_error(manual_crop(client, headers={"Idempotency-Key": "x" * 256}), 422, "invalid_request")
        assert_error(manual_crop(client, headers={"Idempotency-Key": "with space"}), 422, "invalid_request")


def test_a_concurrent_duplicate_gets_409_while_the_first_runs(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build_services(settings)
    entered, release = threading.Event(), threading.Event()
    save = services.storage.results.save

    def gated_save(key: str, data: bytes) -> None:  # runs in a worker thread: waiting here leaves the loop free
        entered.set()
        release.wait(30)
        save(key, data)

    monkeypatch.setattr(services.storage.results, "save", gated_save)
    with api(settings, services=services) as client, ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(manual_crop, client, headers={"Idempotency-Key": "busy"})
        assert entered.wait(10)
        duplicate = manual_crop(client, headers={"Idempotency-Key": "busy"})
        release.set()
        answered = first.result(timeout=30)
        retry = manual_crop(client, headers={"Idempotency-Key": "busy"})
    assert_error(duplicate, 409, "idempotency_key_in_progress")
    assert answered.status_code == 200
    assert retry.status_code == 200 and retry.json() == answered.json()
    assert len(files_under(settings.processed_images_dir)) == 1


def test_answers_are_kept_in_the_idempotency_table_with_a_ttl(settings: Settings, dynamodb: Any) -> None:
    with api(settings) as client:
        assert manual_crop(client, headers={"Idempotency-Key": "ttl"}).status_code == 200
    items = dynamodb.scan(TableName=settings.idempotency_table)["Items"]
    assert len(items) == 1
    assert items[0]["id"]["S"].startswith("api-request#")
    assert items[0]["status"]["S"] == "COMPLETED"
    assert int(items[0]["expiration"]["N"]) > 0
    assert "ttl" not in json.dumps(items[0]["id"])  # the key is stored hashed


def test_the_openapi_schema_declares_the_idempotency_key_header(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/images/manual-crop", "/images/smart-crop"):
        parameters = {(p["in"], p["name"]) for p in paths[path]["post"].get("parameters", [])}
        assert ("header", "Idempotency-Key") in parameters, path


# --- IPv6 clients (issue 22) ----------------------------------------------------------------------------


def test_an_ipv6_subscriber_cannot_multiply_its_quota_by_rotating_64s(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_requests": 2})
    services = build_services(limited)
    statuses = []
    for subnet in range(3):  # three /64s of one delegated /56
        with api(limited, peer=f"2001:db8:1:{subnet:x}::1", services=services) as client:
            statuses.append(smart_crop(client).status_code)
    assert statuses == [202, 202, 429]


def test_an_ipv6_48_has_a_second_larger_limit(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_requests": 5, "ipv6_site_rate_limit_requests": 2})
    services = build_services(limited)
    statuses = []
    for subnet in range(3):  # three /56s of one /48
        with api(limited, peer=f"2001:db8:1:{subnet:x}00::1", services=services) as client:
            statuses.append(smart_crop(client).status_code)
    assert statuses == [202, 202, 429]
    with api(limited, peer="2001:db8:2::1", services=services) as client:  # another /48 is counted apart
        assert smart_crop(client).status_code == 202
