"""GET /images/{product_id}/{image_id}/checks, and `profile` in crop requests (eager checks)."""

import json
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from pydantic import SecretStr

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.conftest import CLIENT_IP
from tests.image_processor.test_checks import product_photo
from tests.support.uploads import assert_error

PHOTO = product_photo((1200, 1000), (50, 100, 1149, 899))
WHOLE = {"x": 0, "y": 0, "width": 1200, "height": 1000}


def manual_crop(client: TestClient, box: dict[str, int], **fields: str) -> Any:
    return client.post(
        "/images/manual-crop",
        files={"source_image": ("photo.jpg", PHOTO, "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"}), "crop_box": json.dumps(box), **fields},
    )


def by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in body["checks"]}


def test_a_stored_image_is_checked_against_the_marketplace_profile(client: TestClient) -> None:
    created = manual_crop(client, WHOLE).json()
    assert "checks" not in created  # none asked for: the contract body

    response = client.get(f"/images/ABC-123/{created['image_id']}/checks", params={"profile": "marketplace"})

    assert response.status_code == 200
    body = response.json()
    assert (body["profile"], body["passed"]) == ("marketplace", True)
    checks = by_name(body)
    assert checks["white_background"] == {
        "name": "white_background",
        "passed": True,
        "measured": 100.0,
        "required": 95.0,
    }
    assert checks["min_long_side"] == {"name": "min_long_side", "passed": True, "measured": 1200, "required": 1000}
    assert checks["format"]["measured"] == "JPEG sRGB"
    assert 90 <= checks["product_fill"]["measured"] <= 93


def test_a_tight_crop_fails_the_rules_it_breaks(client: TestClient) -> None:
    # 600 x 500 from the middle of the product: red to every edge, and short.
    created = manual_crop(client, {"x": 300, "y": 250, "width": 600, "height": 500}).json()

    body = client.get(f"/images/ABC-123/{created['image_id']}/checks").json()

    checks = by_name(body)
    assert body["passed"] is False
    assert (checks["white_background"]["passed"], checks["white_background"]["measured"]) == (False, 0.0)
    assert (checks["min_long_side"]["passed"], checks["min_long_side"]["measured"]) == (False, 600)
    assert checks["format"]["passed"] is True


def test_a_manual_crop_with_a_profile_answers_with_its_checks(client: TestClient) -> None:
    response = manual_crop(client, WHOLE, profile="marketplace")
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["passed"] is True


def test_an_unknown_profile_is_a_422_before_anything_is_stored(client: TestClient, settings: Settings) -> None:
    assert_error(manual_crop(client, WHOLE, profile="nope"), 422, "invalid_request", "profile")
    assert not list((settings.processed_images_dir / "ABC-123").glob("*.jpg"))
    created = manual_crop(client, WHOLE).json()
    assert_error(client.get(f"/images/ABC-123/{created['image_id']}/checks?profile=nope"), 422, field="profile")


def test_checks_of_a_missing_image_or_rendition_are_404(client: TestClient) -> None:
    assert_error(client.get(f"/images/ABC-123/{'0' * 32}/checks"), 404, "not_found")
    created = manual_crop(client, WHOLE).json()
    assert_error(client.get(f"/images/ABC-123/{created['image_id']}/checks?rendition=listing"), 404, field="rendition")


def test_a_rendition_recorded_in_the_catalog_is_checked(client: TestClient) -> None:
    created = manual_crop(client, WHOLE).json()
    services = client.app.state.services  # type: ignore[attr-defined]
    key = f"ABC-123/{created['image_id']}/listing.jpg"
    services.storage.results.save(key, product_photo((500, 400), (10, 10, 489, 389)))
    services.product_images.catalog.record_rendition("ABC-123", created["image_id"], "listing", key)

    body = client.get(f"/images/ABC-123/{created['image_id']}/checks?rendition=listing").json()

    assert by_name(body)["min_long_side"]["measured"] == 500


def test_profiles_from_the_file_setting(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "profiles.json"
    path.write_text(json.dumps({"small": {"min_long_side": 500}}))
    configured = settings.model_copy(update={"check_profiles_file": path})
    with TestClient(create_app(build_services(configured)), client=(CLIENT_IP, 1)) as client:
        created = manual_crop(client, {"x": 0, "y": 0, "width": 600, "height": 500}, profile="small").json()
    assert created["checks"]["profile"] == "small"
    assert by_name(created["checks"])["min_long_side"] == {
        "name": "min_long_side",
        "passed": True,
        "measured": 600,
        "required": 500,
    }


def test_a_smart_crop_with_a_profile_carries_the_checks_in_its_job(client: TestClient) -> None:
    accepted = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", PHOTO, "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "ABC-123"}), "profile": "marketplace"},
    )
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 30
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(accepted.json()["status_url"]).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)

    assert job["status"] == "succeeded", job
    assert job["checks"]["profile"] == "marketplace"
    stored = client.get(f"/images/ABC-123/{job['image_id']}/checks").json()
    assert job["checks"] == stored


def test_a_rendition_is_checked_in_the_format_asked_for(client: TestClient) -> None:
    """Issue 21 follow-up: `rendition=listing.webp` checks the WebP, whose format fails the marketplace's JPEG rule."""
    created = manual_crop(client, WHOLE).json()
    image = f"/images/ABC-123/{created['image_id']}"
    assert client.get(f"{image}/listing.webp").status_code == 200  # made and catalogued on first request

    webp = client.get(f"{image}/checks", params={"profile": "marketplace", "rendition": "listing.webp"})

    assert webp.status_code == 200, webp.text
    assert by_name(webp.json())["format"] == {
        "name": "format",
        "passed": False,
        "measured": "WEBP sRGB",
        "required": "JPEG sRGB",
    }
    assert webp.json()["passed"] is False
    assert by_name(webp.json())["min_long_side"]["measured"] == 600  # the 600 px rendition, not the image
    # Its JPEG has not been made: not stored yet, so nothing to check; a format renditions never have is a 422.
    assert_error(client.get(f"{image}/checks", params={"rendition": "listing"}), 404, field="rendition")
    assert_error(client.get(f"{image}/checks", params={"rendition": "listing.gif"}), 422, field="rendition")
    assert client.get(f"{image}/listing.jpg").status_code == 200
    jpeg = client.get(f"{image}/checks", params={"rendition": "listing.jpg"}).json()
    assert by_name(jpeg)["format"]["passed"] is True


def test_checks_are_limited_per_client_with_rate_limit_headers(settings: Settings) -> None:
    """Each check decodes an image: past CHECKS_RATE_LIMIT_REQUESTS a client gets a 429."""
    limited = settings.model_copy(update={"checks_rate_limit_requests": 2})
    with TestClient(create_app(build_services(limited)), client=(CLIENT_IP, 1)) as client:
        created = manual_crop(client, WHOLE).json()
        url = f"/images/ABC-123/{created['image_id']}/checks"
        answers = [client.get(url) for _ in range(3)]
        other_client = TestClient(client.app, client=("198.51.100.77", 1)).get(url)

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[0].headers["ratelimit-limit"] == "2"
    assert answers[1].headers["ratelimit-remaining"] == "0"
    refused = answers[2]
    assert_error(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["ratelimit-limit"] == "2"
    assert other_client.status_code == 200


def test_with_api_keys_a_check_needs_no_key_and_a_key_is_counted_apart(settings: Settings) -> None:
    """Checks are a read: the studio's product view shows them without a key. A client that sends its key
    spends the key's quota, not its address's."""
    key = "k-checks-0123456789abcdefgh"
    keyed = settings.model_copy(update={"checks_rate_limit_requests": 1, "api_keys": [SecretStr(key)]})
    with TestClient(create_app(build_services(keyed)), client=(CLIENT_IP, 1)) as client:
        client.headers["X-API-Key"] = key  # a crop is a POST: it needs the key
        created = manual_crop(client, WHOLE).json()
        del client.headers["X-API-Key"]
        url = f"/images/ABC-123/{created['image_id']}/checks"
        anonymous = [client.get(url).status_code for _ in range(2)]
        with_key = client.get(url, headers={"X-API-Key": key}).status_code
        wrong_key = client.get(url, headers={"X-API-Key": "not-a-key"}).status_code

    assert anonymous == [200, 429]
    assert with_key == 200
    assert wrong_key == 429  # an unknown key counts as no key: the address's quota, spent
