"""FileSystemImageStore: atomic writes in a real temp dir, and paths that never leave the root."""

import os
import threading
import time
from pathlib import Path

import pytest

from image_processor.storage.filesystem import FileSystemImageStore

JPEG = b"\xff\xd8\xff\xe0" + b"x" * 4096 + b"\xff\xd9"


@pytest.fixture
def store(tmp_path: Path) -> FileSystemImageStore:
    store = FileSystemImageStore(tmp_path / "root")
    store.ensure_ready()
    return store


def all_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_save_writes_the_bytes_under_the_root(store: FileSystemImageStore) -> None:
    store.save("ABC-123/abc.jpg", JPEG)
    assert (store.root / "ABC-123" / "abc.jpg").read_bytes() == JPEG


def test_save_leaves_no_temporary_file_behind(store: FileSystemImageStore) -> None:
    """Audit 12: the temp file is renamed into place; nothing else remains in the folder."""
    store.save("ABC-123/abc.jpg", JPEG)
    store.save("ABC-123/abc.jpg", JPEG[::-1])
    assert [path.name for path in (store.root / "ABC-123").iterdir()] == ["abc.jpg"]


def test_a_failed_write_leaves_nothing_at_the_target(
    store: FileSystemImageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit 12: if the write fails half way, no partial file appears and the temp file is removed."""

    def failing_fsync(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("image_processor.storage.filesystem.os.fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        store.save("ABC-123/abc.jpg", JPEG)
    assert list((store.root / "ABC-123").iterdir()) == []


def test_a_failed_overwrite_keeps_the_previous_file_whole(
    store: FileSystemImageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit 12: a reader sees the old file or the new one, never a mix."""
    store.save("ABC-123/abc.jpg", JPEG)
    target = store.root / "ABC-123" / "abc.jpg"

    def failing_replace(self: Path, target: Path) -> Path:
        raise OSError("disk went away")

    monkeypatch.setattr(Path, "replace", failing_replace)
    with pytest.raises(OSError, match="disk went away"):
        store.save("ABC-123/abc.jpg", b"\xff\xd8 new content")
    assert target.read_bytes() == JPEG
    assert [path.name for path in target.parent.iterdir()] == ["abc.jpg"]


def test_a_concurrent_reader_never_sees_a_partial_file(store: FileSystemImageStore) -> None:
    """Audit 12: while the same path is rewritten over and over, every read is one complete version."""
    versions = {bytes([n]) * 200_000 for n in range(1, 5)}
    store.save("ABC-123/abc.jpg", next(iter(versions)))
    stop = threading.Event()

    def writer() -> None:
        while not stop.is_set():
            for version in versions:
                store.save("ABC-123/abc.jpg", version)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(300):
            stored = store.fetch("ABC-123/abc.jpg")
            assert stored is not None
            assert stored.content in versions
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.mark.parametrize(
    "relative_path",
    ["../escape.jpg", "a/../../escape.jpg", "/etc/escape.jpg", "a\\b.jpg", ".hidden/a.jpg", "a/.b.jpg", "", "a//b.jpg"],
)
def test_save_refuses_paths_that_are_not_plain_names(store: FileSystemImageStore, relative_path: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        store.save(relative_path, JPEG)
    assert all_files(store.root.parent) == []


def test_open_finds_a_stored_image_with_its_size(store: FileSystemImageStore) -> None:
    store.save("ABC-123/abc.jpg", JPEG)
    stored = store.stat("ABC-123/abc.jpg")
    assert stored is not None
    assert stored.size == len(JPEG)
    fetched = store.fetch("ABC-123/abc.jpg")
    assert fetched is not None and fetched.content == JPEG and fetched.object == stored


def test_the_etag_changes_when_the_file_changes(store: FileSystemImageStore) -> None:
    store.save("ABC-123/abc.jpg", JPEG)
    first = store.stat("ABC-123/abc.jpg")
    store.save("ABC-123/abc.jpg", JPEG + b"more")
    second = store.stat("ABC-123/abc.jpg")
    assert first is not None and second is not None
    assert first.etag != second.etag
    assert first.etag.startswith('"') and first.etag.endswith('"')


@pytest.mark.parametrize(
    "requested",
    [
        pytest.param("ABC-123/missing.jpg", id="missing"),
        pytest.param("ABC-123", id="directory"),
        pytest.param("ABC-123/abc.jpg/", id="trailing-slash"),
        pytest.param("ABC-123/notes.txt", id="not-a-jpeg"),
        pytest.param("../secret.jpg", id="dot-dot"),
        pytest.param("ABC-123/../../secret.jpg", id="dot-dot-inside"),
        pytest.param("%2e%2e/secret.jpg", id="encoded-dots"),
        pytest.param("%252e%252e/secret.jpg", id="double-encoded-dots"),
        pytest.param("..%2fsecret.jpg", id="encoded-slash"),
        pytest.param("/secret.jpg", id="absolute"),
        pytest.param("//secret.jpg", id="double-slash"),
        pytest.param("..\\secret.jpg", id="backslash"),
        pytest.param("ABC-123\\abc.jpg", id="backslash-inside"),
        pytest.param("ABC-123/abc.jpg\x00.png", id="nul"),
        pytest.param("ABC-123/.abc.jpg", id="dot-file"),
        pytest.param(".staging/abc.jpg", id="staging"),
        pytest.param("./ABC-123/abc.jpg", id="dot-segment"),
        pytest.param("~/abc.jpg", id="home"),
    ],
)
def test_open_returns_none_for_anything_but_a_stored_image(store: FileSystemImageStore, requested: str) -> None:
    """Audit 22/23: missing files and every traversal variant resolve to nothing."""
    store.save("ABC-123/abc.jpg", JPEG)
    (store.root / "ABC-123" / ".abc.jpg").write_bytes(JPEG)
    (store.root / "ABC-123" / "notes.txt").write_text("notes")
    (store.staging / "abc.jpg").write_bytes(JPEG)
    (store.root.parent / "secret.jpg").write_bytes(b"secret")
    assert store.stat(requested) is None


def test_open_refuses_a_symlink_that_points_outside_the_root(store: FileSystemImageStore) -> None:
    """Audit 23: a link inside the root to a file outside it is not served."""
    outside = store.root.parent / "outside.jpg"
    outside.write_bytes(b"secret")
    (store.root / "ABC-123").mkdir()
    (store.root / "ABC-123" / "link.jpg").symlink_to(outside)
    (store.root / "linked-dir").symlink_to(store.root.parent, target_is_directory=True)
    assert store.stat("ABC-123/link.jpg") is None
    assert store.stat("linked-dir/outside.jpg") is None


def test_save_refuses_to_write_through_a_folder_linked_outside_the_root(store: FileSystemImageStore) -> None:
    outside = store.root.parent / "outside"
    outside.mkdir()
    (store.root / "linked").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside the root"):
        store.save("linked/abc.jpg", JPEG)
    assert list(outside.iterdir()) == []


def test_open_follows_a_symlink_that_stays_inside_the_root(store: FileSystemImageStore) -> None:
    store.save("ABC-123/abc.jpg", JPEG)
    (store.root / "ABC-123" / "alias.jpg").symlink_to(store.root / "ABC-123" / "abc.jpg")
    assert store.stat("ABC-123/alias.jpg") is not None


def test_open_works_when_the_root_itself_is_reached_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    store = FileSystemImageStore(tmp_path / "link")
    store.ensure_ready()
    store.save("ABC-123/abc.jpg", JPEG)
    assert store.stat("ABC-123/abc.jpg") is not None


def test_open_returns_none_when_the_root_does_not_exist(tmp_path: Path) -> None:
    assert FileSystemImageStore(tmp_path / "missing").stat("ABC-123/abc.jpg") is None


def test_ensure_ready_creates_the_root_and_is_fine_when_it_exists(tmp_path: Path) -> None:
    """Audit 1: a second start on a persisted volume must not crash."""
    store = FileSystemImageStore(tmp_path / "a" / "b")
    store.ensure_ready()
    store.ensure_ready()
    assert store.staging.is_dir()


def test_staged_uploads_round_trip_and_are_listed(store: FileSystemImageStore) -> None:
    store.stage("0123abcd", b"upload")
    assert store.staged_ids() == ["0123abcd"]
    assert store.read_staged("0123abcd") == b"upload"
    store.discard_staged("0123abcd")
    store.discard_staged("0123abcd")
    assert store.read_staged("0123abcd") is None
    assert store.staged_ids() == []


@pytest.mark.parametrize("image_id", ["../x", "a/b", ".x", "", "a\x00"])
def test_staging_refuses_unsafe_ids(store: FileSystemImageStore, image_id: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        store.stage(image_id, b"upload")


def test_temporary_files_left_by_a_crash_are_removed_once_old(store: FileSystemImageStore, tmp_path: Path) -> None:
    """Audit 12: a kill -9 mid-write leaves `.<random>.tmp` behind; the next start clears the old ones only."""
    store.save("ABC-123/abc.jpg", JPEG)
    kept = store.root / "ABC-123" / "abc.jpg"
    store.create("ABC-123/abc/thumbnail.webp", b"webp", content_type="image/webp")
    abandoned = [
        store.root / "ABC-123" / ".tmpa1b2.tmp",
        store.staging / ".tmpc3d4.tmp",
        store.root / ".tmpe5.tmp",
        store.root / "ABC-123" / "abc" / ".tmph8i9.tmp",  # a rendition's
    ]
    in_progress = store.root / "ABC-123" / ".tmpf6g7.tmp"
    an_hour_ago = time.time() - 3600
    for path in [*abandoned, in_progress]:
        path.write_bytes(JPEG[:100])
    for path in abandoned:
        os.utime(path, (an_hour_ago, an_hour_ago))
    outside = tmp_path / ".outside.tmp"
    outside.write_bytes(b"not ours")
    os.utime(outside, (an_hour_ago, an_hour_ago))
    (store.root / "LINKED").symlink_to(tmp_path)

    assert store.remove_abandoned_writes() == 4
    assert store.remove_abandoned_writes() == 0

    assert not any(path.exists() for path in abandoned)
    assert in_progress.exists() and kept.read_bytes() == JPEG
    assert outside.exists()


def test_a_create_keeps_the_first_writers_object_and_leaves_no_temporary_file(store: FileSystemImageStore) -> None:
    first = store.create("ABC-123/abc/listing.webp", b"first", content_type="image/webp")
    second = store.create("ABC-123/abc/listing.webp", b"second", content_type="image/webp")

    assert first is not None and second is None
    stored = store.fetch("ABC-123/abc/listing.webp")
    assert stored is not None and stored.content == b"first" and stored.object.etag == first.etag
    assert sorted(path.name for path in (store.root / "ABC-123" / "abc").iterdir()) == ["listing.webp"]


def test_removing_abandoned_writes_from_a_missing_root_is_a_no_op(tmp_path: Path) -> None:
    assert FileSystemImageStore(tmp_path / "absent").remove_abandoned_writes() == 0
