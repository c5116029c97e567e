"""Optional API keys (API_KEYS, API_KEYS_FILE): with keys set, every POST needs one; reads stay public."""

import hashlib
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

FIRST = "k-first-0123456789abcdefgh"
FILE_KEY = "from-file-0123456789abcdef"
ENV_KEY = "from-env-0123456789abcdefgh"


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"api_keys": [SecretStr("k-first-0123456789abcdefgh"), SecretStr("k-second-9876543210abcdefgh")]}
    )


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
@pytest.mark.parametrize(
    "key", [None, "", "k-first-0123456789abcdefg", "k-first-0123456789abcdefghx", "K-FIRST-0123456789"]
)
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


@pytest.mark.parametrize("key", ["k-first-0123456789abcdefgh", "k-second-9876543210abcdefgh"])
def test_each_configured_key_is_accepted(keyed_client: TestClient, key: str) -> None:
    assert post(keyed_client, "/images/manual-crop", key).status_code == 200
    assert post(keyed_client, "/images/smart-crop", key).status_code == 202


def test_reads_stay_public(keyed_client: TestClient) -> None:
    created = post(keyed_client, "/images/manual-crop", "k-first-0123456789abcdefgh").json()
    assert keyed_client.get(created["retrieval_url"]).status_code == 200
    assert keyed_client.get("/health").status_code == 200
    assert keyed_client.get(f"/jobs/{created['image_id']}").status_code == 404


def test_without_keys_the_api_is_open(client: TestClient) -> None:
    assert manual_crop(client, images.solid_jpeg(200, 150)).status_code == 200


def test_keys_can_come_from_a_mounted_secret_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "api_keys"
    secret.write_text(f"{FILE_KEY}-1\n{FILE_KEY}-2, {FILE_KEY}-3\n")
    monkeypatch.setenv("API_KEYS", ENV_KEY)
    monkeypatch.setenv("API_KEYS_FILE", str(secret))
    keys = [key.get_secret_value() for key in Settings().api_keys]
    assert keys == [ENV_KEY, f"{FILE_KEY}-1", f"{FILE_KEY}-2", f"{FILE_KEY}-3"]
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


@pytest.mark.parametrize("value", [" , ", ",", " ,\n, "])
def test_a_key_list_set_but_empty_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("API_KEYS", value)
    with pytest.raises(ValueError, match="API_KEYS is set but holds no key"):
        Settings()


def test_a_blank_key_file_stops_start_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "api_keys"
    secret.write_text(" \n , \n")
    monkeypatch.setenv("API_KEYS_FILE", str(secret))
    with pytest.raises(ValueError, match=r"API_KEYS_FILE .* holds no key"):
        Settings()


@pytest.mark.parametrize("source", ["env", "file"])
def test_keys_under_24_characters_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    if source == "env":
        monkeypatch.setenv("API_KEYS", f"{ENV_KEY},short-key")
    else:
        secret = tmp_path / "api_keys"
        secret.write_text(f"{FILE_KEY}\n{'x' * 23}\n")
        monkeypatch.setenv("API_KEYS_FILE", str(secret))
    with pytest.raises(ValueError, match="1 API key\\(s\\) are shorter than 24 characters"):
        Settings()


def test_the_key_identity_is_a_keyed_hash_not_a_plain_digest(keyed: Settings, dynamodb: Any) -> None:
    key = "k-first-0123456789abcdefgh"
    limited = keyed.model_copy(update={"manual_crop_rate_limit_requests": 5})
    with TestClient(create_app(build_services(limited)), client=(CLIENT_IP, 50000)) as client:
        assert post(client, "/images/manual-crop", key).status_code == 200
    stored = {item["ip_address"]["S"] for item in dynamodb.scan(TableName=keyed.rate_limit_table)["Items"]}
    plain = hashlib.sha256(key.encode()).hexdigest()[:32]
    assert len(stored) == 1
    assert plain not in next(iter(stored))
    assert next(iter(stored)).startswith("manual-crop:key:")


def test_the_key_identity_follows_the_configured_secret(keyed: Settings) -> None:
    key = "k-first-0123456789abcdefgh"
    one = _identity(keyed.model_copy(update={"client_identity_secret": SecretStr("a" * 32)}), key)
    other = _identity(keyed.model_copy(update={"client_identity_secret": SecretStr("b" * 32)}), key)
    assert one != other
    assert one == _identity(keyed.model_copy(update={"client_identity_secret": SecretStr("a" * 32)}), key)


def _identity(settings: Settings, key: str) -> str:
    from image_processor.api.deps import _key_identity

    return _key_identity(key, settings)
