"""The crop studio's product view in headless Chromium: a product's images, their checks, and deleting one."""

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw
from pydantic import SecretStr
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.support.browser import MISSING_BROWSER, chromium
from tests.support.live import serving

pytestmark = pytest.mark.skipif(MISSING_BROWSER is not None, reason=MISSING_BROWSER or "")

KEY = "studio-product-view-key-0123456789"


def photo() -> bytes:
    image = Image.new("RGB", (1200, 1000), (255, 255, 255))
    ImageDraw.Draw(image).rectangle((50, 100, 1149, 899), fill=(200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    keyed = settings.model_copy(update={"api_keys": [SecretStr(KEY)]})
    with serving(create_app(build_services(keyed))) as url:
        yield url


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    with chromium(tmp_path / "profile") as driver:
        yield driver


def crop(base_url: str, box: dict[str, int]) -> str:
    response = httpx.post(
        f"{base_url}/images/manual-crop",
        files={"source_image": ("photo.jpg", photo(), "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "SHOE-1"}), "crop_box": json.dumps(box)},
        headers={"X-API-Key": KEY},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return str(response.json()["image_id"])


def test_the_product_view_lists_checks_and_deletes(base_url: str, browser: Chrome) -> None:
    passing = crop(base_url, {"x": 0, "y": 0, "width": 1200, "height": 1000})
    failing = crop(base_url, {"x": 300, "y": 250, "width": 600, "height": 500})
    wait = WebDriverWait(browser, 30, poll_frequency=0.05)

    browser.get(base_url + "/")
    wait.until(lambda d: d.execute_script("return document.documentElement.dataset.catalog") == "ready")
    browser.find_element(By.ID, "product-id").send_keys("SHOE-1")
    browser.find_element(By.ID, "catalog-load").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#catalog-list .badge")) == 8)

    items = browser.find_elements(By.CSS_SELECTOR, "#catalog-list .catalog-item")
    assert [item.get_attribute("data-image-id") for item in items] == [failing, passing]  # newest first

    def badges(image_id: str) -> dict[str, tuple[str, str]]:
        found = browser.find_elements(By.CSS_SELECTOR, f'[data-image-id="{image_id}"] .badge')
        return {b.get_attribute("data-check") or "": (b.get_attribute("class") or "", b.text) for b in found}

    assert badges(passing)["white_background"] == ("badge pass", "white background: 100 %")
    assert badges(passing)["min_long_side"] == ("badge pass", "min long side: 1200 px")
    assert badges(failing)["white_background"] == ("badge fail", "white background: 0 %")
    assert badges(failing)["min_long_side"] == ("badge fail", "min long side: 600 px")
    widths = "return [...document.querySelectorAll('#catalog-list img')].map((img) => img.complete && img.naturalWidth)"
    wait.until(lambda d: all(d.execute_script(widths)))
    assert browser.execute_script(widths) == [600, 1200]  # the thumbnails are the stored images

    # Without the key the service refuses, and the page says why.
    browser.find_element(By.CSS_SELECTOR, f'[data-image-id="{failing}"] button.delete').click()
    wait.until(lambda d: d.find_element(By.ID, "catalog-error").is_displayed())
    assert "API key" in browser.find_element(By.ID, "catalog-error").text

    browser.find_element(By.ID, "api-key").send_keys(KEY)
    browser.find_element(By.CSS_SELECTOR, f'[data-image-id="{failing}"] button.delete').click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#catalog-list .catalog-item")) == 1)
    assert httpx.get(f"{base_url}/images/SHOE-1/{failing}.jpg").status_code == 404
    listed = httpx.get(f"{base_url}/products/SHOE-1/images").json()["images"]
    assert [entry["image_id"] for entry in listed] == [passing]
