"""HTTP calls to a running service. Each multipart body is built once, so the client spends little CPU."""

import json
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx


class UnexpectedResponse(RuntimeError):
    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        super().__init__(f"{method} {path} answered {response.status_code}: {response.text[:300]}")


@dataclass(frozen=True)
class Upload:
    body: bytes
    content_type: str


def multipart(image: bytes, fields: dict[str, object]) -> Upload:
    request = httpx.Request(
        "POST",
        "http://127.0.0.1/",
        files={"source_image": ("photo.jpg", image, "image/jpeg")},
        data={name: json.dumps(value) for name, value in fields.items()},
    )
    return Upload(body=request.read(), content_type=request.headers["Content-Type"])


class ServiceClient:
    """Thread-safe: one connection pool shared by the benchmark's worker threads."""

    def __init__(self, base_url: str, *, connections: int = 16, timeout: float = 120.0) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self._http = httpx.Client(base_url=base_url, timeout=timeout, limits=limits)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._http.close()

    def manual_crop(self, upload: Upload) -> str:
        """The retrieval URL of the stored crop."""
        return str(self._post("/images/manual-crop", upload, expect=200)["retrieval_url"])

    def manual_crop_status(self, upload: Upload) -> int:
        """The status code alone: under memory pressure a 503 is an answer to count, not a failure."""
        return self._send("/images/manual-crop", upload).status_code

    def smart_crop(self, upload: Upload) -> str:
        """The id of the accepted job."""
        return str(self._post("/images/smart-crop", upload, expect=202)["image_id"])

    def read_image(self, url: str) -> int:
        return len(self.read(url, "image/jpeg"))

    def read(self, url: str, content_type: str) -> bytes:
        """The body of a `200` of `content_type`; anything else ends the run."""
        response = self._http.get(url)
        if response.status_code != 200 or response.headers.get("content-type") != content_type:
            raise UnexpectedResponse("GET", url, response)
        return response.content

    def job_status(self, image_id: str) -> str:
        path = f"/jobs/{image_id}"
        response = self._http.get(path)
        if response.status_code != 200:
            raise UnexpectedResponse("GET", path, response)
        return str(response.json()["status"])

    def _post(self, path: str, upload: Upload, *, expect: int) -> dict[str, object]:
        response = self._send(path, upload)
        if response.status_code != expect:
            raise UnexpectedResponse("POST", path, response)
        payload: dict[str, object] = response.json()
        return payload

    def _send(self, path: str, upload: Upload) -> httpx.Response:
        return self._http.post(path, content=upload.body, headers={"Content-Type": upload.content_type})
