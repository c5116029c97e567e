"""GET / (the crop studio) and the static files it loads, over HTTP; the browser tests are in tests/browser."""

import os
import re
import tomllib
from pathlib import Path, PurePosixPath

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette

from image_processor.api import create_app
from image_processor.api.routes.studio import STATIC_DIR, RevalidatedStaticFiles
from image_processor.assembly import build_services
from image_processor.services import Services
from image_processor.settings import Settings
from tests.support.live import raw_request, serving
from tools.processes import REPO_ROOT

_ASSET_RE = re.compile(r'(?:src|href)="([^"]+)"')


def test_the_studio_page_is_served_at_the_root(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert "<title>Crop studio" in response.text
    assert client.head("/").status_code == 200


def test_every_asset_the_page_loads_is_relative_and_served(client: TestClient) -> None:
    assets = [url for url in _ASSET_RE.findall(client.get("/").text) if url not in {"#", "data:,"}]
    assert {"static/studio/studio.css", "static/studio/studio.js"} <= set(assets)
    for url in assets:
        # Relative, so the page also works under an API Gateway stage path such as /v1/.
        assert not url.startswith(("/", "http:", "https:")), url
        response = client.get("/" + url)
        assert response.status_code == 200, url
    assert (
        client.get("/static/studio/studio.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )


@pytest.mark.parametrize("path", ["/static/../settings.py", "/static/studio/../../app.py", "/static/%2e%2e/app.py"])
def test_nothing_outside_the_static_folder_is_served(services: Services, path: str) -> None:
    with serving(create_app(services)) as base_url:  # a real socket: the path is sent as written
        response = raw_request(base_url, "GET", path)
    assert response.status == 404
    assert b"import" not in response.body


def test_the_static_files_are_package_data_so_wheels_and_images_carry_them() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["image_processor.api"]
    package_dir = STATIC_DIR.parent
    files = [path.relative_to(package_dir).as_posix() for path in STATIC_DIR.rglob("*") if path.is_file()]
    assert files
    unmatched = [name for name in files if not any(PurePosixPath(name).match(pattern) for pattern in patterns)]
    assert unmatched == []


def test_the_static_folder_lies_inside_the_library_that_lambda_packages() -> None:
    library = REPO_ROOT / "layers" / "common" / "python" / "image_processor"
    assert Path(STATIC_DIR).is_relative_to(library)
    assert (STATIC_DIR / "studio" / "index.html").is_file()


def test_static_etags_follow_the_content_not_the_zips_fixed_timestamps(tmp_path: Path) -> None:
    script = tmp_path / "studio.js"
    fixed_time = 315532800  # 1980-01-01, the time every file in a Lambda zip has
    app = Starlette()
    app.mount("/static", RevalidatedStaticFiles(directory=tmp_path))
    with TestClient(app) as client:
        script.write_text("const a = 1;")
        os.utime(script, (fixed_time, fixed_time))
        first = client.get("/static/studio.js")
        script.write_text("const a = 2;")  # same size, same time
        os.utime(script, (fixed_time, fixed_time))
        second = client.get("/static/studio.js")

        assert first.headers["etag"] != second.headers["etag"]
        assert second.headers["cache-control"] == "no-cache"
        assert "last-modified" not in second.headers
        assert client.get("/static/studio.js", headers={"If-None-Match": first.headers["etag"]}).status_code == 200
        assert client.get("/static/studio.js", headers={"If-None-Match": second.headers["etag"]}).status_code == 304


def test_the_page_is_revalidated_by_its_etag(client: TestClient) -> None:
    etag = client.get("/").headers["etag"]
    assert client.get("/", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/", headers={"If-None-Match": '"another"'}).status_code == 200


def test_with_a_cdn_the_studio_may_show_images_from_it(settings: Settings) -> None:
    """Result and rendition links point at PUBLIC_IMAGE_BASE_URL: the page's CSP must let it load them."""
    cdn = settings.model_copy(update={"public_image_base_url": "https://d111111abcdef8.cloudfront.net"})
    with TestClient(create_app(build_services(cdn))) as client:
        policy = client.get("/").headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert "https://d111111abcdef8.cloudfront.net" in directives["img-src"].split()
    with TestClient(create_app(build_services(settings))) as client:
        assert "cloudfront" not in client.get("/").headers["content-security-policy"]
