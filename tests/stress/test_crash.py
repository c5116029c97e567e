"""kill -9 the server mid-work: accepted jobs still finish, and no partial or temporary file is ever served."""

import contextlib
import io
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from PIL import Image

from tests.support import images, scenes
from tools.processes import free_port, service_process


def is_whole_jpeg(data: bytes) -> bool:
    if not (data.startswith(b"\xff\xd8") and data.rstrip(b"\x00").endswith(b"\xff\xd9")):
        return False
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except OSError:
        return False
    return True


def job_statuses(url: str, status_urls: list[str]) -> list[str]:
    with httpx.Client(base_url=url, timeout=10) as client:
        return [client.get(status_url).json()["status"] for status_url in status_urls]


@contextlib.contextmanager
def killed_with_jobs_accepted(
    env: dict[str, str], log: Path, port: int, *, count: int, product_id: str, ready: Callable[[list[str]], bool]
) -> Iterator[tuple[list[dict[str, str]], int]]:
    """Accept `count` smart crops, wait (at most 10 s) until `ready(statuses)`, then kill -9 the server.

    Yields the accepted answers and the dead server's pid while it is still unreaped (a zombie: its parent,
    this test, has not waited for it), as it stays under a PID 1 that never reaps; it is reaped on the way out."""
    scene = scenes.product_on_plain_background()
    with service_process(env, log, port=port) as server:
        with httpx.Client(base_url=server.url) as client:
            accepted = [
                client.post(
                    "/images/smart-crop",
                    files={"source_image": ("photo.jpg", scene.jpeg, "image/jpeg")},
                    data={"product_info": json.dumps({"product_id": product_id})},
                ).json()
                for _ in range(count)
            ]
        status_urls = [body["status_url"] for body in accepted]
        deadline = time.monotonic() + 10
        while not ready(job_statuses(server.url, status_urls)) and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(server.pid, signal.SIGKILL)
        yield accepted, server.pid


def accept_then_kill_9(
    env: dict[str, str], log: Path, port: int, *, count: int, product_id: str, ready: Callable[[list[str]], bool]
) -> list[dict[str, str]]:
    with killed_with_jobs_accepted(env, log, port, count=count, product_id=product_id, ready=ready) as (accepted, _):
        return accepted


def process_state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2 :].split()[0]


def test_accepted_smart_crops_survive_a_kill_9(service_env: dict[str, str], tmp_path: Path) -> None:
    """Audit 15: every accepted job ends after a kill -9 and restart."""
    env = {
        **service_env,
        "MOCK_AI_LATENCY_SECONDS": "1.5",
        "WORKER_TIMEOUT_SECONDS": "3",
        "LOCAL_WORKER_CONCURRENCY": "2",
    }
    port = free_port()
    accepted = accept_then_kill_9(
        env,
        tmp_path / "before.log",
        port,
        count=6,
        product_id="CRASH-1",
        ready=lambda statuses: "processing" in statuses,
    )
    status_urls = [body["status_url"] for body in accepted]

    with service_process(env, tmp_path / "after.log", port=port) as server:
        before = job_statuses(server.url, status_urls)
        deadline = time.monotonic() + 60
        statuses = before
        while any(status not in ("succeeded", "failed") for status in statuses) and time.monotonic() < deadline:
            time.sleep(0.25)
            statuses = job_statuses(server.url, status_urls)
        with httpx.Client(base_url=server.url) as client:
            results = [client.get(body["retrieval_url"]) for body in accepted]

    print(f"jobs at restart: {before}; after recovery: {statuses}")
    assert any(status in ("pending", "processing") for status in before), "the kill came too late to test anything"
    assert statuses == ["succeeded"] * len(accepted)
    assert all(result.status_code == 200 and is_whole_jpeg(result.content) for result in results)
    assert list(Path(env["PROCESSED_IMAGES_DIR"], ".staging").iterdir()) == []


def test_jobs_in_flight_at_a_kill_9_resume_at_once_after_the_restart(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    """The restarted server releases the claims its dead process held instead of waiting out their
    lifetime (WORKER_TIMEOUT_SECONDS, left at its default of 120 s): the jobs end within 10 s plus the AI's latency,
    although the killed process is not reaped yet when the new one starts (issue: a zombie was judged alive)."""
    latency = 1.5
    env = {**service_env, "MOCK_AI_LATENCY_SECONDS": str(latency), "LOCAL_WORKER_CONCURRENCY": "2"}
    env.pop("WORKER_TIMEOUT_SECONDS", None)
    port = free_port()
    with (
        killed_with_jobs_accepted(
            env, tmp_path / "before.log", port, count=2, product_id="CRASH-3", ready=lambda s: s == ["processing"] * 2
        ) as (accepted, dead_pid),
        service_process(env, tmp_path / "after.log", port=port) as server,
    ):
        restarted = time.monotonic()
        unreaped = process_state(dead_pid)
        status_urls = [body["status_url"] for body in accepted]
        before = job_statuses(server.url, status_urls)
        statuses = before
        while any(status not in ("succeeded", "failed") for status in statuses) and time.monotonic() < restarted + 60:
            time.sleep(0.1)
            statuses = job_statuses(server.url, status_urls)
        recovery_seconds = time.monotonic() - restarted
        still_unreaped = process_state(dead_pid)

    print(f"jobs at restart: {before}; all ended {recovery_seconds:.1f} s after the restart: {statuses}")
    assert unreaped == still_unreaped == "Z", "the killed server was reaped: this run tests nothing new"
    assert before == ["processing"] * 2, "the kill did not catch both jobs in flight"
    assert statuses == ["succeeded"] * 2
    assert recovery_seconds < 10 + latency


def test_no_partial_or_temporary_file_is_served_after_a_kill_9_during_writes(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    """Audit 12: no partial file is served, even after a crash."""
    env = {**service_env, "IMAGE_CONCURRENCY": "2"}
    root = Path(env["PROCESSED_IMAGES_DIR"])
    port = free_port()
    upload = images.encode(Image.effect_noise((2400, 1800), 60).convert("RGB"), quality=95)
    form = {
        "product_info": json.dumps({"product_id": "CRASH-2"}),
        "crop_box": json.dumps({"x": 0, "y": 0, "width": 2400, "height": 1800}),
    }
    served: list[bytes] = []
    stop = threading.Event()

    def write_and_read(url: str) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                try:
                    created = client.post(
                        "/images/manual-crop", files={"source_image": ("a.jpg", upload, "image/jpeg")}, data=form
                    )
                    if created.status_code == 200:
                        got = client.get(created.json()["retrieval_url"])
                        if got.status_code == 200:
                            served.append(got.content)
                except httpx.TransportError:
                    return

    for round_number, delay in enumerate((1.2, 1.7, 2.3)):
        stop.clear()
        with (
            service_process(env, tmp_path / f"writes-{round_number}.log", port=port) as server,
            ThreadPoolExecutor(max_workers=6) as pool,
        ):
            for _ in range(6):
                pool.submit(write_and_read, server.url)
            time.sleep(delay)
            os.kill(server.pid, signal.SIGKILL)
            stop.set()

    on_disk = [path for path in root.rglob("*") if path.is_file() and ".staging" not in path.parts]
    leftovers = [path for path in on_disk if path.name.endswith(".tmp")]
    print(f"served {len(served)} images before the kills; on disk: {len(on_disk)} files, {len(leftovers)} temp files")
    assert served, "nothing was written before the kill"
    assert all(is_whole_jpeg(content) for content in served)

    # Let half the leftovers look as old as a crash long ago: the restart removes those, keeps the rest.
    aged = leftovers[::2]
    an_hour_ago = time.time() - 3600
    for path in aged:
        os.utime(path, (an_hour_ago, an_hour_ago))

    with service_process(env, tmp_path / "after.log", port=port) as server, httpx.Client(base_url=server.url) as client:
        assert not any(path.exists() for path in aged)
        assert all(path.exists() for path in leftovers if path not in aged)
        for path in on_disk:
            if path in aged:
                continue
            relative = path.relative_to(root).as_posix()
            response = client.get(f"/images/{relative}")
            if path in leftovers:
                assert response.status_code == 404, relative
                undotted = relative.replace("/.", "/")
                assert client.get(f"/images/{undotted}").status_code == 404, undotted
            else:
                assert response.status_code == 200, relative
                assert is_whole_jpeg(response.content), relative
