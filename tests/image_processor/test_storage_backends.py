"""The image store contract, run against both backends: files in a temp dir, and S3 over the wire on moto."""

import threading
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.exceptions import EndpointConnectionError

from image_processor.assembly import build_storage
from image_processor.errors import DependencyUnavailable
from image_processor.settings import Settings
from image_processor.storage.backend import StorageBackend

JPEG = b"\xff\xd8\xff\xe0" + b"x" * 4096 + b"\xff\xd9"
Plant = Callable[[str, bytes], None]


@pytest.fixture(params=["filesystem", "s3"])
def storage_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def storage(settings: Settings) -> StorageBackend:
    storage = build_storage(settings)
    storage.start()
    return storage


@pytest.fixture
def plant(settings: Settings, aws_endpoint: str) -> Plant:
    """Writes an object at a raw key behind the store's back, as a stray file or object would be."""
    if settings.storage_backend == "s3":
        s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
        return lambda key, data: s3.put_object(Bucket=settings.s3_bucket or "", Key=key, Body=data) and None

    def write(key: str, data: bytes) -> None:
        path = settings.processed_images_dir.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return write


def test_a_saved_image_reads_back_whole_with_its_size_and_a_quoted_etag(storage: StorageBackend) -> None:
    storage.results.save("ABC-123/abc.jpg", JPEG)

    stored = storage.results.stat("ABC-123/abc.jpg")
    fetched = storage.results.fetch("ABC-123/abc.jpg")

    assert stored is not None and fetched is not None
    assert fetched.content == JPEG
    assert stored.size == len(JPEG) == fetched.object.size
    assert stored.etag == fetched.object.etag
    assert stored.etag.startswith('"') and stored.etag.endswith('"')


def test_the_etag_changes_when_the_image_changes(storage: StorageBackend) -> None:
    storage.results.save("ABC-123/abc.jpg", JPEG)
    first = storage.results.stat("ABC-123/abc.jpg")
    storage.results.save("ABC-123/abc.jpg", JPEG + b"more")
    second = storage.results.stat("ABC-123/abc.jpg")
    assert first is not None and second is not None
    assert first.etag != second.etag


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param("ABC-123/missing.jpg", id="missing"),
        pytest.param("ABC-123", id="folder"),
        pytest.param("ABC-123/abc.jpg/", id="trailing-slash"),
        pytest.param("ABC-123/notes.txt", id="not-a-jpeg"),
        pytest.param("../secret.jpg", id="dot-dot"),
        pytest.param("ABC-123/../ABC-123/abc.jpg", id="dot-dot-inside"),
        pytest.param("%2e%2e/secret.jpg", id="encoded-dots"),
        pytest.param("%252e%252e/secret.jpg", id="double-encoded-dots"),
        pytest.param("ABC-123%2fabc.jpg", id="encoded-slash"),
        pytest.param("/ABC-123/abc.jpg", id="absolute"),
        pytest.param("ABC-123//abc.jpg", id="double-slash"),
        pytest.param("ABC-123\\abc.jpg", id="backslash"),
        pytest.param("ABC-123/abc.jpg\x00.png", id="nul"),
        pytest.param("ABC-123/.hidden.jpg", id="dot-file"),
        pytest.param(".staging/staged.jpg", id="staging-folder"),
        pytest.param(".uploads/upload.jpg", id="uploads-folder"),
        pytest.param("./ABC-123/abc.jpg", id="dot-segment"),
    ],
)
def test_anything_but_a_stored_image_under_a_plain_path_is_not_there(
    storage: StorageBackend, plant: Plant, requested: str
) -> None:
    storage.results.save("ABC-123/abc.jpg", JPEG)
    for key in ("ABC-123/.hidden.jpg", "ABC-123/notes.txt", ".staging/staged.jpg", ".uploads/upload.jpg"):
        plant(key, JPEG)
    assert storage.results.stat(requested) is None
    assert storage.results.fetch(requested) is None


@pytest.mark.parametrize("key", ["../escape.jpg", "/abs.jpg", "a\\b.jpg", ".staging/a.jpg", "a/.b.jpg", ""])
def test_save_refuses_keys_that_are_not_plain_names(storage: StorageBackend, key: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        storage.results.save(key, JPEG)


def test_staged_originals_round_trip_are_listed_and_never_served(storage: StorageBackend) -> None:
    storage.staging.stage("0123abcd", b"original")
    assert storage.staging.staged_ids() == ["0123abcd"]
    assert storage.staging.read_staged("0123abcd") == b"original"
    assert storage.results.fetch(".staging/0123abcd.upload") is None
    storage.staging.discard_staged("0123abcd")
    storage.staging.discard_staged("0123abcd")
    assert storage.staging.read_staged("0123abcd") is None
    assert storage.staging.staged_ids() == []


def test_an_upload_is_taken_once(storage: StorageBackend) -> None:
    storage.inbox.put_upload("u0123", JPEG)
    assert storage.inbox.take_upload("u0123", 1_000_000) == JPEG
    assert storage.inbox.take_upload("u0123", 1_000_000) is None
    assert storage.inbox.take_upload("never-uploaded", 1_000_000) is None


def test_of_concurrent_takers_of_one_upload_exactly_one_gets_it(storage: StorageBackend) -> None:
    for round_number in range(5):
        upload_id = f"race{round_number}"
        storage.inbox.put_upload(upload_id, JPEG)
        results: list[bytes | None] = []
        start = threading.Barrier(4)
        threads = [threading.Thread(target=_take, args=(storage, upload_id, start, results)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(result is not None for result in results) == [False, False, False, True]
        assert [result for result in results if result is not None] == [JPEG]


@pytest.mark.parametrize("storage_backend", ["s3"])
def test_a_presigned_url_serves_the_object_from_s3(storage: StorageBackend) -> None:
    storage.results.save("ABC-123/abc.jpg", JPEG)
    assert storage.direct_links is not None
    url = storage.direct_links.presigned_url("ABC-123/abc.jpg", 60)
    assert "X-Amz-Signature=" in url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == JPEG


@pytest.mark.parametrize("storage_backend", ["filesystem"])
def test_the_file_system_store_has_no_presigned_urls(storage: StorageBackend, settings: Settings) -> None:
    storage.results.save("ABC-123/abc.jpg", JPEG)
    assert storage.direct_links is None
    assert Path(settings.processed_images_dir / "ABC-123" / "abc.jpg").read_bytes() == JPEG


def _take(storage: StorageBackend, upload_id: str, start: threading.Barrier, results: list[bytes | None]) -> None:
    start.wait()
    results.append(storage.inbox.take_upload(upload_id, 1_000_000))


@pytest.mark.parametrize("storage_backend", ["s3"])
def test_an_upload_whose_read_fails_can_be_taken_on_a_retry(storage: StorageBackend) -> None:
    """The claim is released when S3 cannot be read, so an outage does not use the upload up."""
    storage.inbox.put_upload("u-outage", JPEG)
    client = storage.inbox._client  # type: ignore[attr-defined]
    failures = [EndpointConnectionError(endpoint_url="http://127.0.0.1:9")]

    def fail_once(**_: object) -> None:
        if failures:
            raise failures.pop()

    client.meta.events.register("before-call.s3.GetObject", fail_once)
    with pytest.raises(DependencyUnavailable):
        storage.inbox.take_upload("u-outage", 1_000_000)
    assert storage.inbox.take_upload("u-outage", 1_000_000) == JPEG
