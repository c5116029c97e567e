"""Optional API keys (API_KEYS, API_KEYS_FILE): with keys set, every POST needs one; reads stay public."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.support import images
from tests.support.uploads import BOX, assert_error, manual_crop


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_keys": [SecretStr("k-first-0123456789"), SecretStr("k-second-9876543210")]})


@pytest.fixture
def keyed_client(keyed: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(build_services(keyed)), client=(CLIENT_IP, 50000)) as client:
        yield client


def post(client: TestClient, path: str, key: str | None) -> httpx.Response:
    response: httpx.Response = client.post(
        path,
        files={"source_image": ("photo.jpg", images.solid_jpeg(200, 150), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"}), "crop_box": json.dumps(BOX)},
        headers={"X-API-Key": key} if key is not None else {},
    )
    return response


@pytest.mark.parametrize("path", ["/images/manual-crop", "/images/smart-crop"])
@pytest.mark.parametrize("key", [None, "", "k-first-012345678", "k-first-0123456789x", "K-FIRST-0123456789"])
def test_a_post_without_a_known_key_is_refused(keyed_client: TestClient, path: str, key: str | None) -> None:
    assert_error(post(keyed_client, path, key), 401, "unauthorized")


def test_the_refusal_comes_before_the_body_is_read_or_a_slot_is_spent(
    keyed_client: TestClient, keyed: Settings, dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the body was read")

    monkeypatch.setattr("image_processor.api.routes.images.read_upload", never)
    for _ in range(3):
        assert_error(post(keyed_client, "/images/smart-crop", "wrong"), 401, "unauthorized")
    item = dynamodb.get_item(TableName=keyed.rate_limit_table, Key={"ip_address": {"S": CLIENT_IP}})
    assert "Item" not in item


@pytest.mark.parametrize("key", ["k-first-0123456789", "k-second-9876543210"])
def test_each_configured_key_is_accepted(keyed_client: TestClient, key: str) -> None:
    assert post(keyed_client, "/images/manual-crop", key).status_code == 200
    assert post(keyed_client, "/images/smart-crop", key).status_code == 202


def test_reads_stay_public(keyed_client: TestClient) -> None:
    created = post(keyed_client, "/images/manual-crop", "k-first-0123456789").json()
    assert keyed_client.get(created["retrieval_url"]).status_code == 200
    assert keyed_client.get("/health").status_code == 200
    assert keyed_client.get(f"/jobs/{created['image_id']}").status_code == 404


def test_without_keys_the_api_is_open(client: TestClient) -> None:
    assert manual_crop(client, images.solid_jpeg(200, 150)).status_code == 200


def test_keys_can_come_from_a_mounted_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "api_keys"
    secret.write_text("from-file-1\nfrom-file-2, from-file-3\n")
    monkeypatch.setenv("API_KEYS", "from-env")
    monkeypatch.setenv("API_KEYS_FILE", str(secret))
    keys = [key.get_secret_value() for key in Settings().api_keys]
    assert keys == ["from-env", "from-file-1", "from-file-2", "from-file-3"]
    assert "from-file" not in repr(Settings())


def test_an_unreadable_key_file_stops_start_up_with_its_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match=r"API_KEYS_FILE .*missing cannot be read"):
        Settings()


def test_the_openapi_schema_declares_the_key_header(keyed_client: TestClient) -> None:
    schema = keyed_client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "Needed on every POST when the service has API keys (API_KEYS); not otherwise.",
    }
