"""GET /health: a liveness check that needs neither storage nor AWS; GET /ready: one that proves both answer."""

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tools.processes import free_port


def test_health_says_ok(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_health_refuses_post_with_a_405_json(client: TestClient) -> None:
    response = client.post("/health")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_health_answers_when_dynamodb_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        processed_images_dir=tmp_path / "processed_images",
        aws_endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_timeout_seconds=0.5,
    )
    with TestClient(create_app(build_services(settings))) as client:
        assert client.get("/health").json() == {"status": "ok"}


def test_ready_when_the_tables_and_storage_answer(client: TestClient) -> None:
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_not_ready_while_dynamodb_is_unreachable(tmp_path: Path) -> None:
    settings = Settings(
        processed_images_dir=tmp_path / "processed_images",
        aws_endpoint_url=f"http://127.0.0.1:{free_port()}",
        aws_timeout_seconds=0.5,
    )
    with TestClient(create_app(build_services(settings))) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "service_unavailable"
    assert "dynamodb:jobs" in error["message"] and "dynamodb:rate_limit" in error["message"]
    assert "storage" not in error["message"]


def test_not_ready_when_a_table_is_missing(settings: Settings) -> None:
    missing = settings.model_copy(update={"jobs_table": "no-such-table"})
    with TestClient(create_app(build_services(missing))) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    assert "dynamodb:jobs" in response.json()["error"]["message"]
    assert "rate_limit" not in response.json()["error"]["message"]


def test_not_ready_when_the_image_folder_is_gone(settings: Settings) -> None:
    with TestClient(create_app(build_services(settings))) as client:
        shutil.rmtree(settings.processed_images_dir)
        response = client.get("/ready")
        assert client.get("/health").status_code == 200
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "Not ready: storage did not answer."
