"""The CDN's CloudFront Function (terraform/cdn/images_function.js), run in node against sample events.

CloudFront runs it on viewer request (negotiate, map to the bucket key, refuse what is not an image) and on
viewer response (Vary: Accept, immutable). The code is rendered as Terraform's templatefile() renders it.
"""

import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.support.terraform import TERRAFORM_DIR

NODE = shutil.which("node")
FUNCTION = TERRAFORM_DIR / "cdn" / "images_function.js"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed, so the CloudFront Function cannot run")

# Loads the function like CloudFront does (a script defining handler) and runs it on each event from stdin.
_HARNESS = """
const code = require('fs').readFileSync(process.argv[1], 'utf8');
const handler = new Function(code + '\\nreturn handler;')();
const events = JSON.parse(require('fs').readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(events.map((event) => handler(event))));
"""

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
OLD_CHROME = "image/webp,image/apng,image/*,*/*;q=0.8"
OLD_SAFARI = "image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
PRODUCT = "/images/ABC-123/0123456789abcdef0123456789abcdef"


def rendered(preset_formats: dict[str, list[str]] | None = None) -> str:
    """The function as Terraform renders it (templatefile with preset_formats = jsonencode(...))."""
    return FUNCTION.read_text().replace("${preset_formats}", json.dumps(preset_formats or {}))


def run(events: list[dict[str, Any]], tmp_path: Any, preset_formats: dict[str, list[str]] | None = None) -> Any:
    assert NODE is not None
    code = tmp_path / "function.js"
    code.write_text(rendered(preset_formats))
    result = subprocess.run(
        [NODE, "-e", _HARNESS, str(code)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return json.loads(result.stdout)


def viewer_request(uri: str, accept: str | None = None, **headers: dict[str, Any]) -> dict[str, Any]:
    request_headers: dict[str, Any] = {"host": {"value": "d111111abcdef8.cloudfront.net"}, **headers}
    if accept is not None:
        request_headers["accept"] = {"value": accept}
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-request"},
        "viewer": {"ip": "198.51.100.11"},
        "request": {"method": "GET", "uri": uri, "querystring": {}, "headers": request_headers, "cookies": {}},
    }


def viewer_response(request: dict[str, Any], status: int, **headers: str) -> dict[str, Any]:
    return {
        "version": "1.0",
        "context": {"eventType": "viewer-response"},
        "viewer": {"ip": "198.51.100.11"},
        "request": request,
        "response": {
            "statusCode": status,
            "statusDescription": "",
            "headers": {name: {"value": value} for name, value in headers.items()},
            "cookies": {},
        },
    }


def test_the_function_is_a_complete_template() -> None:
    """templatefile() interpolates ${...} and %{...}: the code holds no other, and renders to plain JS."""
    source = FUNCTION.read_text()
    assert source.count("${") == 1
    assert "%{" not in source


@pytest.mark.parametrize(
    ("accept", "uri"),
    [
        pytest.param(CHROME, f"{PRODUCT}/listing.avif", id="avif-first"),
        pytest.param(OLD_CHROME, f"{PRODUCT}/listing.webp", id="webp"),
        pytest.param(OLD_SAFARI, f"{PRODUCT}/listing.jpg", id="wildcards-are-not-avif"),
        pytest.param("*/*", f"{PRODUCT}/listing.jpg", id="curl"),
        pytest.param(None, f"{PRODUCT}/listing.jpg", id="no-accept"),
        pytest.param("image/AVIF;q=0, image/webp;q=0.5", f"{PRODUCT}/listing.webp", id="q-zero-refuses"),
        pytest.param("image/avif ; q=0.9", f"{PRODUCT}/listing.avif", id="spaces-and-q"),
    ],
)
def test_a_rendition_without_an_extension_is_rewritten_to_the_negotiated_format(
    tmp_path: Any, accept: str | None, uri: str
) -> None:
    (request,) = run([viewer_request(f"{PRODUCT}/listing", accept)], tmp_path)
    # The bucket's key (no /images prefix), and the cache key: one entry per format, never per Accept.
    assert request["uri"] == uri.removeprefix("/images")
    assert request["headers"]["x-image-negotiated"] == {"value": "true"}


def test_repeated_accept_headers_are_read_together(tmp_path: Any) -> None:
    event = viewer_request(f"{PRODUCT}/zoom")
    event["request"]["headers"]["accept"] = {
        "value": "image/png",
        "multiValue": [{"value": "image/png"}, {"value": "image/webp"}],
    }
    (request,) = run([event], tmp_path)
    assert request["uri"] == f"{PRODUCT.removeprefix('/images')}/zoom.webp"


def test_only_the_formats_a_preset_allows_are_negotiated(tmp_path: Any) -> None:
    formats = {"zoom": ["webp", "jpg"], "print": ["avif"]}
    events = [
        viewer_request(f"{PRODUCT}/zoom", CHROME),
        viewer_request(f"{PRODUCT}/listing", CHROME),
        viewer_request(f"{PRODUCT}/print", "*/*"),
    ]
    uris = [request["uri"] for request in run(events, tmp_path, formats)]
    key = PRODUCT.removeprefix("/images")
    assert uris == [f"{key}/zoom.webp", f"{key}/listing.avif", f"{key}/print.avif"]


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        pytest.param(f"{PRODUCT}.jpg", f"{PRODUCT}.jpg", id="result"),
        pytest.param(f"{PRODUCT}/thumbnail.webp", f"{PRODUCT}/thumbnail.webp", id="explicit-webp"),
        pytest.param(f"{PRODUCT}/thumbnail.avif", f"{PRODUCT}/thumbnail.avif", id="explicit-avif"),
        pytest.param(f"{PRODUCT}/thumbnail.jpg", f"{PRODUCT}/thumbnail.jpg", id="explicit-jpg"),
    ],
)
def test_explicit_addresses_keep_their_format_whatever_the_accept_header(tmp_path: Any, uri: str, key: str) -> None:
    (request,) = run([viewer_request(uri, CHROME)], tmp_path)
    assert request["uri"] == key.removeprefix("/images")
    assert "x-image-negotiated" not in request["headers"]


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("/", id="root"),
        pytest.param("/images/manual-crop", id="endpoint"),
        pytest.param("/images/.staging/0123.upload", id="staged-original"),
        pytest.param("/images/.uploads/abc/def", id="direct-upload"),
        pytest.param("/images/ABC-123/../x.jpg", id="dot-dot"),
        pytest.param(f"{PRODUCT}.png", id="other-extension"),
        pytest.param(f"{PRODUCT}/listing.gif", id="unknown-rendition-extension"),
        pytest.param(f"{PRODUCT}/listing/extra", id="too-deep"),
        pytest.param("/ABC-123/0123456789abcdef0123456789abcdef.jpg", id="bucket-key-directly"),
        pytest.param("/jobs/0123456789abcdef0123456789abcdef", id="other-api-route"),
    ],
)
def test_anything_but_an_image_address_is_answered_404_at_the_edge(tmp_path: Any, uri: str) -> None:
    (response,) = run([viewer_request(uri)], tmp_path)
    assert response["statusCode"] == 404
    assert response["headers"]["content-type"] == {"value": "application/json"}
    assert response["headers"]["cache-control"] == {"value": "no-store"}
    assert json.loads(response["body"]["data"])["error"]["code"] == "not_found"


def test_a_negotiated_answer_varies_on_accept_and_an_explicit_one_does_not(tmp_path: Any) -> None:
    negotiated, explicit = run(
        [viewer_request(f"{PRODUCT}/listing", CHROME), viewer_request(f"{PRODUCT}/listing.webp", CHROME)], tmp_path
    )
    as_sent = viewer_request(f"{PRODUCT}/listing", CHROME)["request"]
    responses = run(
        [
            viewer_response(negotiated, 200, **{"content-type": "image/avif"}),
            # Whichever request the response event carries, the one rewritten or the one the viewer sent.
            viewer_response(as_sent, 200, vary="Origin"),
            viewer_response(negotiated, 200, vary="accept"),
            viewer_response(explicit, 200),
        ],
        tmp_path,
    )
    assert [response["headers"].get("vary") for response in responses] == [
        {"value": "Accept"},
        {"value": "Origin, Accept"},
        {"value": "accept"},
        None,
    ]


def test_stored_objects_are_marked_immutable_and_the_services_own_cache_control_is_kept(tmp_path: Any) -> None:
    request = viewer_request(f"{PRODUCT}.jpg")["request"]
    responses = run(
        [
            viewer_response(request, 200),
            viewer_response(request, 304),
            viewer_response(request, 307, **{"cache-control": "no-store"}),
            viewer_response(request, 200, **{"cache-control": "public, max-age=60"}),
        ],
        tmp_path,
    )
    assert [response["headers"].get("cache-control") for response in responses] == [
        {"value": "public, max-age=31536000, immutable"},
        {"value": "public, max-age=31536000, immutable"},
        {"value": "no-store"},
        {"value": "public, max-age=60"},
    ]
