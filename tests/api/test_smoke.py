import json
import time

from fastapi.testclient import TestClient

from tests.support import images


def test_manual_crop_round_trip(client: TestClient) -> None:
    response = client.post(
        "/images/manual-crop",
        files={"source_image": ("a.jpg", images.exif_rotated_jpeg(), "image/jpeg")},
        data={
            "product_info": json.dumps({"product_id": "ABC-123"}),
            "crop_box": json.dumps({"x": 0, "y": 0, "width": 100, "height": 100}),
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    got = client.get(body["retrieval_url"])
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/jpeg"
    assert images.close_to(images.pixel(got.content, 50, 50), images.BLUE)


def test_smart_crop_round_trip(client: TestClient) -> None:
    response = client.post(
        "/images/smart-crop",
        files={"source_image": ("a.jpg", images.solid_jpeg(), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"})},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    deadline = time.monotonic() + 60  # generous: the job runs in a worker thread of a possibly loaded machine
    while (status := client.get(body["status_url"]).json())["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status["status"] == "succeeded", status
    assert client.get(body["retrieval_url"]).status_code == 200
