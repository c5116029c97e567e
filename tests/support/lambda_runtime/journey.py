"""The end-to-end run through the packaged functions: what a client does against the deployed API.

Every link is followed the way a browser would (resolved against the URL it came from, on the
stage's execute-api host), so a link without the stage fails. Each scenario's outcome is kept,
so one test per scenario reports it, and the IAM proof sees every call all of them made.

The failure paths run too: an AI that never answers (a second worker environment whose AI_SERVICE_URL
is a loopback socket that accepts and never replies), a job polled past its deadline and a late result
(the job record's creation time moved back, as time passing would), a staged original that is gone,
and direct uploads that are not an image, unknown, or expired. Their clean-up calls are what the
happy paths never make. A webhook whose receiver fails is retried through the SQS retry queue: moto
keeps the queue but runs no event source mapping, so the run receives the message, once due, and hands
it to the worker as the mapping would (twice: SQS delivers at least once).
"""

import base64
import io
import json
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import boto3
import httpx
from PIL import Image
from standardwebhooks import Webhook

from bench.sample import photo_jpeg
from image_processor.storage.keys import staged_key
from tests.support import images
from tests.support.receiver import Receiver
from tests.support.sqs import sqs_event
from tests.support.terraform import client

from .deployment import Deployment
from .gateway import ASYNC_PAYLOAD_LIMIT, Gateway, HttpResponse
from .sandbox import ExecutionEnvironment

JPEG_MAGIC = b"\xff\xd8\xff"
# The operator's key (API_KEYS on the API function, see tests/lambda_runtime/conftest.py): every request sends it.
API_KEY = "e2e-operator-key-0123456789abcdef"
BOX = {"x": 10, "y": 20, "width": 120, "height": 80}
# WEBHOOK_SECRET of both functions (tests/lambda_runtime/conftest.py).
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"lambda-runtime-webhook-secret-01").decode()


@dataclass
class Journey:
    deployment: Deployment
    gateway: Gateway
    api: ExecutionEnvironment
    worker: ExecutionEnvironment
    # The same worker zip and configuration, but with an AI_SERVICE_URL that never answers.
    silent_ai_worker: ExecutionEnvironment
    # The callback_url target both functions may call (WEBHOOK_URL_PREFIXES).
    webhook_receiver: Receiver
    failures: dict[str, str] = field(default_factory=dict)
    worker_events: list[dict[str, Any]] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)
    replayed_up_to: int = 0
    # While set, the API's asynchronous invocations are kept here instead of delivered (see `held_events`).
    held: list[dict[str, Any]] | None = None

    def check(self, scenario: str) -> None:
        assert scenario in SCENARIOS, scenario
        assert scenario not in self.failures, f"{scenario}:\n{self.failures[scenario]}"

    def calls(self, function: str) -> list[dict[str, Any]]:
        if function == "api":
            return self.api.calls()
        return self.worker.calls() + self.silent_ai_worker.calls()

    @contextmanager
    def held_events(self) -> Iterator[list[dict[str, Any]]]:
        """Keep the worker events the API queues meanwhile, so a scenario can deliver them late or elsewhere."""
        self.held = []
        try:
            yield self.held
        finally:
            self.held = None

    def deliver_until_done(self, environment: ExecutionEnvironment, event: dict[str, Any]) -> None:
        """Deliver as Lambda does: retry an invocation that raised, up to the deployed retries, then once more
        (a duplicate must change nothing)."""
        for _ in range(1 + self.deployment.worker_retries):
            outcome = environment.invoke(event)
            if outcome.error is None:
                break
        assert outcome.error is None, (
            f"the worker raised on every delivery: {outcome.message}\n{environment.log_tail()}"
        )
        duplicate = environment.invoke(event)
        assert duplicate.error is None, f"a duplicate delivery raised: {duplicate.message}"

    def age_job(self, image_id: str) -> None:
        """Move the job's creation time back past its deadline, as time passing would."""
        environment = self.api.function.environment
        deadline = int(environment["JOB_DEADLINE_SECONDS"])
        client("dynamodb", self.deployment.endpoint).update_item(
            TableName=environment["JOBS_TABLE"],
            Key={"image_id": {"S": image_id}},
            UpdateExpression="SET created_at = :old",
            ExpressionAttributeValues={":old": {"N": str(int(time.time()) - deadline - 60)}},
        )

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
                    if self.held is not None:
                        self.held.append(async_event(call["params"]))
                    else:
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


def s3_writes(journey: Journey, function: str, since: int) -> list[str]:
    """The keys the function PUT to S3 in its invocations from number `since` on."""
    environment = journey.api if function == "api" else journey.worker
    return [
        str(call["params"]["Key"])
        for invocation in environment.invocations[since:]
        for call in invocation.calls
        if (call["service"], call["operation"]) == ("s3", "PutObject")
    ]


def fetch_rendition(journey: Journey, base: str, link: str, media_type: str, *, accept: str | None = None) -> bytes:
    """GET a rendition link; on the Lambda stack a 307 to the stored object, fetched from the emulator."""
    url, response = journey.send("GET", urljoin(base, link), headers={"Accept": accept} if accept else None)
    assert response.status == 307, f"GET {url}: {response.describe()}"
    if accept is not None:
        assert response.headers.get("vary") == "Accept", f"a negotiated answer without Vary: {response.describe()}"
    fetched = httpx.get(response.headers["location"], timeout=10)
    assert fetched.status_code == 200, f"the presigned URL answered {fetched.status_code}: {fetched.text[:300]}"
    assert fetched.headers["content-type"] == media_type
    assert fetched.headers["cache-control"] == "public, max-age=31536000, immutable"
    return fetched.content


def renditions(journey: Journey) -> None:
    """Through the API function: a rendition's first request makes and stores it, the second finds it stored;
    a smart crop that asks for renditions has the worker make them before the job succeeds."""
    headers, body = crop_form("E2E-RENDITION", box=BOX, source={"bytes": images.solid_jpeg(400, 300)})
    url, response = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert response.status == 200, f"POST {url}: {response.describe()}"
    created = response.json()
    listing = f"E2E-RENDITION/{created['image_id']}/listing.webp"

    before = len(journey.api.invocations)
    first = fetch_rendition(journey, url, created["renditions"]["listing"] + ".webp", "image/webp")
    assert s3_writes(journey, "api", before) == [listing], "the first request did not store the rendition"
    before = len(journey.api.invocations)
    second = fetch_rendition(journey, url, created["renditions"]["listing"] + ".webp", "image/webp")
    assert s3_writes(journey, "api", before) == [], "the second request made the rendition again"
    assert first == second
    assert Image.open(io.BytesIO(first)).size == (600, 600)
    # Negotiated: AVIF for a client that takes it, JPEG for one that names neither AVIF nor WebP.
    before = len(journey.api.invocations)
    fetch_rendition(journey, url, created["renditions"]["listing"], "image/avif", accept="image/avif,image/webp,*/*")
    thumbnail = fetch_rendition(journey, url, created["renditions"]["thumbnail"], "image/jpeg", accept="*/*")
    assert s3_writes(journey, "api", before) == [
        listing.replace(".webp", ".avif"),
        listing.replace("listing.webp", "thumbnail.jpg"),
    ]
    assert Image.open(io.BytesIO(thumbnail)).size == (BOX["width"], BOX["height"])

    headers, body = multipart(
        {"product_info": json.dumps({"product_id": "E2E-RENDITION"}), "renditions": '["thumbnail"]'},
        {"source_image": ("photo.jpg", images.solid_jpeg(800, 600), "image/jpeg")},
    )
    before = len(journey.worker.invocations)
    url, response = journey.send("POST", "/images/smart-crop", headers=headers, body=body)
    assert response.status == 202, f"POST {url}: {response.describe()}"
    accepted = response.json()
    thumbnails = {f"E2E-RENDITION/{accepted['image_id']}/thumbnail.{fmt}" for fmt in ("jpg", "webp", "avif")}
    assert thumbnails <= set(s3_writes(journey, "worker", before)), "the worker did not make the renditions"
    status_url, status = journey.follow(url, accepted["status_url"])
    assert status.json()["status"] == "succeeded", f"GET {status_url}: {status.describe()}"
    before = len(journey.api.invocations)
    fetch_rendition(journey, status_url, status.json()["renditions"]["thumbnail"] + ".avif", "image/avif")
    assert s3_writes(journey, "api", before) == [], "an eager rendition was made again on request"


def docs(journey: Journey) -> None:
    url, response = journey.send("GET", "/docs")
    assert response.status == 200, f"GET {url}: {response.describe()}"
    page = response.body.decode()
    spec_link = page.split("url: '", 1)[1].split("'", 1)[0] if "url: '" in page else "/openapi.json"
    spec_url, spec = journey.follow(url, spec_link)
    assert spec.status == 200, f"the docs page loads {spec_url}: {spec.describe()}"


def held_smart_crop(journey: Journey, product_id: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A smart crop the API accepts, whose worker event is kept back: (request URL, answer, event)."""
    headers, body = crop_form(product_id, box=None, source={"bytes": images.solid_jpeg(320, 240)})
    with journey.held_events() as held:
        url, response = journey.send("POST", "/images/smart-crop", headers=headers, body=body)
    assert response.status == 202, f"POST {url}: {response.describe()}"
    assert len(held) == 1, f"expected one queued job, found {len(held)}"
    return url, response.json(), held[0]


def job_status(journey: Journey, url: str, accepted: dict[str, Any]) -> dict[str, Any]:
    status_url, status = journey.follow(url, accepted["status_url"])
    assert status.status == 200, f"GET {status_url}: {status.describe()}"
    answer: dict[str, Any] = status.json()
    return answer


def assert_no_image(journey: Journey, url: str, retrieval_url: str) -> None:
    image_url, image = journey.follow(url, retrieval_url)
    assert image.status == 404, f"GET {image_url}: a failed job's image is served: {image.describe()}"


def ai_never_answers(journey: Journey) -> None:
    """Every attempt times out; Lambda's retries end with the job failed for good and no image left."""
    url, accepted, event = held_smart_crop(journey, "E2E-SILENT-AI")
    journey.deliver_until_done(journey.silent_ai_worker, event)
    status = job_status(journey, url, accepted)
    assert status["status"] == "failed", status
    assert_no_image(journey, url, accepted["retrieval_url"])


def polled_past_deadline(journey: Journey) -> None:
    """A job the worker never ran: the poll past its deadline fails it (and removes any image); the late
    delivery that follows finds it failed and only cleans up."""
    url, accepted, event = held_smart_crop(journey, "E2E-DEADLINE")
    journey.age_job(accepted["image_id"])
    status = job_status(journey, url, accepted)
    assert status["status"] == "failed", status
    journey.deliver_until_done(journey.worker, event)
    assert job_status(journey, url, accepted)["status"] == "failed"
    assert_no_image(journey, url, accepted["retrieval_url"])


def late_result(journey: Journey) -> None:
    """The worker finishes after the deadline: its image is written, refused, and removed again."""
    url, accepted, event = held_smart_crop(journey, "E2E-LATE")
    journey.age_job(accepted["image_id"])
    journey.deliver_until_done(journey.worker, event)
    status = job_status(journey, url, accepted)
    assert status["status"] == "failed", status
    assert_no_image(journey, url, accepted["retrieval_url"])


def staged_original_gone(journey: Journey) -> None:
    """The staged original has gone (the lifecycle rule, say): S3 must say 404, and the job fails for good."""
    url, accepted, event = held_smart_crop(journey, "E2E-GONE")
    bucket = journey.api.function.environment["S3_BUCKET"]
    client("s3", journey.deployment.endpoint).delete_object(Bucket=bucket, Key=staged_key(accepted["image_id"]))
    journey.deliver_until_done(journey.worker, event)
    status = job_status(journey, url, accepted)
    assert status["status"] == "failed", status


def upload_not_an_image(journey: Journey) -> None:
    """A direct upload of text sent as image/jpeg is refused with a JSON 4xx and consumed."""
    url, response = journey.send("POST", "/uploads")
    assert response.status == 201, f"POST {url}: {response.describe()}"
    upload = response.json()
    posted = httpx.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("a.jpg", b"not an image at all", "image/jpeg")},
        timeout=10,
    )
    assert posted.status_code in (200, 201, 204), f"the presigned POST answered {posted.status_code}: {posted.text}"
    headers, body = crop_form("E2E-NOT-IMAGE", box=BOX, source=upload)
    url, refused = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert refused.status in (415, 422), f"POST {url}: {refused.describe()}"
    assert refused.json()["error"]["code"], refused.describe()
    url, again = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert again.status == 404, f"a refused upload was kept: {again.describe()}"


def expired_or_unknown_upload(journey: Journey) -> None:
    """An upload never sent is a 404 (S3 says the key is missing); one past its lifetime is a 410."""
    url, response = journey.send("POST", "/uploads")
    assert response.status == 201, f"POST {url}: {response.describe()}"
    never_sent = response.json()
    headers, body = crop_form("E2E-UNSENT", box=BOX, source=never_sent)
    url, unknown = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert unknown.status == 404, f"POST {url}: {unknown.describe()}"
    ttl = int(journey.api.function.environment["UPLOAD_TTL_SECONDS"])
    expired = {"upload_id": f"{int(time.time()) - 2 * ttl - 60}-{uuid.uuid4().hex}"}
    headers, body = crop_form("E2E-EXPIRED", box=BOX, source=expired)
    url, gone = journey.send("POST", "/images/manual-crop", headers=headers, body=body)
    assert gone.status == 410, f"POST {url}: {gone.describe()}"
    assert gone.json()["error"]["code"], gone.describe()


def retry_queue_event(journey: Journey) -> dict[str, Any]:
    """The next message of the webhook retry queue, once due, as the event source mapping hands it to the
    worker; deleted from the queue as the mapping does when the function succeeds."""
    sqs = client("sqs", journey.deployment.endpoint)
    queue_url = journey.deployment.outputs["webhook_retry_queue_url"]
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    while not messages and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10).get(
            "Messages", []
        )
    assert messages, "no webhook retry was queued"
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return sqs_event(messages, queue_arn)


def deliver_retries(journey: Journey) -> float:
    """The queued retries handed to the worker (and once more: a duplicate); seconds they waited in the queue."""
    started = time.monotonic()
    event = retry_queue_event(journey)
    waited = time.monotonic() - started
    for _ in range(2):
        outcome = journey.worker.invoke(event)
        assert outcome.error is None, f"the worker raised on {event}: {outcome.message}\n{journey.worker.log_tail()}"
        assert outcome.result == {"batchItemFailures": []}, outcome.result
    return waited


def webhook_retried_through_the_queue(journey: Journey) -> None:
    """Issue 21: the receiver fails the first attempt (made where the job ended: the worker for a finished job,
    the API for one it fails at its deadline); the retry waits in the SQS queue, and the worker makes it."""
    receiver = journey.webhook_receiver
    with receiver.lock:
        receiver.received.clear()
        receiver.statuses[:] = [503]
    callback = receiver.url + "/e2e"
    headers, body = multipart(
        {"product_info": json.dumps({"product_id": "E2E-WEBHOOK"}), "callback_url": callback},
        {"source_image": ("photo.jpg", images.solid_jpeg(320, 240), "image/jpeg")},
    )
    url, response = journey.send("POST", "/images/smart-crop", headers=headers, body=body)
    assert response.status == 202, f"POST {url}: {response.describe()}"
    accepted = response.json()
    assert len(receiver.received) == 1, "the worker made no first attempt within its invocation"
    journey.durations["webhook retry wait (worker)"] = deliver_retries(journey)
    status = job_status(journey, url, accepted)
    assert status["webhook"] == {"url": callback, "attempts": 2, "last_status": "HTTP 204"}, status
    assert len(receiver.received) == 2, "the duplicate message was delivered again"
    delivered = receiver.received[-1]
    assert Webhook(WEBHOOK_SECRET).verify(delivered.body, delivered.headers)["status"] == "succeeded"

    # The API fails a job at its deadline: its first attempt fails, and the API queues the retry.
    with receiver.lock:
        receiver.received.clear()
        receiver.statuses[:] = [500]
    headers, body = multipart(
        {"product_info": json.dumps({"product_id": "E2E-WEBHOOK"}), "callback_url": callback},
        {"source_image": ("photo.jpg", images.solid_jpeg(320, 240), "image/jpeg")},
    )
    with journey.held_events():
        url, response = journey.send("POST", "/images/smart-crop", headers=headers, body=body)
    assert response.status == 202, f"POST {url}: {response.describe()}"
    accepted = response.json()
    journey.age_job(accepted["image_id"])
    assert job_status(journey, url, accepted)["status"] == "failed"
    assert len(receiver.received) == 1, "the API made no first attempt within its invocation"
    journey.durations["webhook retry wait (api)"] = deliver_retries(journey)
    status = job_status(journey, url, accepted)
    assert status["webhook"] == {"url": callback, "attempts": 2, "last_status": "HTTP 204"}, status
    assert Webhook(WEBHOOK_SECRET).verify(receiver.received[-1].body, receiver.received[-1].headers)["status"] == (
        "failed"
    )


SCENARIOS: dict[str, Callable[[Journey], None]] = {
    "health": health,
    "manual crop": manual_crop,
    "upload then crop": upload_then_crop,
    "smart crop": smart_crop,
    "phone photo": phone_photo,
    "catalog": catalog,
    "renditions": renditions,
    "docs": docs,
    "AI never answers": ai_never_answers,
    "polled past deadline": polled_past_deadline,
    "late result": late_result,
    "staged original gone": staged_original_gone,
    "upload not an image": upload_not_an_image,
    "expired or unknown upload": expired_or_unknown_upload,
    "webhook retried through the queue": webhook_retried_through_the_queue,
}


def run_journey(
    deployment: Deployment,
    gateway: Gateway,
    api: ExecutionEnvironment,
    worker: ExecutionEnvironment,
    silent_ai_worker: ExecutionEnvironment,
    webhook_receiver: Receiver,
) -> Journey:
    journey = Journey(
        deployment=deployment,
        gateway=gateway,
        api=api,
        worker=worker,
        silent_ai_worker=silent_ai_worker,
        webhook_receiver=webhook_receiver,
    )
    for name, scenario in SCENARIOS.items():
        started = time.monotonic()
        try:
            scenario(journey)
        except Exception:
            journey.failures[name] = traceback.format_exc()
        journey.durations[name] = time.monotonic() - started
    return journey
