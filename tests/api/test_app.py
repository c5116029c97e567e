"""The app factory: no side effects at import, restarts on an existing volume, a configurable storage root."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.support import images
from tests.support.uploads import manual_crop
from tools.processes import REPO_ROOT

_IMPORT_EVERYTHING = """
import importlib, pkgutil, sys
import image_processor
names = [m.name for m in pkgutil.walk_packages(image_processor.__path__, "image_processor.")]
names += ["functions.api.app", "functions.smart_crop_worker.app", "local_server"]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


def test_importing_every_module_creates_no_directories(tmp_path: Path) -> None:
    """Audit 1: the prototype ran os.makedirs("/app/processed_images") at import time."""
    storage_root = tmp_path / "processed_images"
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    app_dir_existed = Path("/app/processed_images").exists()
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING],
        cwd=workdir,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO_ROOT),
            "PROCESSED_IMAGES_DIR": str(storage_root),
            # Nothing answers here: an import that opened a connection would fail or hang.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_DEFAULT_REGION": "us-east-1",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) > 10
    assert not storage_root.exists()
    assert list(workdir.iterdir()) == []
    assert Path("/app/processed_images").exists() == app_dir_existed


def test_building_the_app_touches_no_file_system(settings: Settings) -> None:
    """Audit 1: folders are created when the app starts, not when it is built."""
    create_app(build_services(settings))
    assert not settings.processed_images_dir.exists()


def test_the_app_starts_twice_on_an_existing_storage_root(settings: Settings) -> None:
    """Audit 1: the second start on a persisted volume crashed the prototype (makedirs without exist_ok)."""
    with TestClient(create_app(build_services(settings))) as first:
        url = manual_crop(first, images.solid_jpeg()).json()["retrieval_url"]
    assert settings.processed_images_dir.is_dir()
    with (
        TestClient(create_app(build_services(settings))) as second,
        TestClient(create_app(build_services(settings))) as third,
    ):
        assert second.get(url).status_code == 200
        assert third.get("/health").status_code == 200


def test_starting_the_app_removes_what_an_interrupted_write_left_and_nothing_else(settings: Settings) -> None:
    """A process killed mid-write leaves a temporary dot file; the next start removes it (if old enough
    not to be another live process's write in progress) and keeps everything else."""
    product = settings.processed_images_dir / "ABC-123"
    product.mkdir(parents=True)
    abandoned, in_progress, kept = product / ".tmp1a2b.tmp", product / ".tmp3c4d.tmp", product / "kept.jpg"
    for path in (abandoned, in_progress, kept):
        path.write_bytes(images.solid_jpeg())
    an_hour_ago = time.time() - 3600
    os.utime(abandoned, (an_hour_ago, an_hour_ago))

    with TestClient(create_app(build_services(settings))) as client:
        assert client.get("/images/ABC-123/kept.jpg").status_code == 200

    assert not abandoned.exists()
    assert in_progress.exists() and kept.exists()


def test_the_storage_root_comes_from_processed_images_dir(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit 1: the root was hard-coded to /app; now PROCESSED_IMAGES_DIR sets it everywhere."""
    root = tmp_path / "somewhere" / "else"
    monkeypatch.setenv("PROCESSED_IMAGES_DIR", str(root))
    configured = Settings(**settings.model_dump(exclude={"processed_images_dir"}))
    assert configured.processed_images_dir == root
    with TestClient(create_app(build_services(configured))) as client:
        body = manual_crop(client, images.solid_jpeg()).json()
    assert (root / "ABC-123" / f"{body['image_id']}.jpg").is_file()


def test_the_default_storage_root_is_the_container_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROCESSED_IMAGES_DIR", raising=False)
    assert Settings().processed_images_dir == Path("/app/processed_images")


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit 2: paths, limits and URLs were literals in the prototype."""
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1234")
    monkeypatch.setenv("MAX_IMAGE_PIXELS", "5678")
    monkeypatch.setenv("JPEG_QUALITY", "70")
    monkeypatch.setenv("IMAGE_CONCURRENCY", "3")
    configured = Settings()
    assert (configured.max_upload_bytes, configured.max_image_pixels) == (1234, 5678)
    assert (configured.jpeg_quality, configured.image_concurrency) == (70, 3)


def test_the_openapi_schema_is_valid_json_with_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]) >= {"/images/manual-crop", "/images/smart-crop", "/images/{image_path}", "/health"}
    json.dumps(schema)
