"""Malformed requests against every endpoint: each is a 4xx JSON error, writes nothing and leaves no temp file."""

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from image_processor.settings import Settings
from tests.support import images
from tests.support.apps import app_client, files_under, fresh_settings

MAX_UPLOAD_BYTES = 100_000
FORMATS = ["JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP"]
PRODUCT_INFO = '{"product_id": "ABC-123"}'
BOX = '{"x": 0, "y": 0, "width": 10, "height": 10}'
SOURCE = images.solid_jpeg(200, 100)  # shown 200 wide, 100 high

Send = Callable[[TestClient], httpx.Response]


@dataclass(frozen=True)
class Case:
    id: str
    send: Send
    status: int
    code: str | None = None


def upload(
    endpoint: str,
    source: bytes | None = SOURCE,
    *,
    product_info: str | None = PRODUCT_INFO,
    crop_box: str | None = BOX,
    extra_files: list[tuple[str, Any]] | None = None,
    extra_data: dict[str, Any] | None = None,
    duplicate: str | None = None,
) -> Send:
    """A multipart POST to /images/<endpoint>; None leaves a field out."""

    def send(client: TestClient) -> httpx.Response:
        files: list[tuple[str, Any]] = list(extra_files or [])
        if source is not None:
            files.append(("source_image", ("photo.jpg", source, "image/jpeg")))
        data: dict[str, Any] = dict(extra_data or {})
        if product_info is not None:
            data["product_info"] = product_info
        if crop_box is not None and endpoint == "manual-crop":
            data["crop_box"] = crop_box
        if duplicate is not None:
            data[duplicate] = [data[duplicate], data[duplicate]]
        if not files:
            files.append(("unrelated", ("x.txt", b"x", "text/plain")))
        response: httpx.Response = client.post(f"/images/{endpoint}", files=files, data=data)
        return response

    return send


def manual(source: bytes | None = SOURCE, **fields: Any) -> Send:
    return upload("manual-crop", source, **fields)


def smart(source: bytes | None = SOURCE, **fields: Any) -> Send:
    return upload("smart-crop", source, **fields)


def box(**fields: Any) -> str:
    return json.dumps({"x": 0, "y": 0, "width": 10, "height": 10} | fields)


def product(product_id: Any) -> str:
    return json.dumps({"product_id": product_id})


def raw(method: str, path: str, **options: Any) -> Send:
    def send(client: TestClient) -> httpx.Response:
        response: httpx.Response = client.request(method, path, **options)
        return response

    return send


def multipart_body(*parts: tuple[str, str | None, bytes], boundary: str = "corpus") -> bytes:
    chunks = []
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(chunks) + f"--{boundary}--\r\n".encode()


def streamed(size: int) -> Iterator[bytes]:
    """A body without Content-Length (chunked): refused before it streams."""
    head = b'--corpus\r\nContent-Disposition: form-data; name="source_image"; filename="a.jpg"\r\n\r\n'
    yield head
    for _ in range(size // 65536):
        yield b"\0" * 65536


MULTIPART = {"Content-Type": "multipart/form-data; boundary=corpus"}

CASES: list[Case] = [
    # Not images, by content (the name and declared type say JPEG).
    Case("manual-text-file", manual(b"just some text, named photo.jpg\n"), 415, "unsupported_image"),
    Case("manual-pdf", manual(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"), 415, "unsupported_image"),
    Case("manual-html", manual(b"<!doctype html><html><body>hi</body></html>"), 415, "unsupported_image"),
    Case("manual-svg", manual(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'), 415),
    Case("manual-zero-bytes", manual(b""), 415, "unsupported_image"),
    Case("manual-magic-only", manual(b"\xff\xd8\xff"), 415, "unsupported_image"),
    Case("smart-text-file", smart(b"just some text\n"), 415, "unsupported_image"),
    Case("smart-zero-bytes", smart(b""), 415, "unsupported_image"),
    # Truncated and corrupt files of each format.
    *(
        Case(f"manual-truncated-{fmt.lower()}", manual(images.truncated(fmt)), 415, "unsupported_image")
        for fmt in FORMATS
    ),
    *(
        Case(f"manual-corrupt-{fmt.lower()}", manual(images.corrupted(fmt)), 415 if fmt != "GIF" else 422)
        for fmt in FORMATS
    ),
    *(
        Case(f"smart-corrupt-{fmt.lower()}", smart(images.corrupted(fmt)), 415 if fmt != "GIF" else 422)
        for fmt in FORMATS
    ),
    # Pixel bombs: headers claiming 30000x30000.
    *(
        Case(f"{name}-bomb-{kind}", send(make(30000, 30000)), 422, "image_too_large")
        for name, send in (("manual", manual), ("smart", smart))
        for kind, make in (
            ("png", images.png_header_claiming),
            ("jpeg", images.jpeg_header_claiming),
            ("gif", images.gif_header_claiming),
            ("tiff", images.tiff_header_claiming),
            ("bmp", images.bmp_header_claiming),
        )
    ),
    Case("manual-bomb-wide-strip", manual(images.png_header_claiming(2**31 - 1, 1)), 422, "image_too_large"),
    # Oversized uploads.
    Case("manual-oversized", manual(b"\xff\xd8" + b"\0" * (MAX_UPLOAD_BYTES + 1)), 413, "payload_too_large"),
    Case("smart-oversized", smart(b"\xff\xd8" + b"\0" * (MAX_UPLOAD_BYTES + 1)), 413, "payload_too_large"),
    Case(
        "manual-declared-length-over-cap",
        raw("POST", "/images/manual-crop", content=b"\0" * 2_000_000, headers=MULTIPART),
        413,
        "payload_too_large",
    ),
    Case(
        "manual-chunked",
        raw("POST", "/images/manual-crop", content=streamed(2_000_000), headers=MULTIPART),
        411,
        "length_required",
    ),
    # Malformed and deeply nested JSON.
    Case("manual-product-info-not-json", manual(product_info="{product_id: ABC}"), 422, "invalid_request"),
    Case("manual-crop-box-not-json", manual(crop_box="{'x': 1}"), 422, "invalid_request"),
    Case("manual-product-info-nested-50000", manual(product_info="[" * 50_000), 422, "invalid_request"),
    Case("manual-crop-box-nested-100000", manual(crop_box="[" * 100_000), 400),
    Case("manual-crop-box-nested-objects", manual(crop_box='{"x":' * 10_000), 422, "invalid_request"),
    Case("smart-product-info-nested-100000", smart(product_info="[" * 100_000), 400),
    Case("manual-product-info-nan", manual(product_info='{"product_id": NaN}'), 422, "invalid_request"),
    Case("manual-product-info-bom", manual(product_info='\ufeff{"product_id": "A"}'), 422, "invalid_request"),
    Case("smart-product-info-empty", smart(product_info=""), 422, "invalid_request"),
    # Wrong types.
    Case("manual-product-info-number", manual(product_info="5"), 422, "invalid_request"),
    Case("manual-product-id-list", manual(product_info=product(["ABC"])), 422, "invalid_request"),
    Case("manual-product-id-object", manual(product_info=product({"id": "ABC"})), 422, "invalid_request"),
    Case("manual-crop-box-string", manual(crop_box='"0,0,10,10"'), 422, "invalid_request"),
    Case("manual-crop-box-string-values", manual(crop_box=box(x="0")), 422, "invalid_request"),
    Case("manual-crop-box-bool", manual(crop_box=box(width=True)), 422, "invalid_request"),
    Case("manual-crop-box-float", manual(crop_box=box(height=10.0)), 422, "invalid_request"),
    Case("manual-crop-box-exponent", manual(crop_box=box(x=1e3)), 422, "invalid_request"),
    Case("manual-crop-box-null", manual(crop_box="null"), 422, "invalid_request"),
    Case("smart-product-id-number", smart(product_info=product(123)), 422, "invalid_request"),
    # Unicode and very long product ids.
    *(
        Case(f"manual-product-id-{name}", manual(product_info=product(value)), 422, "invalid_request")
        for name, value in (
            ("accented", "ÄBC-123"),
            ("cjk", "产品"),
            ("zero-width-space", "ABC\u200b123"),
            ("rtl-override", "ABC\u202e321"),
            ("full-width", "\uff21\uff22\uff23"),
            ("emoji", "ABC-📷"),
            ("nul", "ABC\x00"),
            ("newline", "ABC\n"),
            ("65-chars", "A" * 65),
            ("10000-chars", "A" * 10_000),
            ("dot-dot", ".."),
            ("slash", "a/b"),
        )
    ),
    Case("smart-product-id-unicode", smart(product_info=product("ÄBC")), 422, "invalid_request"),
    Case("smart-product-id-long", smart(product_info=product("A" * 1000)), 422, "invalid_request"),
    # Boxes at every edge of a 200x100 image.
    Case("box-x-at-width", manual(crop_box=box(x=200, width=1)), 422, "crop_out_of_bounds"),
    Case("box-y-at-height", manual(crop_box=box(y=100, height=1)), 422, "crop_out_of_bounds"),
    Case("box-one-past-right", manual(crop_box=box(x=191)), 422, "crop_out_of_bounds"),
    Case("box-one-past-bottom", manual(crop_box=box(y=91)), 422, "crop_out_of_bounds"),
    Case("box-one-too-wide", manual(crop_box=box(width=201)), 422, "crop_out_of_bounds"),
    Case("box-one-too-tall", manual(crop_box=box(height=101)), 422, "crop_out_of_bounds"),
    Case("box-huge-int", manual(crop_box=box(x=2**64)), 422, "crop_out_of_bounds"),
    Case("box-huge-size", manual(crop_box=box(width=10**40)), 422, "crop_out_of_bounds"),
    Case("box-negative-x", manual(crop_box=box(x=-1)), 422, "invalid_request"),
    Case("box-zero-height", manual(crop_box=box(height=0)), 422, "invalid_request"),
    Case("box-extra-key", manual(crop_box=box(rotation=90)), 422, "invalid_request"),
    # Traversal paths in every encoding (httpx keeps percent-encoding as written).
    *(
        Case(f"get-{name}", raw("GET", path), 404, "not_found")
        for name, path in (
            ("encoded-dots", "/images/%2e%2e/%2e%2e/etc/passwd"),
            ("double-encoded-dots", "/images/%252e%252e/%252e%252e/etc/passwd"),
            ("encoded-slashes", "/images/..%2f..%2fetc%2fpasswd"),
            ("overlong-utf8-dot", "/images/%c0%ae%c0%ae/etc/passwd"),
            ("encoded-backslash", "/images/..%5c..%5cetc%5cpasswd"),
            ("absolute", "/images//etc/passwd"),
            ("encoded-absolute", "/images/%2fetc%2fpasswd"),
            ("nul", "/images/ABC-123/x.jpg%00.png"),
            ("dot-file", "/images/.env"),
            ("staging", "/images/.staging/anything.upload"),
            ("windows-drive", "/images/C:%5cWindows%5cwin.ini"),
            ("unc", "/images/%5c%5cserver%5cshare%5cx.jpg"),
            ("very-long", "/images/" + "a/" * 2000 + "x.jpg"),
            ("unicode", "/images/%E2%80%AE/x.jpg"),
        )
    ),
    Case("head-encoded-dots", raw("HEAD", "/images/%2e%2e/secret.jpg"), 404),
    Case("get-job-traversal", raw("GET", "/jobs/..%2f..%2fetc%2fpasswd"), 404, "not_found"),
    Case("get-job-not-an-id", raw("GET", "/jobs/not-an-id"), 404, "not_found"),
    Case("get-job-unknown-id", raw("GET", "/jobs/" + "0" * 32), 404, "not_found"),
    # Wrong methods.
    Case("put-manual-crop", raw("PUT", "/images/manual-crop"), 405, "method_not_allowed"),
    Case("delete-smart-crop", raw("DELETE", "/images/smart-crop"), 405, "method_not_allowed"),
    Case("post-to-an-image", raw("POST", "/images/ABC-123/x.jpg"), 405, "method_not_allowed"),
    Case("patch-health", raw("PATCH", "/health"), 405, "method_not_allowed"),
    Case("post-job", raw("POST", "/jobs/" + "0" * 32), 405, "method_not_allowed"),
    # Missing and duplicated form fields.
    Case("manual-missing-source-image", manual(None), 422, "invalid_request"),
    Case("manual-missing-product-info", manual(product_info=None), 422, "invalid_request"),
    Case("manual-missing-crop-box", manual(crop_box=None), 422, "invalid_request"),
    Case("smart-missing-source-image", smart(None), 422, "invalid_request"),
    Case("smart-missing-product-info", smart(product_info=None), 422, "invalid_request"),
    Case(
        "manual-duplicate-source-image",
        manual(extra_files=[("source_image", ("b.jpg", SOURCE, "image/jpeg"))]),
        400,
    ),
    Case("manual-duplicate-crop-box", manual(duplicate="crop_box"), 422, "invalid_request"),
    Case("manual-duplicate-product-info", manual(duplicate="product_info"), 422, "invalid_request"),
    Case("smart-duplicate-product-info", smart(duplicate="product_info"), 422, "invalid_request"),
    Case(
        "manual-source-image-as-text",
        raw(
            "POST",
            "/images/manual-crop",
            content=multipart_body(
                ("source_image", None, SOURCE[:50]),
                ("product_info", None, PRODUCT_INFO.encode()),
                ("crop_box", None, BOX.encode()),
            ),
            headers=MULTIPART,
        ),
        422,
        "invalid_request",
    ),
    Case(
        "manual-product-info-as-file",
        manual(
            product_info=None, extra_files=[("product_info", ("p.json", PRODUCT_INFO.encode(), "application/json"))]
        ),
        400,
    ),
    Case("manual-too-many-fields", manual(extra_data={f"f{n}": "x" for n in range(50)}), 400),
    Case(
        "manual-text-field-too-big",
        manual(extra_data={"note": "x" * 100_000}),
        400,
    ),
    # Wrong content types and broken multipart.
    Case("manual-json-body", raw("POST", "/images/manual-crop", json={"product_info": {}}), 415),
    Case("manual-urlencoded", raw("POST", "/images/manual-crop", data={"product_info": PRODUCT_INFO}), 415),
    Case("manual-no-content-type", raw("POST", "/images/manual-crop", content=b"hello"), 415),
    Case(
        "smart-text-plain", raw("POST", "/images/smart-crop", content=b"x", headers={"Content-Type": "text/plain"}), 415
    ),
    Case(
        "manual-multipart-no-boundary",
        raw("POST", "/images/manual-crop", content=b"--x\r\n", headers={"Content-Type": "multipart/form-data"}),
        400,
    ),
    Case(
        "manual-multipart-garbage",
        raw("POST", "/images/manual-crop", content=b"\0\1\2garbage", headers=MULTIPART),
        400,
    ),
    Case("manual-multipart-empty", raw("POST", "/images/manual-crop", content=b"", headers=MULTIPART), 422),
    Case(
        "manual-multipart-unterminated",
        raw(
            "POST",
            "/images/manual-crop",
            content=multipart_body(("source_image", "a.jpg", SOURCE))[:-20],
            headers=MULTIPART,
        ),
        422,  # the cut-off part is dropped, so the file is missing
        "invalid_request",
    ),
]


@pytest.fixture(scope="module")
def corpus_tmp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Temporary files the app creates (spooled uploads) go here, so the test can see any left behind."""
    directory = tmp_path_factory.mktemp("corpus-tmp")
    previous = tempfile.tempdir
    tempfile.tempdir = str(directory)
    try:
        yield directory
    finally:
        tempfile.tempdir = previous


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, aws_endpoint: str) -> Settings:
    # A generous rate limit: these requests must fail for their own reason, not for the limit.
    return fresh_settings(
        tmp_path_factory.mktemp("corpus"), aws_endpoint, max_upload_bytes=MAX_UPLOAD_BYTES, rate_limit_requests=10_000
    )


@pytest.fixture(scope="module")
def client(settings: Settings, corpus_tmp: Path) -> Iterator[TestClient]:
    with app_client(settings) as test_client:
        yield test_client


def test_the_corpus_has_at_least_forty_requests() -> None:
    assert len(CASES) >= 40
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_a_4xx_json_error_that_leaves_nothing_behind(
    client: TestClient, settings: Settings, corpus_tmp: Path, case: Case
) -> None:
    area = settings.processed_images_dir.parent
    before = files_under(area)
    response = case.send(client)
    assert response.status_code == case.status, response.text[:500]
    if response.request.method != "HEAD":
        assert response.headers["content-type"] == "application/json"
        error = response.json()["error"]
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
        if case.code is not None:
            assert error["code"] == case.code
        assert "Traceback" not in error["message"]
    assert files_under(area) == before, "the request wrote a file"
    assert list(corpus_tmp.iterdir()) == [], "the request left a temporary file"
