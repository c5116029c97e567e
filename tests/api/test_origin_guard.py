"""Cross-site uploads (issue 14, item 4): a page of a foreign origin cannot make its visitors' browsers
POST here; the service's own page and the origins in CORS_ALLOWED_ORIGINS can, with CORS answers."""

import contextlib
import json
from collections.abc import Iterator
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.support import images
from tests.support.uploads import BOX, assert_error

APP_ORIGIN = "https://studio.example.com"


@contextlib.contextmanager
def api(settings: Settings, *, base_url: str = "http://testserver", peer: str = CLIENT_IP) -> Iterator[TestClient]:
    with TestClient(create_app(build_services(settings)), base_url=base_url, client=(peer, 50000)) as client:
        yield client


def smart_crop(client: TestClient, headers: dict[str, str]) -> httpx.Response:
    response: httpx.Response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"})},
        headers=headers,
    )
    return response


def manual_crop(client: TestClient, headers: dict[str, str]) -> httpx.Response:
    response: httpx.Response = client.post(
        "/images/manual-crop",
        files={"source_image": ("photo.jpg", images.solid_jpeg(200, 150), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"}), "crop_box": json.dumps(BOX)},
        headers=headers,
    )
    return response


@pytest.fixture
def allowing(settings: Settings) -> Settings:
    return settings.model_copy(update={"cors_allowed_origins": [APP_ORIGIN], "manual_crop_rate_limit_requests": 5})


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://testserver.evil.example", "not a url"])
def test_a_foreign_page_cannot_upload_and_spends_no_quota(
    settings: Settings, dynamodb: Any, monkeypatch: pytest.MonkeyPatch, origin: str
) -> None:
    async def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the body was read")

    monkeypatch.setattr("image_processor.api.routes.images.read_upload", never)
    limited = settings.model_copy(update={"manual_crop_rate_limit_requests": 5})
    with api(limited) as client:
        for _ in range(3):
            assert_error(smart_crop(client, {"Origin": origin}), 403, "origin_not_allowed")
            assert_error(manual_crop(client, {"Origin": origin}), 403, "origin_not_allowed")
    for key in (CLIENT_IP, f"manual-crop:ip:{CLIENT_IP}"):
        stored = dynamodb.get_item(TableName=settings.rate_limit_table, Key={"ip_address": {"S": key}})
        assert "Item" not in stored, key


def test_the_services_own_page_may_post(settings: Settings) -> None:
    with api(settings) as client:
        assert smart_crop(client, {"Origin": "http://testserver"}).status_code == 202
        assert manual_crop(client, {"Origin": "http://TestServer:80"}).status_code == 200
    with api(settings, base_url="http://127.0.0.1:8000") as client:
        assert manual_crop(client, {"Origin": "http://127.0.0.1:8000"}).status_code == 200
        assert_error(manual_crop(client, {"Origin": "http://127.0.0.1:8001"}), 403, "origin_not_allowed")
        assert_error(manual_crop(client, {"Origin": "https://127.0.0.1:8000"}), 403, "origin_not_allowed")


def test_tls_ended_by_a_trusted_proxy_keeps_the_page_same_origin(settings: Settings) -> None:
    hosted = settings.model_copy(update={"allowed_hosts": ["images.example.com"]})
    proxied = hosted.model_copy(update={"trusted_proxies": [ip_network("127.0.0.1/32")]})
    page = {"Origin": "https://images.example.com", "Host": "images.example.com", "X-Forwarded-Proto": "https"}
    with api(proxied, peer="127.0.0.1") as client:
        assert manual_crop(client, page).status_code == 200
        ticket = client.post("/uploads", headers=page).json()
        assert ticket["url"].startswith("https://images.example.com/uploads/")
    with api(hosted, peer="198.51.100.9") as client:  # an untrusted peer cannot claim TLS it did not use
        assert_error(manual_crop(client, page), 403, "origin_not_allowed")


def test_requests_without_an_origin_are_not_browsers_and_pass(client: TestClient) -> None:
    assert manual_crop(client, {}).status_code == 200


def test_reads_from_any_origin_are_answered(client: TestClient) -> None:
    assert client.get("/health", headers={"Origin": "https://evil.example"}).status_code == 200


def test_an_allowed_origin_gets_cors_answers(allowing: Settings) -> None:
    with api(allowing) as client:
        accepted = smart_crop(client, {"Origin": APP_ORIGIN})
        refused = smart_crop(client, {"Origin": "https://evil.example"})
    assert accepted.status_code == 202
    assert accepted.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    exposed = {name.strip().lower() for name in accepted.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"location", "retry-after", "ratelimit-remaining", "x-request-id"} <= exposed
    assert_error(refused, 403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_a_preflight_from_an_allowed_origin_is_answered(allowing: Settings) -> None:
    request_headers = {
        "Origin": APP_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "X-API-Key, Idempotency-Key",
    }
    with api(allowing) as client:
        allowed = client.options("/images/manual-crop", headers=request_headers)
        foreign = client.options("/images/manual-crop", headers={**request_headers, "Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == APP_ORIGIN
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    allowed_headers = allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "x-api-key" in allowed_headers and "idempotency-key" in allowed_headers
    assert foreign.status_code == 400
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_errors_reach_an_allowed_page_readably(allowing: Settings) -> None:
    limited = allowing.model_copy(update={"manual_crop_rate_limit_requests": 1})
    with api(limited) as client:
        assert manual_crop(client, {"Origin": APP_ORIGIN}).status_code == 200
        refused = manual_crop(client, {"Origin": APP_ORIGIN})
    assert_error(refused, 429, "rate_limited")
    assert refused.headers["Access-Control-Allow-Origin"] == APP_ORIGIN


@pytest.mark.parametrize("value", ["*", "https://app.example.com/path", "app.example.com"])
def test_an_allow_list_entry_that_is_not_an_origin_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", value)
    with pytest.raises(ValueError, match="is not an origin"):
        Settings()


def test_a_request_for_another_host_is_refused(settings: Settings) -> None:
    """DNS rebinding: a page on evil.example, resolving to the service, posts to its own origin."""
    page = {"Origin": "http://evil.example", "Host": "evil.example"}
    with api(settings) as client:
        refused = client.post("/uploads", headers=page)
        read = client.get("/health", headers={"Host": "evil.example"})
    assert_error(refused, 400, "invalid_host")
    assert_error(read, 400, "invalid_host")


def test_allowed_hosts_default_to_the_public_origin_and_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLOWED_HOSTS", raising=False)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://Images.Example.com/")
    configured = Settings()
    assert configured.public_base_url == "https://images.example.com"
    assert configured.allowed_hosts == ["images.example.com", "localhost", "127.0.0.1", "[::1]"]


def test_with_a_public_base_url_the_origin_check_ignores_host(settings: Settings) -> None:
    public = settings.model_copy(
        update={"public_base_url": "https://images.example.com", "allowed_hosts": ["testserver"]}
    )
    with api(public) as client:
        assert_error(manual_crop(client, {"Origin": "http://testserver"}), 403, "origin_not_allowed")
        assert manual_crop(client, {"Origin": "https://images.example.com"}).status_code == 200
        ticket = client.post("/uploads").json()
    assert ticket["url"].startswith("https://images.example.com/uploads/")


def test_a_forwarded_proto_from_an_untrusted_peer_is_ignored_in_links(settings: Settings) -> None:
    with api(settings, peer="198.51.100.9") as client:
        ticket = client.post("/uploads", headers={"X-Forwarded-Proto": "https"}).json()
    assert ticket["url"].startswith("http://testserver/uploads/")
