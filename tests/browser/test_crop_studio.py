"""The crop studio (`/`) in headless Chromium, against the real app on uvicorn and DynamoDB on moto's server."""

import base64
import contextlib
import io
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from PIL import Image
from selenium.webdriver import Chrome
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from image_processor.api import create_app
from image_processor.assembly import build_services
from image_processor.settings import Settings
from tests.support.browser import MISSING_BROWSER, chromium, csp_violations
from tests.support.images import encode, exif_rotated_jpeg
from tests.support.live import serving

pytestmark = pytest.mark.skipif(MISSING_BROWSER is not None, reason=MISSING_BROWSER or "")

_ROOT = Path(__file__).resolve().parents[2]
# Every run leaves its screenshot in build/; UPDATE_SCREENSHOTS=1 also refreshes the one the docs show.
SCREENSHOT = _ROOT / "build" / "screenshots" / "crop-studio.png"
DOCS_SCREENSHOT = _ROOT / "docs" / "images" / "crop-studio.png"
RED, GREEN, BLUE, YELLOW = (220, 20, 20), (20, 200, 20), (20, 20, 220), (240, 220, 30)
WIDTH, HEIGHT = 1200, 800  # shown at about half size, so the page must map screen pixels to image pixels


def quadrants() -> bytes:
    """Red top-left, green top-right, blue bottom-left, yellow bottom-right; the corners meet at (600, 400)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), RED)
    image.paste(GREEN, (WIDTH // 2, 0, WIDTH, HEIGHT // 2))
    image.paste(BLUE, (0, HEIGHT // 2, WIDTH // 2, HEIGHT))
    image.paste(YELLOW, (WIDTH // 2, HEIGHT // 2, WIDTH, HEIGHT))
    return encode(image, quality=95)


TIMES = "\u00d7"  # the multiplication sign: the page writes sizes as "1200 (TIMES) 800 px"


def near(actual: Any, expected: tuple[int, int, int], tolerance: int = 30) -> bool:
    """`actual` (a pixel from Image.getpixel) is within `tolerance` of `expected` in each channel (JPEG is lossy)."""
    assert isinstance(actual, tuple), actual
    return all(abs(a - e) <= tolerance for a, e in zip(actual[:3], expected, strict=True))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chrome]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture
def serve(settings: Settings) -> Iterator[Callable[..., str]]:
    """Starts the app (with setting overrides, optionally under a path prefix) and returns its base URL."""
    with contextlib.ExitStack() as servers:

        def start(
            prefix: str = "",
            as_root_path: bool = True,
            wrap: Callable[[ASGIApp], ASGIApp] | None = None,
            **overrides: Any,
        ) -> str:
            app: ASGIApp = create_app(build_services(settings.model_copy(update=overrides)))
            if wrap:
                app = wrap(app)
            if prefix:
                app = StagePrefix(app, prefix, as_root_path=as_root_path)
            return servers.enter_context(serving(app))

        yield start


class StagePrefix:
    """API Gateway's stage in front of the app: outside `/v1` nothing answers; inside, the app either knows the
    stage as its ASGI root_path (as on Lambda, where the service reads it from the event, or uvicorn's
    --root-path), so its links carry `/v1`, or sees the path with the stage stripped and nothing more."""

    def __init__(self, app: ASGIApp, prefix: str, *, as_root_path: bool) -> None:
        self.app, self.prefix, self.as_root_path = app, prefix, as_root_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path != self.prefix and not path.startswith(self.prefix + "/"):
                await send({"type": "http.response.start", "status": 403, "headers": []})
                await send({"type": "http.response.body", "body": b"outside the stage"})
                return
            if self.as_root_path:
                scope = {**scope, "root_path": self.prefix}  # ASGI: `path` keeps the prefix, Starlette strips it
            else:
                stripped = path[len(self.prefix) :] or "/"
                scope = {**scope, "path": stripped, "raw_path": stripped.encode()}
        await self.app(scope, receive, send)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "quadrants.jpg"
    path.write_bytes(quadrants())
    return path


def wait(driver: Chrome, condition: Callable[[Chrome], Any], timeout: float = 20) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


def text(driver: Chrome, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def box_fields(driver: Chrome) -> dict[str, int]:
    return {
        name: int(driver.find_element(By.ID, f"box-{name}").get_attribute("value") or "-1")
        for name in ("x", "y", "width", "height")
    }


def open_studio(driver: Chrome, url: str, photo: Path | None, product_id: str = "ABC-123") -> None:
    driver.get(url)
    wait(driver, lambda d: d.execute_script("return document.documentElement.dataset.studio") == "ready")
    driver.find_element(By.ID, "product-id").send_keys(product_id)
    if photo is not None:
        driver.find_element(By.ID, "source-image").send_keys(str(photo))
        wait(driver, lambda d: d.find_element(By.ID, "stage").is_displayed())


def preview_rect(driver: Chrome) -> dict[str, float]:
    rect: dict[str, float] = driver.execute_script(
        "const r = document.getElementById('preview').getBoundingClientRect();"
        "return {left: r.left, top: r.top, width: r.width, height: r.height};"
    )
    return rect


def drag(driver: Chrome, start: tuple[float, float], end: tuple[float, float]) -> None:
    """A real mouse drag between two points of the viewport, in steps, as a hand would move."""
    rect = preview_rect(driver)
    centre = (rect["left"] + rect["width"] / 2, rect["top"] + rect["height"] / 2)
    actions = ActionChains(driver).move_to_element_with_offset(
        driver.find_element(By.ID, "preview"), round(start[0] - centre[0]), round(start[1] - centre[1])
    )
    actions.click_and_hold()
    at = (round(start[0]), round(start[1]))
    for step in range(1, 6):
        fraction = step / 5
        goal = (round(start[0] + (end[0] - start[0]) * fraction), round(start[1] + (end[1] - start[1]) * fraction))
        actions.move_by_offset(goal[0] - at[0], goal[1] - at[1])
        at = goal
    actions.release().perform()


def draw_box(driver: Chrome, left: float, top: float, right: float, bottom: float) -> None:
    """Drags across the preview between two points given as fractions of its width and height."""
    driver.execute_script("document.getElementById('preview').scrollIntoView({block: 'center'})")
    rect = preview_rect(driver)
    drag(
        driver,
        (rect["left"] + rect["width"] * left, rect["top"] + rect["height"] * top),
        (rect["left"] + rect["width"] * right, rect["top"] + rect["height"] * bottom),
    )


def result_image(driver: Chrome) -> Image.Image:
    wait(driver, lambda d: text(d, "result-size").startswith("Result:"))
    href = driver.find_element(By.ID, "result-link").get_attribute("href")
    assert href
    response = httpx.get(href, follow_redirects=True)
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content)).convert("RGB")


def test_a_box_dragged_on_the_photo_is_the_region_manual_crop_stores(
    browser: Chrome, serve: Callable[..., str], photo: Path
) -> None:
    base = serve()
    open_studio(browser, base + "/", photo)
    rect = preview_rect(browser)
    assert rect["width"] < WIDTH  # shown scaled down: screen pixels are not image pixels
    # From 30 % to 80 % across and 20 % to 70 % down: the box straddles the point where the colours meet.
    draw_box(browser, 0.3, 0.2, 0.8, 0.7)
    box = box_fields(browser)
    expected = {"x": WIDTH * 0.3, "y": HEIGHT * 0.2, "width": WIDTH * 0.5, "height": HEIGHT * 0.5}
    pixel = WIDTH / rect["width"]  # one screen pixel, in image pixels
    for name, value in expected.items():
        assert abs(box[name] - value) <= 2 * pixel + 1, (name, box)

    browser.find_element(By.ID, "manual-crop").click()
    cropped = result_image(browser)
    assert cropped.size == (box["width"], box["height"])
    assert text(browser, "result-size").startswith(f"Result: {box['width']} {TIMES} {box['height']} px")
    assert browser.find_element(By.ID, "result-link").text.startswith("/images/ABC-123/")
    # The colours meet at (600, 400) in the photo, so at (600 - x, 400 - y) in the crop.
    split_x, split_y = WIDTH // 2 - box["x"], HEIGHT // 2 - box["y"]
    margin = 6
    assert near(cropped.getpixel((split_x - margin, split_y - margin)), RED)
    assert near(cropped.getpixel((split_x + margin, split_y - margin)), GREEN)
    assert near(cropped.getpixel((split_x - margin, split_y + margin)), BLUE)
    assert near(cropped.getpixel((split_x + margin, split_y + margin)), YELLOW)
    assert near(cropped.getpixel((2, 2)), RED)
    assert near(cropped.getpixel((box["width"] - 3, box["height"] - 3)), YELLOW)
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map((entry) => entry.name)")
    assert [url for url in loaded if not url.startswith((base + "/", "blob:"))] == []  # nothing from elsewhere

    browser.execute_script("window.scrollTo(0, 0)")
    browser.set_window_size(1280, 1560)
    try:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(SCREENSHOT))
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            DOCS_SCREENSHOT.write_bytes(SCREENSHOT.read_bytes())
    finally:
        browser.set_window_size(1280, 900)


def test_the_box_moves_and_resizes_with_the_mouse_and_never_leaves_the_photo(
    browser: Chrome, serve: Callable[..., str], photo: Path
) -> None:
    open_studio(browser, serve() + "/", photo)
    draw_box(browser, 0.1, 0.1, 0.9, 0.9)
    before = box_fields(browser)
    handle = browser.find_element(By.CSS_SELECTOR, '[data-handle="se"]')
    ActionChains(browser).drag_and_drop_by_offset(handle, -50, -40).perform()
    resized = box_fields(browser)
    assert (resized["x"], resized["y"]) == (before["x"], before["y"])
    assert resized["width"] < before["width"] - 50
    assert resized["height"] < before["height"] - 40

    # Dragged far past the bottom-right corner, the box stops at the photo's edges.
    rect = browser.execute_script(
        "const r = document.getElementById('box').getBoundingClientRect();"
        "return {x: r.left, y: r.top, width: r.width, height: r.height};"
    )
    corner = browser.execute_script("return [window.innerWidth - 2, window.innerHeight - 2]")
    drag(browser, (rect["x"] + rect["width"] / 2, rect["y"] + rect["height"] / 2), (corner[0], corner[1]))
    moved = box_fields(browser)
    assert moved["width"] == resized["width"] and moved["height"] == resized["height"]
    assert moved["x"] + moved["width"] == WIDTH
    assert moved["y"] + moved["height"] == HEIGHT


def test_arrow_keys_nudge_the_box_and_the_numbers_follow(
    browser: Chrome, serve: Callable[..., str], photo: Path
) -> None:
    open_studio(browser, serve() + "/", photo)
    draw_box(browser, 0.2, 0.2, 0.6, 0.6)
    start = box_fields(browser)
    box = browser.find_element(By.ID, "box")
    box.send_keys(Keys.ARROW_RIGHT)
    box.send_keys(Keys.ARROW_RIGHT)
    box.send_keys(Keys.SHIFT, Keys.ARROW_DOWN)
    box.send_keys(Keys.ALT, Keys.ARROW_LEFT)
    after = box_fields(browser)
    assert after == {
        "x": start["x"] + 2,
        "y": start["y"] + 10,
        "width": start["width"] - 1,
        "height": start["height"],
    }
    style = box.get_attribute("style") or ""
    assert "left" in style and "top" in style

    for _ in range(30):
        box.send_keys(Keys.SHIFT, Keys.ARROW_LEFT)
    assert box_fields(browser)["x"] == 0

    # A number typed past the edge is pulled back inside the photo.
    field = browser.find_element(By.ID, "box-y")
    field.clear()
    field.send_keys("5000", Keys.TAB)
    assert box_fields(browser)["y"] == HEIGHT - after["height"]


def test_smart_crop_shows_the_job_status_then_the_result_and_the_remaining_quota(
    browser: Chrome, serve: Callable[..., str], photo: Path
) -> None:
    open_studio(browser, serve(rate_limit_requests=5) + "/", photo)
    browser.find_element(By.ID, "smart-crop").click()
    wait(browser, lambda d: "succeeded" in text(d, "job-status"))
    cropped = result_image(browser)
    assert cropped.width > 0 and cropped.height > 0
    assert text(browser, "quota") == "Smart crops left: 4 of 5."
    job_id = text(browser, "job-id")
    assert len(job_id) == 32
    assert text(browser, "result-link").startswith("/images/ABC-123/" + job_id)


def test_a_second_smart_crop_over_the_limit_says_when_to_try_again(
    browser: Chrome, serve: Callable[..., str], photo: Path
) -> None:
    open_studio(browser, serve(rate_limit_requests=1, rate_limit_window_seconds=600) + "/", photo)
    browser.find_element(By.ID, "smart-crop").click()
    wait(browser, lambda d: "succeeded" in text(d, "job-status"))
    assert text(browser, "quota") == "Smart crops left: 0 of 1."

    browser.find_element(By.ID, "smart-crop").click()
    wait(browser, lambda d: "try again" in text(d, "quota"))
    assert text(browser, "quota") == "No smart crops left for now. You can try again in 10 minutes."
    assert text(browser, "form-error").startswith("Smart crop is limited to 1 requests per 600 seconds")


def test_api_errors_are_shown_next_to_the_field_they_name(
    browser: Chrome, serve: Callable[..., str], tmp_path: Path
) -> None:
    base = serve()
    not_an_image = tmp_path / "notes.jpg"
    not_an_image.write_bytes(b"these are notes, not a photo")
    open_studio(browser, base + "/", None)
    browser.find_element(By.ID, "source-image").send_keys(str(not_an_image))
    wait(browser, lambda d: "cannot show it" in text(d, "source-info"))
    for name, value in {"x": "0", "y": "0", "width": "10", "height": "10"}.items():
        browser.find_element(By.ID, f"box-{name}").send_keys(value)
    browser.find_element(By.ID, "manual-crop").click()

    api = httpx.post(
        base + "/images/manual-crop",
        data={"product_info": '{"product_id": "ABC-123"}', "crop_box": '{"x":0,"y":0,"width":10,"height":10}'},
        files={"source_image": ("notes.jpg", not_an_image.read_bytes(), "image/jpeg")},
    ).json()["error"]
    assert api["field"] == "source_image"
    wait(browser, lambda d: d.find_element(By.ID, "source-image-error").is_displayed())
    assert text(browser, "source-image-error") == api["message"]
    assert browser.find_element(By.ID, "source-image").get_attribute("aria-invalid") == "true"
    assert not browser.find_element(By.ID, "form-error").is_displayed()

    product = browser.find_element(By.ID, "product-id")
    product.clear()
    product.send_keys("not a product id!")
    browser.find_element(By.ID, "manual-crop").click()
    wait(browser, lambda d: d.find_element(By.ID, "product-id-error").is_displayed())
    assert text(browser, "product-id-error").startswith("product_info.product_id: String should match pattern")
    assert product.get_attribute("aria-invalid") == "true"
    assert not browser.find_element(By.ID, "source-image-error").is_displayed()


def test_the_preview_applies_exif_orientation_so_the_box_is_in_displayed_coordinates(
    browser: Chrome, serve: Callable[..., str], tmp_path: Path
) -> None:
    rotated = tmp_path / "rotated.jpg"
    rotated.write_bytes(exif_rotated_jpeg())  # stored 400x200; shown 200x400, blue left and red right
    open_studio(browser, serve() + "/", rotated)
    assert f"200 {TIMES} 400 px" in text(browser, "source-info")
    for name, value in {"x": "0", "y": "0", "width": "100", "height": "400"}.items():
        field = browser.find_element(By.ID, f"box-{name}")
        field.clear()
        field.send_keys(value, Keys.TAB)
    assert box_fields(browser) == {"x": 0, "y": 0, "width": 100, "height": 400}
    browser.find_element(By.ID, "manual-crop").click()
    cropped = result_image(browser)
    assert cropped.size == (100, 400)
    assert near(cropped.getpixel((50, 200)), (20, 20, 220))


@pytest.mark.parametrize("as_root_path", [True, False], ids=["stage-as-root-path", "stage-stripped"])
def test_the_page_works_under_an_api_gateway_stage_path(
    browser: Chrome, serve: Callable[..., str], photo: Path, as_root_path: bool
) -> None:
    base = serve(prefix="/v1", as_root_path=as_root_path)
    open_studio(browser, base + "/v1", photo)  # no trailing slash: the page adds it, or relative URLs lose /v1
    assert browser.current_url == base + "/v1/"
    draw_box(browser, 0.5, 0.5, 0.9, 0.9)
    box = box_fields(browser)
    browser.find_element(By.ID, "manual-crop").click()
    cropped = result_image(browser)
    href = browser.find_element(By.ID, "result-link").get_attribute("href")
    assert href and href.startswith(base + "/v1/images/ABC-123/")
    assert cropped.size == (box["width"], box["height"])
    assert near(cropped.getpixel((box["width"] // 2, box["height"] // 2)), YELLOW)
    browser.find_element(By.ID, "smart-crop").click()
    wait(browser, lambda d: "succeeded" in text(d, "job-status"))
    assert text(browser, "quota").startswith("Smart crops left:")


def test_a_file_dropped_on_the_page_is_loaded_like_a_picked_one(
    browser: Chrome, serve: Callable[..., str], photo: Path
) -> None:
    open_studio(browser, serve() + "/", None)
    # WebDriver cannot drag a file from the desktop; the page gets the same drop event a desktop drag sends.
    browser.execute_script(
        """
        const [name, base64] = arguments;
        const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, { type: "image/jpeg" }));
        const zone = document.getElementById("drop-zone");
        zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
        """,
        photo.name,
        base64.b64encode(photo.read_bytes()).decode(),
    )
    wait(browser, lambda d: d.find_element(By.ID, "stage").is_displayed())
    assert f"{WIDTH} {TIMES} {HEIGHT} px" in text(browser, "source-info")
    assert browser.execute_script("return document.getElementById('source-image').files[0].name") == photo.name
    draw_box(browser, 0.05, 0.55, 0.45, 0.95)
    browser.find_element(By.ID, "manual-crop").click()
    cropped = result_image(browser)
    assert near(cropped.getpixel((cropped.width // 2, cropped.height // 2)), BLUE)


def test_the_api_docs_render_from_the_services_own_files(browser: Chrome, serve: Callable[..., str]) -> None:
    base = serve(prefix="/v1")
    browser.get(base + "/v1/docs")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".swagger-ui .opblock")) >= 4)
    assert "/images/manual-crop" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui").text
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map((entry) => entry.name)")
    assert loaded
    assert [url for url in loaded if not url.startswith(base + "/v1/")] == []
    assert csp_violations(browser) == []


def test_controls_are_labelled_focus_is_visible_and_200_percent_zoom_fits(
    browser: Chrome, serve: Callable[..., str], photo: Path
) -> None:
    browser.set_window_size(640, 900)  # 1280 px of screen at 200 % zoom: 640 CSS pixels
    try:
        open_studio(browser, serve() + "/", photo)
        draw_box(browser, 0.2, 0.2, 0.6, 0.6)
        unlabelled = browser.execute_script(
            "return [...document.querySelectorAll('input, button, [tabindex]')]"
            ".filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')"
            " && !el.textContent.trim()).map((el) => el.id)"
        )
        assert unlabelled == []
        assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        for element_id in ("product-id", "source-image", "box", "box-x", "manual-crop", "smart-crop"):
            element = browser.find_element(By.ID, element_id)
            assert element.is_displayed(), element_id
            browser.execute_script("arguments[0].focus({focusVisible: true})", element)
            outline = browser.execute_script(
                "const s = getComputedStyle(document.activeElement);"
                "return [document.activeElement.id, s.outlineStyle, parseFloat(s.outlineWidth)]"
            )
            assert outline[0] == element_id
            assert outline[1] != "none" and outline[2] >= 2, outline
    finally:
        browser.set_window_size(1280, 900)


def noisy_jpeg(path: Path, side: int = 1400) -> None:
    """Random pixels, which JPEG cannot compress: about 5 MB, past the page's 4 MB multipart ceiling."""
    noise = Image.frombytes("RGB", (side, side), random.Random(7).randbytes(side * side * 3))
    path.write_bytes(encode(noise, quality=100, subsampling=0))
    assert path.stat().st_size > 4 * 1024 * 1024


class RequestLog:
    """Records each request's method, path, Content-Length and X-API-Key. When told to, it answers 404 to
    `/uploads` (a service without direct uploads), 401 to a POST without `api_key` (API keys on), or 503
    with Retry-After to every POST (a full upload budget)."""

    def __init__(
        self, *, without_direct_uploads: bool = False, api_key: str | None = None, busy_for: int | None = None
    ) -> None:
        self.without_direct_uploads, self.api_key, self.busy_for = without_direct_uploads, api_key, busy_for
        self.requests: list[tuple[str, str, int, str | None]] = []

    def around(self, app: ASGIApp) -> ASGIApp:
        self.app = app
        return self

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            key = headers.get("x-api-key")
            self.requests.append((scope["method"], scope["path"], int(headers.get("content-length", "0")), key))
            refusal = None
            if self.without_direct_uploads and scope["path"].startswith("/uploads"):
                refusal = JSONResponse({"error": {"code": "not_found", "message": "Not Found"}}, status_code=404)
            elif self.api_key and scope["method"] == "POST" and key != self.api_key:
                message = "Send a valid API key in the X-API-Key header."
                refusal = JSONResponse({"error": {"code": "unauthorized", "message": message}}, status_code=401)
            elif self.busy_for and scope["method"] == "POST":
                busy = {"code": "service_unavailable", "message": "The service is busy; retry later."}
                refusal = JSONResponse({"error": busy}, 503, headers={"Retry-After": str(self.busy_for)})
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def posts(self) -> list[tuple[str, int]]:
        return [(path, length) for method, path, length, _ in self.requests if method == "POST"]


def crop_a_large_file(browser: Chrome, base: str, tmp_path: Path) -> None:
    large = tmp_path / "large.jpg"
    noisy_jpeg(large)
    open_studio(browser, base + "/", large)
    draw_box(browser, 0.25, 0.25, 0.75, 0.75)
    box = box_fields(browser)
    browser.find_element(By.ID, "manual-crop").click()
    assert result_image(browser).size == (box["width"], box["height"])


def test_the_studio_works_under_a_strict_content_security_policy(
    browser: Chrome, serve: Callable[..., str], tmp_path: Path
) -> None:
    base = serve()
    policy = httpx.get(base + "/").headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    csp_violations(browser)  # empty the console
    crop_a_large_file(browser, base, tmp_path)  # the direct upload, the crop, the result image
    browser.find_element(By.ID, "smart-crop").click()
    wait(browser, lambda d: "succeeded" in text(d, "job-status"))
    assert csp_violations(browser) == []


def test_the_studio_cannot_be_framed(browser: Chrome, serve: Callable[..., str]) -> None:
    base = serve()
    page = httpx.get(base + "/")
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    csp_violations(browser)
    browser.get("data:text/html,<iframe src='" + base + "/'></iframe>")
    wait(browser, lambda d: csp_violations(d) or d.find_elements(By.TAG_NAME, "iframe"))
    frame = browser.find_element(By.TAG_NAME, "iframe")
    browser.switch_to.frame(frame)
    try:
        assert browser.execute_script("return document.documentElement.dataset.studio") != "ready"
    finally:
        browser.switch_to.default_content()


def test_a_large_file_is_uploaded_directly_and_the_crop_names_it(
    browser: Chrome, serve: Callable[..., str], tmp_path: Path
) -> None:
    log = RequestLog()
    base = serve(wrap=log.around)
    crop_a_large_file(browser, base, tmp_path)
    posts = log.posts()
    assert [path.split("/")[1] for path, _ in posts] == ["uploads", "uploads", "images"]
    (ticket, _), (upload, upload_bytes), (crop, crop_bytes) = posts
    assert ticket == "/uploads" and upload.startswith("/uploads/") and crop == "/images/manual-crop"
    assert upload_bytes > 4 * 1024 * 1024  # the file went to the upload URL...
    assert crop_bytes < 4096  # ...and the crop only named it (source_upload_id)


def test_a_large_file_goes_in_the_form_when_the_service_has_no_direct_uploads(
    browser: Chrome, serve: Callable[..., str], tmp_path: Path
) -> None:
    log = RequestLog(without_direct_uploads=True)
    base = serve(wrap=log.around)
    crop_a_large_file(browser, base, tmp_path)
    posts = log.posts()
    assert [path for path, _ in posts] == ["/uploads", "/images/manual-crop"]  # asked, got a 404, fell back
    assert posts[1][1] > 4 * 1024 * 1024


def test_retry_after_reads_as_a_sentence(browser: Chrome, serve: Callable[..., str]) -> None:
    browser.get(serve() + "/")
    sentences = {
        "1": "You can try again in 1 second.",
        "45": "You can try again in 45 seconds.",
        "61": "You can try again in 2 minutes.",
        "3540": "You can try again in 59 minutes.",
        "3599": "You can try again in 1 hour.",
        "3660": "You can try again in 1 hour and 1 minute.",
        "7300": "You can try again in 2 hours and 2 minutes.",
    }
    said = browser.execute_async_script(
        "const [values, done] = arguments;"
        "import('./static/studio/studio.js').then((studio) => done(values.map(studio.retryAfterSentence)));",
        list(sentences),
    )
    assert dict(zip(sentences, said, strict=True)) == sentences


def test_the_api_key_goes_with_each_post_and_a_refusal_shows_next_to_it(
    browser: Chrome, serve: Callable[..., str], photo: Path
) -> None:
    log = RequestLog(api_key="s3cret")
    base = serve(wrap=log.around)
    open_studio(browser, base + "/", photo)
    draw_box(browser, 0.1, 0.1, 0.5, 0.5)
    browser.find_element(By.ID, "manual-crop").click()
    wait(browser, lambda d: d.find_element(By.ID, "api-key-error").is_displayed())
    assert text(browser, "api-key-error") == "Send a valid API key in the X-API-Key header."
    assert not browser.find_element(By.ID, "form-error").is_displayed()

    browser.find_element(By.ID, "api-key").send_keys("s3cret")
    browser.find_element(By.ID, "manual-crop").click()
    result_image(browser)
    keys = [key for method, path, _, key in log.requests if (method, path) == ("POST", "/images/manual-crop")]
    assert keys == [None, "s3cret"]
    reads = [key for method, _, _, key in log.requests if method == "GET"]
    assert reads and set(reads) == {None}  # reads need no key: it is sent with POSTs only


def test_on_s3_the_file_goes_straight_to_the_bucket_and_the_result_comes_by_redirect(
    browser: Chrome, serve: Callable[..., str], tmp_path: Path, s3_bucket: str, aws_endpoint: str
) -> None:
    log = RequestLog()
    base = serve(wrap=log.around, storage_backend="s3", s3_bucket=s3_bucket, image_delivery="redirect")
    # Real S3 needs this rule for the page to post to the bucket and read the answer (moto's server is lenient).
    boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1").put_bucket_cors(
        Bucket=s3_bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": [base], "AllowedMethods": ["POST", "GET", "HEAD"]}]},
    )
    crop_a_large_file(browser, base, tmp_path)
    assert [path for path, _ in log.posts()] == ["/uploads", "/images/manual-crop"]  # the file never came here
    assert log.posts()[1][1] < 4096
    natural = browser.execute_script("return document.getElementById('result-image').naturalWidth")
    assert natural > 0  # loaded through the 307 to a presigned GET
    assert csp_violations(browser) == []  # the bucket is allowed for the upload and the image, nothing else


def test_a_busy_service_says_when_to_retry(browser: Chrome, serve: Callable[..., str], photo: Path) -> None:
    base = serve(wrap=RequestLog(busy_for=30).around)
    open_studio(browser, base + "/", photo)
    browser.find_element(By.ID, "smart-crop").click()
    wait(browser, lambda d: d.find_element(By.ID, "form-error").is_displayed())
    assert text(browser, "form-error") == "The service is busy; retry later. You can try again in 30 seconds."
