"""Direct uploads on both image stores: the same client code posts the form to `url`, then crops by id."""

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from image_processor.assembly import build_storage
from image_processor.settings import Settings
from tests.support import images
from tests.support.apps import app_client
from tests.support.uploads import BOX, assert_error

SMALL_CAP = 40_000


@pytest.fixture(params=["filesystem", "s3"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def small_cap(settings: Settings) -> Iterator[TestClient]:
    with app_client(settings.model_copy(update={"max_upload_bytes": SMALL_CAP})) as test_client:
        yield test_client


def send(client: TestClient, ticket: dict[str, Any], data: bytes) -> httpx.Response:
    """What any client does with a ticket: every field, then the file in a part named `file`, to `url`."""
    files = {"file": ("photo.jpg", data, "image/jpeg")}
    url, fields = str(ticket["url"]), dict(ticket["fields"])
    if url.startswith("http://testserver/"):
        response: httpx.Response = client.post(url, data=fields, files=files)
        return response
    return httpx.post(url, data=fields, files=files)


def uploaded(client: TestClient, data: bytes) -> str:
    ticket = client.post("/uploads").json()
    response = send(client, ticket, data)
    assert response.status_code in (200, 201, 204), response.text
    return str(ticket["upload_id"])


def multipart(client: TestClient, path: str, fields: dict[str, str], **files: Any) -> httpx.Response:
    """A multipart/form-data POST, as curl -F sends it, even when every part is text."""
    parts: dict[str, Any] = {name: (None, value) for name, value in fields.items()}
    response: httpx.Response = client.post(path, files=parts | files)
    return response


def crop_by_id(client: TestClient, upload_id: str, **files: Any) -> httpx.Response:
    fields = {
        "source_upload_id": upload_id,
        "product_info": json.dumps({"product_id": "ABC-123"}),
        "crop_box": json.dumps(BOX),
    }
    return multipart(client, "/images/manual-crop", fields, **files)


def test_post_uploads_returns_a_ticket(client: TestClient, settings: Settings) -> None:
    response = client.post("/uploads")

    assert response.status_code == 201
    ticket = response.json()
    assert set(ticket) == {"upload_id", "url", "fields", "expires_at"}
    assert abs(ticket["expires_at"] - (time.time() + settings.upload_ttl_seconds)) < 5
    assert all(isinstance(value, str) for value in ticket["fields"].values())
    if settings.storage_backend == "s3":
        assert ticket["url"].startswith("http://127.0.0.1:")
        assert ticket["fields"]["key"] == f".uploads/{ticket['upload_id']}"
        policy = json.loads(base64.b64decode(ticket["fields"]["policy"]))
        assert ["content-length-range", 1, settings.max_upload_bytes] in policy["conditions"]
        assert ["starts-with", "$Content-Type", "image/"] in policy["conditions"]
    else:
        assert ticket["url"].startswith(f"http://testserver/uploads/{ticket['upload_id']}?max_bytes=")
        assert "&signature=" in ticket["url"]
        assert set(ticket["fields"]) == {"Content-Type"}


def test_an_uploaded_image_is_cropped_by_its_id_and_served(client: TestClient) -> None:
    upload_id = uploaded(client, images.solid_jpeg(colour=images.BLUE))

    response = crop_by_id(client, upload_id)

    assert response.status_code == 200, response.text
    served = client.get(response.json()["retrieval_url"])
    assert served.status_code == 200
    assert images.close_to(images.pixel(served.content, 50, 50), images.BLUE)


def test_an_upload_is_used_once(client: TestClient) -> None:
    upload_id = uploaded(client, images.solid_jpeg())
    assert crop_by_id(client, upload_id).status_code == 200
    assert_error(crop_by_id(client, upload_id), 404, "not_found", field="source_upload_id")


def test_smart_crop_takes_an_upload_id(client: TestClient) -> None:
    upload_id = uploaded(client, images.solid_jpeg())
    fields = {"source_upload_id": upload_id, "product_info": json.dumps({"product_id": "ABC-123"})}
    response = multipart(client, "/images/smart-crop", fields)
    assert response.status_code == 202, response.text


def test_a_field_that_fails_validation_does_not_use_up_the_upload(client: TestClient) -> None:
    upload_id = uploaded(client, images.solid_jpeg())
    bad = multipart(
        client, "/images/manual-crop", {"source_upload_id": upload_id, "product_info": "{}", "crop_box": "{}"}
    )
    assert bad.status_code == 422
    assert crop_by_id(client, upload_id).status_code == 200


def test_both_sources_or_neither_is_a_422_that_says_which(client: TestClient) -> None:
    both = crop_by_id(client, "1234567890-" + "0" * 32, source_image=("a.jpg", images.solid_jpeg(), "image/jpeg"))
    assert_error(both, 422, "invalid_request", field="source_upload_id")
    assert "not both" in both.json()["error"]["message"]

    neither = multipart(
        client, "/images/manual-crop", {"product_info": '{"product_id": "ABC-123"}', "crop_box": json.dumps(BOX)}
    )
    assert_error(neither, 422, "invalid_request", field="source_image")
    assert "source_upload_id" in neither.json()["error"]["message"]


@pytest.mark.parametrize("upload_id", ["9999999999-" + "0" * 32, "not-an-id", "../../ABC-123/x.jpg"])
def test_an_unknown_upload_id_is_a_404(client: TestClient, upload_id: str) -> None:
    assert_error(crop_by_id(client, upload_id), 404, "not_found", field="source_upload_id")


def test_an_expired_upload_is_a_410_and_is_removed(client: TestClient, settings: Settings) -> None:
    storage = build_storage(settings)
    expired = f"{int(time.time()) - 2 * settings.upload_ttl_seconds - 10}-{'a' * 32}"
    storage.inbox.put_upload(expired, images.solid_jpeg())

    assert_error(crop_by_id(client, expired), 410, "gone", field="source_upload_id")
    assert storage.inbox.take_upload(expired, 10**9) is None


def test_the_service_rechecks_the_size_of_what_was_uploaded(small_cap: TestClient, settings: Settings) -> None:
    """moto accepts a presigned POST over its content-length-range; the crop refuses it."""
    ticket = small_cap.post("/uploads").json()
    oversized = images.noisy("PNG", 200, 200)
    assert len(oversized) > SMALL_CAP
    posted = send(small_cap, ticket, oversized)
    if settings.storage_backend == "filesystem":
        assert_error(posted, 413, "payload_too_large", field="file")
        build_storage(settings).inbox.put_upload(ticket["upload_id"], oversized)  # as if it had got through
    assert_error(crop_by_id(small_cap, ticket["upload_id"]), 413, "payload_too_large", field="source_upload_id")
    assert_error(crop_by_id(small_cap, ticket["upload_id"]), 404, "not_found")


def test_an_upload_that_is_not_an_image_is_refused(client: TestClient, settings: Settings) -> None:
    ticket = client.post("/uploads").json()
    posted = send(client, ticket, b"%PDF-1.7 not an image")
    if settings.storage_backend == "filesystem":
        # Probed on receipt, and not kept.
        assert_error(posted, 415)
        assert not list((settings.processed_images_dir / ".uploads").glob(f"{ticket['upload_id']}"))
    response = crop_by_id(client, ticket["upload_id"])
    assert 400 <= response.status_code < 500
    if settings.storage_backend == "s3":
        assert_error(response, 415)


def _with_query(ticket: dict[str, Any], **changes: str) -> dict[str, Any]:
    url = httpx.URL(ticket["url"])
    return {**ticket, "url": str(url.copy_merge_params(changes))}


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_the_local_upload_form_checks_its_signature_and_content_type(client: TestClient) -> None:
    ticket = client.post("/uploads").json()
    forged = _with_query(ticket, max_bytes=str(10**10))
    assert_error(send(client, forged, images.solid_jpeg()), 422, field="signature")
    other_id = {**ticket, "url": ticket["url"].replace(ticket["upload_id"], f"{ticket['expires_at']}-{'b' * 32}")}
    assert_error(send(client, other_id, images.solid_jpeg()), 422, field="signature")
    not_image = {**ticket, "fields": {**ticket["fields"], "Content-Type": "text/html"}}
    assert_error(send(client, not_image, images.solid_jpeg()), 415, field="Content-Type")
    assert send(client, ticket, images.solid_jpeg()).status_code == 204


@pytest.mark.parametrize("storage_backend", ["filesystem"])
@pytest.mark.parametrize("signature", ["é" * 64, "\u00ff", "0" * 63 + "G", "", "0" * 65, "%ff%fe"])
def test_a_malformed_signature_is_a_4xx_never_a_500(client: TestClient, signature: str) -> None:
    ticket = client.post("/uploads").json()
    response = send(client, _with_query(ticket, signature=signature), images.solid_jpeg())
    assert_error(response, 422, "invalid_request", "signature")
    unicode_cap = send(client, _with_query(ticket, max_bytes="²"), images.solid_jpeg())
    assert_error(unicode_cap, 422, "invalid_request", "signature")


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_the_signature_is_checked_before_the_body_is_read(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    async def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the body was read")

    monkeypatch.setattr("image_processor.api.routes.uploads.parse_form", never)
    ticket = client.post("/uploads").json()
    assert_error(send(client, _with_query(ticket, signature="0" * 64), images.solid_jpeg()), 422, field="signature")


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_an_upload_is_received_once(client: TestClient) -> None:
    ticket = client.post("/uploads").json()
    assert send(client, ticket, images.solid_jpeg()).status_code == 204
    assert_error(send(client, ticket, images.solid_jpeg()), 409, "already_received")
    assert crop_by_id(client, ticket["upload_id"]).status_code == 200
    # Neither re-posting the form after its use nor using it again brings it back.
    assert_error(send(client, ticket, images.solid_jpeg()), 409, "already_received")
    assert_error(crop_by_id(client, ticket["upload_id"]), 404, "not_found")


def test_a_used_upload_posted_again_is_not_served_again(client: TestClient, settings: Settings) -> None:
    storage = build_storage(settings)
    upload_id = uploaded(client, images.solid_jpeg())
    assert crop_by_id(client, upload_id).status_code == 200
    storage.inbox.put_upload(upload_id, images.solid_jpeg())  # as a re-posted S3 form would
    assert_error(crop_by_id(client, upload_id), 404, "not_found")


def test_expired_uploads_are_swept_whoever_signed_them(client: TestClient, settings: Settings) -> None:
    storage = build_storage(settings)
    now = int(time.time())
    expired = f"{now - settings.upload_ttl_seconds - 10}-{'a' * 32}"  # past expires_at + UPLOAD_TTL_SECONDS
    usable = f"{now - 10}-{'b' * 32}"  # past expires_at, still inside its use-by time
    for upload_id in (expired, usable):
        storage.inbox.put_upload(upload_id, images.solid_jpeg())
    taken = f"{now - settings.upload_ttl_seconds - 20}-{'c' * 32}"
    storage.inbox.put_upload(taken, images.solid_jpeg())
    storage.inbox.take_upload(taken, 10**9)

    with app_client(settings):  # start-up sweeps, beside serving
        deadline = time.monotonic() + 30
        while storage.inbox.upload_ids() != [usable] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert storage.inbox.upload_ids() == [usable]


def test_with_api_keys_both_upload_routes_need_a_key(settings: Settings) -> None:
    key = "upload-key-0123456789abcdef"
    keyed = settings.model_copy(update={"api_keys": [SecretStr(key)]})
    with app_client(keyed) as client:
        assert_error(client.post("/uploads"), 401, "unauthorized")
        ticket = client.post("/uploads", headers={"X-API-Key": key}).json()
        if settings.storage_backend == "filesystem":
            files = {"file": ("photo.jpg", images.solid_jpeg(), "image/jpeg")}
            assert_error(client.post(ticket["url"], data=ticket["fields"], files=files), 401, "unauthorized")
            sent = client.post(ticket["url"], data=ticket["fields"], files=files, headers={"X-API-Key": key})
            assert sent.status_code == 204


def test_uploads_are_limited_per_client(settings: Settings) -> None:
    with app_client(settings.model_copy(update={"upload_rate_limit_requests": 2})) as client:
        assert client.post("/uploads").status_code == 201
        created = client.post("/uploads")
        assert created.headers["RateLimit-Remaining"] == "0"
        refused = client.post("/uploads")
    assert_error(refused, 429, "rate_limited")
    assert "Retry-After" in refused.headers


def test_uploads_are_limited_by_default() -> None:
    assert Settings().upload_rate_limit_requests > 0
