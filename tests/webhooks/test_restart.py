"""Under uvicorn a pending webhook retry survives the server: killed (-9) between attempts, the next server
finds the retry on the job record and makes it."""

import base64
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from tests.support import images
from tests.support.receiver import running_receiver
from tools.processes import free_port, service_process

SECRET = "whsec_" + base64.b64encode(b"webhook-restart-test-secret-0123").decode()


def job_when(url: str, status_url: str, done: Any, *, within: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + within
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = httpx.get(url + status_url, timeout=10).json()
        if done(job.get("webhook") or {}):
            return job
        time.sleep(0.05)
    raise AssertionError(f"not reached within {within} s: {job}")


def test_a_pending_retry_is_made_by_the_next_server_after_a_kill_9(tmp_path: Path, service_env: dict[str, str]) -> None:
    # Three failures: attempts at 0, 1 and 3 s, then the fourth is due 4 s later, past the kill.
    with running_receiver([500, 502, 503]) as receiver:
        env = {**service_env, "WEBHOOK_URL_PREFIXES": receiver.url, "WEBHOOK_SECRET": SECRET}
        port = free_port()
        with service_process(env, tmp_path / "first.log", port=port) as server:
            accepted = httpx.post(
                server.url + "/images/smart-crop",
                files={"source_image": ("photo.jpg", images.solid_jpeg(64, 48), "image/jpeg")},
                data={"product_info": json.dumps({"product_id": "ABC-123"}), "callback_url": receiver.url},
                timeout=10,
            )
            assert accepted.status_code == 202, accepted.text
            status_url = accepted.json()["status_url"]
            job_when(server.url, status_url, lambda webhook: webhook.get("attempts") == 3)
            os.kill(server.pid, signal.SIGKILL)
            killed_at = time.monotonic()
        assert len(receiver.received) == 3

        with service_process(env, tmp_path / "second.log", port=port) as server:
            job = job_when(server.url, status_url, lambda webhook: webhook.get("last_status") == "HTTP 204")
            arrived_after = time.monotonic() - killed_at

    assert job["webhook"]["attempts"] == 4
    assert len(receiver.received) == 4
    assert len({got.headers["webhook-id"] for got in receiver.received}) == 1
    print(f"the retry due 4 s after the third attempt arrived {arrived_after:.1f} s after the kill")
