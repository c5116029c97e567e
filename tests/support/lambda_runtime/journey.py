"""The end-to-end run through the packaged functions: what a client does against the deployed API.

Every link is followed the way a browser would (resolved against the URL it came from, on the
stage's execute-api host), so a link without the stage fails. Each scenario's outcome is kept,
so one test per scenario reports it, and the IAM proof sees every call all of them made.
"""

import io
import json
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import boto3
import httpx
from PIL import Image

from bench.sample import photo_jpeg
from tests.support import images

from .deployment import Deployment
from .gateway import ASYNC_PAYLOAD_LIMIT, Gateway, HttpResponse
from .sandbox import ExecutionEnvironment

JPEG_MAGIC = b"\xff\xd8\xff"
# The operator's key (API_KEYS on the API function, see tests/lambda_runtime/conftest.py): every request sends it.
API_KEY = "e2e-operator-key-0123456789abcdef"
BOX = {"x": 10, "y": 20, "width": 120, "height": 80}


@dataclass
class Journey:
    deployment: Deployment
    gateway: Gateway
    api: ExecutionEnvironment
    worker: ExecutionEnvironment
    failures: dict[str, str] = field(default_factory=dict)
    worker_events: list[dict[str, Any]] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    replayed_up_to: int = 0

    def check(self, scenario: str) -> None:
        assert scenario in SCENARIOS, scenario
        assert scenario not in self.failures, f"{scenario}:\n{self.failures[scenario]}"

    def calls(self, function: str) -> list[dict[str, Any]]:
        environment = self.api if function == "api" else self.worker
        return environment.calls()

    # -- HTTP through the gateway -------------------------------------------------------------------

    def send(self, method: str, url: str, **kwargs: Any) -> tuple[str, HttpResponse]:
        """Send to `url` (relative to the stage base URL) and return the absolute URL and the response."""
        absolute = urljoin(self.gateway.base_url + "/", url.lstrip("/")) if not url.startswith("http") else url
        kwargs["headers"] = {"X-API-Key": API_KEY, **(kwargs.get("headers") or {})}
        response = self.gateway.request(method, absolute, **kwargs)
        self.replay_async_invocations()
        return absolute, response

    def follow(self, base: str, link: str, method: str = "GET") -> tuple[str, HttpResponse]:
        """A link from a response, resolved against the URL of that response, as a client resolves it."""
        return self.send(method, urljoin(base, link))

    def replay_async_invocations(self) -> None:
        """Deliver each asynchronous Invoke the API made (moto only accepted it) to the worker, as Lambda would."""
        invocations = self.api.invocations
        pending, self.replayed_up_to = invocations[self.replayed_up_to :], len(invocations)
        for invocation in pending:
            for call in invocation.calls:
                if call["service"] == "lambda" and call["operation"] == "Invoke":
                    self._deliver(call["params"])

    def _deliver(self, params: dict[str, Any]) -> None:
        assert params.get("InvocationType") == "Event", f"the worker must be invoked asynchronously: {params}"
        assert params["FunctionName"] in (self.worker.function.name, self.worker.function.arn)
        event = async_event(params)
        self.worker_events.append(event)
        # Lambda delivers an asynchronous event at least once: a duplicate must change nothing.
        for _ in range(2):
            outcome = self.worker.invoke(event)
            assert outcome.error is None, f"the worker raised on {event}: {outcome.message}\n{self.worker.log_tail()}"


def async_event(params: dict[str, Any]) -> dict[str, Any]:
    """The event of a recorded Invoke, held to the 256 KB Lambda accepts for an asynchronous invocation."""
    payload = params["Payload"]
    raw = payload["__bytes__"].encode("latin-1") if isinstance(payload, dict) else str(payload).encode()
    assert len(raw) <= ASYNC_PAYLOAD_LIMIT, f"an asynchronous event is at most 256 KB, this one is {len(raw)}"
    event: dict[str, Any] = json.loads(raw)
    return event


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[dict[str, str], bytes]:
    """A multipart/form-data body (also when it holds text fields only, which httpx would url-encode)."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
        + content
        + b"\r\n"
        for name, (filename, content, content_type) in files.items()
    ]
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}, body


def crop_form(
    product_id: str, *, box: dict[str, int] | None, source: dict[str, Any], profile: str | None = None
) -> tuple[dict[str, str], bytes]:
    fields = {"product_info": json.dumps({"product_id": product_id})}
    if profile is not None:
        fields["profile"] = profile
    if box is not None:
        fields["crop_box"] = json.dumps(box)
    files: dict[str, tuple[str, bytes, str]] = {}
    if "upload_id" in source:
        fields["source_upload_id"] = source["upload_id"]
    else:
        files["source_image"] = ("photo.jpg", source["bytes"], "image/jpeg")
    return multipart(fields, files)


def assert_jpeg(journey: Journey, base: str, retrieval_url: str) -> bytes:
    """GET the link; a 307 must lead to a presigned URL that serves the JPEG (fetched from the emulator)."""
    url, response = journey.follow(base, retrieval_url)
    if response.status == 307:
        location = response.headers["location"]
        assert location.startswith(journey.deployment.endpoint), f"the redirect leaves the emulator: {location}"
        fetched = httpx.get(location, timeout=10)
        assert fetched.status_code == 200, f"the presigned URL answered {fetched.status_code}: {fetched.text[:300]}"
        assert fetched.content.startswith(JPEG_MAGIC)
        return fetched.content
    assert response.status == 200, f"GET {url}: {response.describe()}"
    assert response.headers["content-type"] == "image/jpeg"
    assert response.body.startswith(JPEG_MAGIC), "the image arrived as text (binary media types?)"
    return response.body


def health(journey: Journey) -> None:
    url, response = journey.send("GET", "/health")
    assert response.status == 200, f"GET {url}: {response.describe()}"


def manual_crop(journey: Journey) -> None:
    headers, body = crop_form("E2E-MANUAL", box=BOX, source={"bytes": images.solid_jpeg(400, 300)})
    url, response = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert response.status == 200, f"POST {url}: {response.describe()}"
    created = response.json()
    cropped = assert_jpeg(journey, url, created["retrieval_url"])
    assert Image.open(io.BytesIO(cropped)).size == (BOX["width"], BOX["height"])
    # An unknown image is the service's JSON 404, also when images are delivered by redirect. (moto answers
    # the HEAD of a missing key 404; S3 answers 403 to a role without s3:ListBucket, which the store reads alike.)
    missing_url, missing = journey.follow(url, created["retrieval_url"].rsplit("/", 1)[0] + "/missing.jpg")
    assert missing.status == 404, f"GET {missing_url}: {missing.describe()}"
    assert missing.json()["error"]["code"], missing.describe()


def upload_then_crop(journey: Journey) -> None:
    url, response = journey.send("POST", "/uploads")
    assert response.status == 201, f"POST {url}: {response.describe()}"
    upload = response.json()
    source = images.solid_jpeg(640, 480)
    posted = httpx.post(
        upload["url"], data=upload["fields"], files={"file": ("photo.jpg", source, "image/jpeg")}, timeout=10
    )
    assert posted.status_code in (200, 201, 204), f"the presigned POST answered {posted.status_code}: {posted.text}"
    headers, body = crop_form("E2E-UPLOAD", box=BOX, source=upload)
    url, response = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert response.status == 200, f"POST {url}: {response.describe()}"
    assert_jpeg(journey, url, response.json()["retrieval_url"])
    # An upload is used once.
    url, again = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert 400 <= again.status < 500, f"a second use of the upload answered {again.status}"


def smart_crop(journey: Journey) -> None:
    headers, body = crop_form("E2E-SMART", box=None, source={"bytes": images.solid_jpeg(800, 600)})
    headers["Idempotency-Key"] = str(uuid.uuid4())
    url, response = journey.send("POST", "/images/smart-crop", headers=headers, body=body)
    assert response.status == 202, f"POST {url}: {response.describe()}"
    accepted = response.json()
    assert len(journey.worker_events) == 1, "the API accepted the job but invoked no worker"
    # A client retrying with the same Idempotency-Key gets the same job, and no second worker runs.
    url, retried = journey.send("POST", "/images/smart-crop", headers=headers, body=body)
    assert (retried.status, retried.json()["image_id"]) == (202, accepted["image_id"]), retried.describe()
    assert len(journey.worker_events) == 1, "a retried request invoked the worker again"
    assert response.headers.get("location"), "202 without a Location header"
    for link in (response.headers["location"], accepted["status_url"]):
        status_url, status = journey.follow(url, link)
        assert status.status == 200, f"GET {status_url}: {status.describe()}"
        assert status.json()["status"] == "succeeded", status.json()
    assert_jpeg(journey, status_url, status.json()["retrieval_url"])
    assert_jpeg(journey, url, accepted["retrieval_url"])


def phone_photo(journey: Journey) -> None:
    """A 12 MP, 3.4 MB photo (multipart, under the gateway's 6 MB after base64), cropped by hand and by the AI,
    so that both functions' peak memory is measured on the images they are sized for."""
    photo = photo_jpeg(4000, 3000)
    box = {"x": 1500, "y": 1000, "width": 1000, "height": 1000}
    headers, body = crop_form("E2E-PHOTO", box=box, source={"bytes": photo})
    url, response = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert response.status == 200, f"POST {url}: {response.describe()}"
    assert Image.open(io.BytesIO(assert_jpeg(journey, url, response.json()["retrieval_url"]))).size == (1000, 1000)
    headers, body = crop_form("E2E-PHOTO", box=None, source={"bytes": photo})
    url, response = journey.send("POST", "/images/smart-crop", headers=headers, body=body)
    assert response.status == 202, f"POST {url}: {response.describe()}"
    status_url, status = journey.follow(url, response.json()["status_url"])
    assert status.json()["status"] == "succeeded", f"GET {status_url}: {status.describe()}"


def catalog(journey: Journey) -> None:
    """A product's images listed, checked and deleted: a manual crop (checked eagerly) and a smart crop."""
    headers, body = crop_form(
        "E2E-CATALOG", box=BOX, source={"bytes": images.solid_jpeg(400, 300)}, profile="marketplace"
    )
    url, response = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert response.status == 200, f"POST {url}: {response.describe()}"
    manual = response.json()
    assert manual["checks"]["profile"] == "marketplace", manual
    headers, body = crop_form("E2E-CATALOG", box=None, source={"bytes": images.solid_jpeg(800, 600)})
    url, response = journey.send("POST", "/images/smart-crop", headers=headers, body=body)
    assert response.status == 202, f"POST {url}: {response.describe()}"
    smart = response.json()
    url, listing = journey.send("GET", "/products/E2E-CATALOG/images?limit=1")
    assert listing.status == 200, f"GET {url}: {listing.describe()}"
    first = listing.json()
    assert [entry["image_id"] for entry in first["images"]] == [smart["image_id"]]
    assert first["images"][0]["status"] == "succeeded", first
    url, listing = journey.send("GET", f"/products/E2E-CATALOG/images?limit=1&next={first['next']}")
    assert [entry["image_id"] for entry in listing.json()["images"]] == [manual["image_id"]], listing.describe()
    url, checks = journey.send("GET", f"/images/E2E-CATALOG/{smart['image_id']}/checks?profile=marketplace")
    assert checks.status == 200 and checks.json()["checks"], f"GET {url}: {checks.describe()}"
    # A rendition beside the manual crop, where renditions are stored: the DELETE removes it too.
    s3 = boto3.client("s3", endpoint_url=journey.deployment.endpoint, region_name="us-east-1")
    bucket = journey.deployment.outputs["images_bucket"]
    rendition = f"E2E-CATALOG/{manual['image_id']}/listing.jpg"
    s3.put_object(Bucket=bucket, Key=rendition, Body=images.solid_jpeg(40, 30))
    for created in (manual, smart):
        url, deleted = journey.send("DELETE", f"/images/E2E-CATALOG/{created['image_id']}")
        assert deleted.status == 204, f"DELETE {url}: {deleted.describe()}"
        url, again = journey.send("DELETE", f"/images/E2E-CATALOG/{created['image_id']}")
        assert again.status == 404, f"DELETE {url} again: {again.describe()}"
    url, listing = journey.send("GET", "/products/E2E-CATALOG/images")
    assert listing.json()["images"] == [], listing.describe()
    assert s3.list_objects_v2(Bucket=bucket, Prefix=f"E2E-CATALOG/{manual['image_id']}/")["KeyCount"] == 0


def docs(journey: Journey) -> None:
    url, response = journey.send("GET", "/docs")
    assert response.status == 200, f"GET {url}: {response.describe()}"
    page = response.body.decode()
    spec_link = page.split("url: '", 1)[1].split("'", 1)[0] if "url: '" in page else "/openapi.json"
    spec_url, spec = journey.follow(url, spec_link)
    assert spec.status == 200, f"the docs page loads {spec_url}: {spec.describe()}"


SCENARIOS: dict[str, Callable[[Journey], None]] = {
    "health": health,
    "manual crop": manual_crop,
    "upload then crop": upload_then_crop,
    "smart crop": smart_crop,
    "phone photo": phone_photo,
    "catalog": catalog,
    "docs": docs,
}


def run_journey(
    deployment: Deployment, gateway: Gateway, api: ExecutionEnvironment, worker: ExecutionEnvironment
) -> Journey:
    journey = Journey(deployment=deployment, gateway=gateway, api=api, worker=worker)
    for name, scenario in SCENARIOS.items():
        started = time.monotonic()
        try:
            scenario(journey)
        except Exception:
            journey.failures[name] = traceback.format_exc()
        journey.durations[name] = time.monotonic() - started
    return journey
