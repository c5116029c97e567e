"""GET /jobs/{image_id}: where a smart crop stands, and no job pending forever."""

from fastapi.testclient import TestClient

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.ids import new_image_id
from image_processor.settings import Settings
from tests.support import images
from tests.support.services import ManualClock, RecordingDispatcher
from tests.support.uploads import accepted_smart_crop


def test_read_job_not_found(client: TestClient) -> None:
    response = client.get(f"/jobs/{new_image_id()}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_read_job_with_a_malformed_id_is_not_found(client: TestClient) -> None:
    for image_id in ("nope", "../etc/passwd", "A" * 32, "0" * 33):
        assert client.get(f"/jobs/{image_id}").status_code == 404


def test_read_job_pending(settings: Settings) -> None:
    services = build_services(settings, dispatcher=RecordingDispatcher())
    with TestClient(create_app(services), client=("203.0.113.10", 50000)) as client:
        accepted = accepted_smart_crop(client, images.solid_jpeg(64, 48))
        view = client.get(accepted["status_url"]).json()
    assert view == {
        "image_id": accepted["image_id"],
        "status": "pending",
        "retrieval_url": accepted["retrieval_url"],
        "renditions": {
            preset: f"/images/ABC-123/{accepted['image_id']}/{preset}" for preset in ("thumbnail", "listing", "zoom")
        },
        "error": None,
        "crop_box": None,
        "object_found": None,
        "checks": None,
        "webhook": None,
    }


def test_a_job_state_is_never_cached(settings: Settings) -> None:
    """Issue 14: a cached `pending` would hide the job's end from a client polling through a cache."""
    services = build_services(settings, dispatcher=RecordingDispatcher())
    with TestClient(create_app(services), client=("203.0.113.10", 50000)) as client:
        response = client.get(accepted_smart_crop(client, images.solid_jpeg(64, 48))["status_url"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


def test_a_job_past_its_deadline_reports_failed(settings: Settings) -> None:
    """Audit 17: no job stays pending forever."""
    clock = ManualClock()
    services = build_services(settings, clock=clock, dispatcher=RecordingDispatcher())
    with TestClient(create_app(services), client=("203.0.113.10", 50000)) as client:
        accepted = accepted_smart_crop(client, images.solid_jpeg(64, 48))
        clock.advance(settings.job_deadline_seconds)
        assert client.get(accepted["status_url"]).json()["status"] == "pending"
        clock.advance(1)
        view = client.get(accepted["status_url"]).json()
        clock.advance(3600)
        later = client.get(accepted["status_url"]).json()
    assert view["status"] == "failed"
    assert view["error"] == "timed out before it finished"
    assert later == view


def test_a_job_failed_at_its_deadline_leaves_no_image_or_rendition_of_a_dead_worker(settings: Settings) -> None:
    """A worker that stored the image and a rendition, then died before recording success: the poll that
    fails the job removes both, so nothing of a failed job is ever served."""
    clock = ManualClock()
    services = build_services(settings, clock=clock, dispatcher=RecordingDispatcher())
    with TestClient(create_app(services), client=("203.0.113.10", 50000)) as client:
        accepted = accepted_smart_crop(client, images.solid_jpeg(64, 48))
        result = accepted["retrieval_url"].removeprefix("/images/")
        rendition = result.removesuffix(".jpg") + "/thumbnail.webp"
        services.storage.results.save(result, images.solid_jpeg(32, 24))
        services.storage.results.create(rendition, b"webp", content_type="image/webp")
        assert client.get(f"/images/{rendition}").status_code == 200
        clock.advance(settings.job_deadline_seconds + 1)

        assert client.get(accepted["status_url"]).json()["status"] == "failed"
        assert client.get(accepted["retrieval_url"]).status_code == 404
        assert client.get(f"/images/{rendition}").status_code == 404
