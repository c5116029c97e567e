"""GET /products/{product_id}/images and DELETE /images/{product_id}/{image_id}, over HTTP, on both stores."""

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.jobs.local.pool import LocalWorkerPool
from image_processor.services import Services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.support import images
from tests.support.services import RecordingDispatcher, RecordingLocator
from tests.support.uploads import assert_error, manual_crop

KEY = "catalog-test-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
PRODUCT = "ABC-123"


@pytest.fixture(params=["filesystem", "s3"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_keys": [SecretStr(KEY)]})


@pytest.fixture
def client(keyed: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(build_services(keyed)), client=(CLIENT_IP, 50000)) as test_client:
        yield test_client


def crop(client: TestClient, box: dict[str, int] | None = None, product_id: str = PRODUCT) -> dict[str, Any]:
    response = client.post(
        "/images/manual-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(), "image/jpeg")},
        data={
            "product_info": f'{{"product_id": "{product_id}"}}',
            "crop_box": json.dumps(box or {"x": 0, "y": 0, "width": 120, "height": 80}),
        },
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def listing(client: TestClient, product_id: str = PRODUCT, **params: Any) -> dict[str, Any]:
    response = client.get(f"/products/{product_id}/images", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def smart_crop(client: TestClient) -> dict[str, Any]:
    response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
        data={"product_info": f'{{"product_id": "{PRODUCT}"}}'},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(condition: Any, what: str, deadline_seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


def test_a_manual_crop_is_listed_with_its_stored_size_and_no_renditions(client: TestClient) -> None:
    created = crop(client, {"x": 10, "y": 5, "width": 120, "height": 80})
    stored = client.get(created["retrieval_url"])

    (entry,) = listing(client)["images"]

    assert entry["image_id"] == created["image_id"]
    assert entry["retrieval_url"] == created["retrieval_url"]
    assert entry["source"] == "manual"
    assert entry["status"] is None and entry["crop_box"] is None
    assert entry["size_bytes"] == len(stored.content)
    assert (entry["width"], entry["height"]) == (120, 80)
    assert entry["renditions"] == []
    assert entry["created_at"].endswith("Z")
    assert listing(client, "OTHER-1") == {"images": [], "next": None}


def test_pages_are_newest_first_and_the_cursor_walks_them_all(client: TestClient) -> None:
    made = [crop(client)["image_id"] for _ in range(5)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = listing(client, limit=2, **({"next": cursor} if cursor else {}))
        seen += [entry["image_id"] for entry in page["images"]]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break

    assert seen == list(reversed(made))
    assert pages == 3


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 101}, "limit"),
        ({"limit": 0}, "limit"),
        ({"next": "bm90LWEtY3Vyc29y"}, "next"),
        ({"next": "%%"}, "next"),
    ],
)
def test_a_bad_limit_or_cursor_is_a_422(client: TestClient, params: dict[str, Any], field: str) -> None:
    assert_error(client.get(f"/products/{PRODUCT}/images", params=params), 422, "invalid_request", field)


def test_a_cursor_of_another_product_is_refused(client: TestClient) -> None:
    crop(client)
    crop(client)
    cursor = listing(client, limit=1)["next"]
    assert cursor is not None

    assert_error(client.get("/products/OTHER-1/images", params={"next": cursor}), 422, "invalid_request", "next")


def test_an_unsafe_product_id_is_a_422(client: TestClient) -> None:
    assert_error(client.get("/products/.staging/images"), 422)


def test_a_recorded_rendition_is_listed_with_its_url(client: TestClient) -> None:
    created = crop(client)
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    key = f"{PRODUCT}/{created['image_id']}/listing.jpg"

    services.product_images.catalog.record_rendition(PRODUCT, created["image_id"], "listing", key)

    (entry,) = listing(client)["images"]
    assert entry["renditions"] == [{"preset": "listing", "url": f"/images/{key}"}]


def test_a_rendition_made_on_its_first_request_is_listed(client: TestClient) -> None:
    created = crop(client)

    made = client.get(created["renditions"]["listing"] + ".webp")

    assert made.status_code == 200, made.text
    (entry,) = listing(client)["images"]
    key = f"{PRODUCT}/{created['image_id']}/listing.webp"
    assert entry["renditions"] == [{"preset": "listing", "url": f"/images/{key}"}]


def test_the_renditions_a_smart_crop_asks_for_are_listed_once_the_worker_made_them(client: TestClient) -> None:
    response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
        data={"product_info": f'{{"product_id": "{PRODUCT}"}}', "renditions": '["thumbnail"]'},
        headers=AUTH,
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    wait_for(lambda: client.get(accepted["status_url"]).json()["status"] == "succeeded", "the job succeeded")

    (entry,) = listing(client)["images"]
    assert [item["preset"] for item in entry["renditions"]] == ["thumbnail"]
    assert entry["renditions"][0]["url"].startswith(f"/images/{PRODUCT}/{accepted['image_id']}/thumbnail.")


def test_a_smart_crop_is_listed_pending_at_its_202_and_updated_when_the_job_ends(client: TestClient) -> None:
    accepted = smart_crop(client)

    def finished() -> dict[str, Any] | None:
        (entry,) = listing(client)["images"]
        return entry if entry["status"] == "succeeded" else None

    entry = wait_for(finished, "the job succeeded in the listing")
    job = client.get(accepted["status_url"]).json()
    stored = client.get(accepted["retrieval_url"])
    assert entry["source"] == "smart"
    assert entry["crop_box"] == job["crop_box"]
    assert entry["object_found"] == job["object_found"]
    assert entry["size_bytes"] == len(stored.content)
    assert (entry["width"], entry["height"]) == (job["crop_box"]["width"], job["crop_box"]["height"])


def test_a_queued_smart_crop_is_listed_as_pending(keyed: Settings) -> None:
    with TestClient(
        create_app(build_services(keyed, dispatcher=RecordingDispatcher())), client=(CLIENT_IP, 1)
    ) as client:
        accepted = smart_crop(client)
        (entry,) = listing(client)["images"]
    assert (entry["image_id"], entry["source"], entry["status"]) == (accepted["image_id"], "smart", "pending")


def delete(client: TestClient, created: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    response: httpx.Response = client.delete(
        f"/images/{PRODUCT}/{created['image_id']}", headers=AUTH if headers is None else headers
    )
    return response


def test_delete_removes_the_image_its_renditions_and_its_entry_then_a_second_is_404(client: TestClient) -> None:
    created = crop(client)
    kept = crop(client)
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    rendition = f"{PRODUCT}/{created['image_id']}/listing.jpg"
    services.storage.results.save(rendition, images.solid_jpeg(10, 10))
    assert client.get(f"/images/{rendition}").status_code == 200

    first = delete(client, created)
    second = delete(client, created)

    assert first.status_code == 204 and first.content == b""
    assert_error(second, 404, "not_found")
    assert client.get(created["retrieval_url"]).status_code == 404
    assert client.get(f"/images/{rendition}").status_code == 404
    assert [entry["image_id"] for entry in listing(client)["images"]] == [kept["image_id"]]
    assert client.get(kept["retrieval_url"]).status_code == 200


def test_delete_of_a_finished_smart_crop_removes_its_job_record(client: TestClient) -> None:
    accepted = smart_crop(client)
    wait_for(lambda: client.get(accepted["status_url"]).json()["status"] == "succeeded", "the job succeeded")

    assert delete(client, accepted).status_code == 204

    assert_error(client.get(accepted["status_url"]), 404)
    assert client.get(accepted["retrieval_url"]).status_code == 404
    assert listing(client)["images"] == []


def test_deleting_during_an_in_flight_smart_crop_fails_the_job_and_its_result_is_discarded(keyed: Settings) -> None:
    gate = threading.Event()
    locator = RecordingLocator(gate=gate)
    with TestClient(create_app(build_services(keyed, locator=locator)), client=(CLIENT_IP, 1)) as client:
        accepted = smart_crop(client)
        wait_for(lambda: locator.calls == 1, "the worker reached the AI")

        response = delete(client, accepted)
        gate.set()
        job = wait_for(
            lambda: (body := client.get(accepted["status_url"]).json())["status"] == "failed" and body, "job failed"
        )
        services: Services = client.app.state.services  # type: ignore[attr-defined]
        assert isinstance(services.dispatcher, LocalWorkerPool)
    # Leaving the client stops the pool, which lets the running worker end: it writes its result, finds the
    # job failed and removes it again. The same services, served again, show what it left.
    with TestClient(create_app(services), client=(CLIENT_IP, 1)) as client:
        image = client.get(accepted["retrieval_url"])
        listed = listing(client)

    assert response.status_code == 204
    assert job["error"] == "deleted"
    assert image.status_code == 404
    assert listed["images"] == []


def test_delete_needs_a_valid_key(client: TestClient) -> None:
    created = crop(client)

    assert_error(delete(client, created, headers={}), 401, "unauthorized")
    assert_error(delete(client, created, headers={"X-API-Key": "wrong-key-wrong-key-wrong"}), 401, "unauthorized")
    assert client.get(created["retrieval_url"]).status_code == 200


def test_without_api_keys_delete_is_403_saying_how_to_turn_them_on(settings: Settings) -> None:
    with TestClient(create_app(build_services(settings)), client=(CLIENT_IP, 50000)) as client:
        created = manual_crop(client, images.solid_jpeg()).json()
        response = client.delete(f"/images/{PRODUCT}/{created['image_id']}", headers=AUTH)
    assert_error(response, 403, "forbidden")
    assert "API_KEYS" in response.json()["error"]["message"]


def test_delete_of_an_unknown_or_malformed_id(client: TestClient) -> None:
    assert_error(client.delete(f"/images/{PRODUCT}/{'0' * 32}", headers=AUTH), 404, "not_found")
    # Not an id (32 hex digits): a path no DELETE answers.
    assert_error(client.delete(f"/images/{PRODUCT}/not-an-id", headers=AUTH), 405)


def test_delete_invalidates_the_cdn_paths_when_a_distribution_is_set(
    keyed: Settings, aws_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's CloudFront keeps the invalidations it is sent."""
    cloudfront = boto3.client("cloudfront", endpoint_url=aws_endpoint, region_name="us-east-1")
    distribution = cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": str(time.time_ns()),
            "Origins": {"Quantity": 1, "Items": [{"Id": "o", "DomainName": "images.example.com"}]},
            "DefaultCacheBehavior": {"TargetOriginId": "o", "ViewerProtocolPolicy": "https-only"},
            "Comment": "",
            "Enabled": True,
        }
    )["Distribution"]["Id"]
    with TestClient(
        create_app(build_services(keyed.model_copy(update={"cdn_distribution_id": distribution})))
    ) as client:
        created = crop(client)
        assert delete(client, created).status_code == 204

    (summary,) = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]["Items"]
    batch = cloudfront.get_invalidation(DistributionId=distribution, Id=summary["Id"])["Invalidation"]
    paths = batch["InvalidationBatch"]["Paths"]["Items"]
    assert sorted(paths) == sorted(
        [f"/images/{PRODUCT}/{created['image_id']}.jpg", f"/images/{PRODUCT}/{created['image_id']}/*"]
    )
