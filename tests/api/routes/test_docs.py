"""/docs serves Swagger UI from the service's own vendored files: no script, style or icon from another host."""

import hashlib
import re

from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.api.routes.docs import SWAGGER_UI_VERSION
from image_processor.api.routes.studio import STATIC_DIR
from image_processor.services import Services

_URL_RE = re.compile(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""")


def test_docs_reference_no_external_host(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    html = response.text
    assert "cdn" not in html.lower()
    assert not re.search(r"(?:https?:)?//", html), "the docs page names another host"
    urls = _URL_RE.findall(html)
    assert any("swagger-ui-bundle.js" in url for url in urls)
    assert any("swagger-ui.css" in url for url in urls)
    for url in urls:
        assert url.startswith("/"), url
        assert client.get(url).status_code == 200, url


def test_docs_urls_carry_the_root_path(services: Services) -> None:
    with TestClient(create_app(services), root_path="/v1") as client:
        html = client.get("/docs").text
    urls = _URL_RE.findall(html)
    assert "/v1/openapi.json" in urls
    assert all(url.startswith("/v1/") for url in urls), urls


def test_swagger_ui_does_not_call_the_public_validator(client: TestClient) -> None:
    assert '"validatorUrl": null' in client.get("/docs").text


def test_redoc_which_would_load_from_a_cdn_is_off(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404


def test_the_vendored_files_are_the_pinned_release_with_its_licence() -> None:
    vendored = STATIC_DIR / "swagger-ui"
    notes = (vendored / "README.md").read_text()
    assert f"**{SWAGGER_UI_VERSION}**" in notes
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"):
        digest = hashlib.sha256((vendored / name).read_bytes()).hexdigest()
        assert f"| {name} | {digest} |" in notes, name
    assert "Apache License" in (vendored / "LICENSE").read_text()
