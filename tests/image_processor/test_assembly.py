"""Which AI the service calls, and how: never itself, only what AI_SERVICE_URL names."""

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pydantic import ValidationError

from image_processor.api import create_app
from image_processor.assembly import build_locator, build_services
from image_processor.jobs.locator import MockObjectLocator
from image_processor.jobs.locator_http import HttpObjectLocator
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.support import scenes

AI_BOX = {"x": 380, "y": 120, "width": 160, "height": 240}


class AiStub(BaseHTTPRequestHandler):
    """A stand-in AI service on a loopback port: records what it is sent and answers one box."""

    received: ClassVar[list[tuple[str, str, int]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], len(body)))
        payload = json.dumps(AI_BOX).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def ai_service() -> Iterator[str]:
    AiStub.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), AiStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/locate"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_default_ai_runs_in_process() -> None:
    """Audit 16: the prototype called a mock endpoint of its own at a hard-coded 127.0.0.1:8000."""
    assert isinstance(build_locator(Settings(mock_ai_latency_seconds=0)), MockObjectLocator)


def test_the_http_ai_is_only_what_ai_service_url_names() -> None:
    locator = build_locator(Settings(ai_backend="http", ai_service_url="https://ai.internal:9000/locate"))
    assert isinstance(locator, HttpObjectLocator)


def test_ai_service_url_alone_selects_the_http_ai(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AI_BACKEND", raising=False)
    monkeypatch.setenv("AI_SERVICE_URL", "https://ai.internal/locate")
    settings = Settings()
    assert settings.ai_backend == "http"
    assert isinstance(build_locator(settings), HttpObjectLocator)


def test_ai_service_url_with_the_mock_named_is_refused_with_what_to_set() -> None:
    with pytest.raises(ValidationError, match=r"unset AI_BACKEND \(or set it to http\) to use the URL"):
        Settings(ai_backend="mock", ai_service_url="https://ai.internal/locate")


@pytest.mark.parametrize(
    "url", ["http://ai.internal/locate", "http://10.0.0.5/locate", "http://127.0.0.1.example.com/x"]
)
def test_the_ai_is_reached_over_https_unless_on_loopback(url: str) -> None:
    with pytest.raises(ValidationError, match="must be https"):
        Settings(ai_service_url=url)
    for loopback in ("http://127.0.0.1:9000/locate", "http://localhost/locate", "http://[::1]:9000/locate"):
        assert Settings(ai_service_url=loopback).ai_backend == "http"


def test_an_http_ai_without_a_url_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="AI_BACKEND=http needs AI_SERVICE_URL"):
        Settings(ai_backend="http")


def test_smart_crop_through_an_external_ai_on_any_host_and_port(settings: Settings, ai_service: str) -> None:
    """Audit 16: the box comes from the configured service, which receives the JPEG; nothing else is called."""
    external = settings.model_copy(update={"ai_backend": "http", "ai_service_url": ai_service})
    scene = scenes.product_on_plain_background()
    with TestClient(create_app(build_services(external)), client=(CLIENT_IP, 50000)) as client:
        accepted = client.post(
            "/images/smart-crop",
            files={"source_image": ("photo.jpg", scene.jpeg, "image/jpeg")},
            data={"product_info": json.dumps({"product_id": "ABC-123"})},
        )
        assert accepted.status_code == 202, accepted.text
        status_url = accepted.json()["status_url"]
        for _ in range(400):
            job = client.get(status_url).json()
            if job["status"] in ("succeeded", "failed"):
                break
            threading.Event().wait(0.025)
        assert job["status"] == "succeeded", job
        crop = client.get(accepted.json()["retrieval_url"])

    assert crop.status_code == 200
    assert scenes.object_share(crop.content) > 0.95
    assert [(path, content_type) for path, content_type, _ in AiStub.received] == [("/v1/locate", "image/jpeg")]
    assert AiStub.received[0][2] > 0


def test_the_http_ai_ignores_proxy_variables(monkeypatch: pytest.MonkeyPatch, ai_service: str) -> None:
    """trust_env=False: a proxy in the environment never sees the image (here it would refuse the connection)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    locator = build_locator(Settings(ai_service_url=ai_service, ai_max_attempts=1))
    assert locator.locate(Image.new("RGB", (40, 30))).object_found
