"""A restart resumes staged jobs at once: claims of this host's dead workers are released, live ones kept."""

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from image_processor.assembly import WorkerRuntime, build_storage, build_worker_runtime
from image_processor.aws import clients as aws
from image_processor.errors import JobInProgress
from image_processor.ids import new_image_id
from image_processor.jobs import ownership
from image_processor.jobs.local.recovery import StagedUploads
from image_processor.jobs.records import Job
from image_processor.observability import service_logger
from image_processor.settings import Settings
from image_processor.storage.backend import StorageBackend
from tests.support import scenes
from tests.support.services import RecordingLocator


@pytest.fixture
def storage(settings: Settings) -> StorageBackend:
    service_logger(settings.log_level)
    storage = build_storage(settings)
    storage.start()
    return storage


def runtime(settings: Settings, storage: StorageBackend, locator: RecordingLocator | None = None) -> WorkerRuntime:
    return build_worker_runtime(
        settings, aws.client("dynamodb", settings), storage, locator=locator or RecordingLocator()
    )


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def identity_of(process: subprocess.Popen[bytes]) -> str:
    """The identity the child process would record for itself (same host, same boot)."""
    me = ownership.current()
    started = ownership._start_time(process.pid)
    assert started is not None
    return str(ownership.ProcessIdentity(host=me.host, boot_id=me.boot_id, pid=process.pid, started=started))


def claimed_by(settings: Settings, storage: StorageBackend) -> tuple[Job, threading.Event, object]:
    """A job whose idempotency claim is held by a worker stuck in the AI call, as a crash leaves it."""
    gate = threading.Event()
    first = runtime(settings, storage, RecordingLocator(gate=gate))
    job = Job(image_id=new_image_id(), product_id="ABC-123", status="pending", created_at=time.time())
    storage.staging.stage(job.image_id, scenes.product_on_plain_background().jpeg)
    first.jobs.create(job)
    pool = ThreadPoolExecutor(max_workers=1)
    running = pool.submit(first.process, job={"image_id": job.image_id})
    pool.shutdown(wait=False)
    for _ in range(500):
        current = first.jobs.get(job.image_id)
        if current is not None and current.status == "processing":
            break
        threading.Event().wait(0.01)
    return job, gate, running


def test_a_restart_releases_the_claim_of_its_own_dead_process(
    settings: Settings, storage: StorageBackend, child: subprocess.Popen[bytes]
) -> None:
    job, gate, _ = claimed_by(settings, storage)
    dead_owner = identity_of(child)
    child.kill()
    child.wait()
    restarted = runtime(settings, storage)
    assert restarted.jobs.start_attempt(job.image_id, owner=dead_owner) is not None  # the crashed worker's attempt

    try:
        resumed = StagedUploads(storage.results, storage.staging, restarted.jobs, restarted.release_claim).recover()
        assert resumed == [job.image_id]
        assert restarted.process(job={"image_id": job.image_id})["status"] == "succeeded"
    finally:
        gate.set()


def test_a_killed_process_that_nobody_has_reaped_yet_is_dead(child: subprocess.Popen[bytes]) -> None:
    """Its /proc entry stays, with the same start time, until its parent waits for it, which may be never."""
    owner = identity_of(child)
    assert not ownership.is_dead_here(owner)
    kill_without_reaping(child)
    assert ownership.is_dead_here(owner)


def test_a_restart_releases_the_claim_of_its_own_unreaped_process(
    settings: Settings, storage: StorageBackend, child: subprocess.Popen[bytes]
) -> None:
    job, gate, _ = claimed_by(settings, storage)
    dead_owner = identity_of(child)
    kill_without_reaping(child)
    restarted = runtime(settings, storage)
    assert restarted.jobs.start_attempt(job.image_id, owner=dead_owner) is not None

    try:
        assert StagedUploads(storage.results, storage.staging, restarted.jobs, restarted.release_claim).recover() == [
            job.image_id
        ]
        assert restarted.process(job={"image_id": job.image_id})["status"] == "succeeded"
    finally:
        gate.set()


def kill_without_reaping(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL, then wait until the process is a zombie: dead, its /proc entry kept until the fixture reaps it."""
    process.kill()
    deadline = time.monotonic() + 10
    while _state(process.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _state(process.pid) == "Z"


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rfind(")") + 2 :].split()[0]


def test_a_restart_respects_the_claim_of_a_live_process(
    settings: Settings, storage: StorageBackend, child: subprocess.Popen[bytes]
) -> None:
    job, gate, running = claimed_by(settings, storage)
    other = runtime(settings, storage)
    assert other.jobs.start_attempt(job.image_id, owner=identity_of(child)) is not None

    try:
        assert StagedUploads(storage.results, storage.staging, other.jobs, other.release_claim).recover() == [
            job.image_id
        ]
        with pytest.raises(JobInProgress):
            other.process(job={"image_id": job.image_id})
    finally:
        gate.set()
    assert running.result(timeout=30)["status"] == "succeeded"  # type: ignore[attr-defined]


def test_claims_of_other_hosts_or_unknown_owners_are_never_judged_dead() -> None:
    me = ownership.current()
    elsewhere = ownership.ProcessIdentity(host=f"{me.host}-other", boot_id=me.boot_id, pid=999_999, started="1")
    other_boot = ownership.ProcessIdentity(host=me.host, boot_id="another-boot", pid=999_999, started="1")
    gone_here = ownership.ProcessIdentity(host=me.host, boot_id=me.boot_id, pid=me.pid, started="0")
    assert not ownership.is_dead_here(str(elsewhere))
    assert not ownership.is_dead_here(str(other_boot))
    assert not ownership.is_dead_here(None)
    assert not ownership.is_dead_here("garbage")
    assert not ownership.is_dead_here(str(me))
    assert ownership.is_dead_here(str(gone_here))  # this pid, but started at another time: a recycled pid


def test_finished_jobs_are_cleaned_up_and_orphaned_uploads_swept_after_a_grace_sweep(
    settings: Settings, storage: StorageBackend
) -> None:
    worker = runtime(settings, storage)
    failed = Job(image_id=new_image_id(), product_id="ABC-123", status="pending", created_at=time.time())
    worker.jobs.create(failed)
    worker.jobs.fail(failed.image_id, "timed out before it finished")
    storage.staging.stage(failed.image_id, b"left behind")
    storage.results.save(failed.result_key, b"a late result")
    orphan = new_image_id()
    storage.staging.stage(orphan, b"an upload whose job was never recorded")
    staged = StagedUploads(storage.results, storage.staging, worker.jobs, worker.release_claim)

    assert staged.recover() == []
    assert storage.staging.read_staged(failed.image_id) is None
    assert storage.results.stat(failed.result_key) is None
    assert storage.staging.read_staged(orphan) is not None  # the grace: its record may still be on its way

    late = new_image_id()
    storage.staging.stage(late, b"staged just now")
    assert staged.sweep() == 1
    assert storage.staging.staged_ids() == [late]
    assert staged.sweep() == 1
    assert storage.staging.staged_ids() == []
