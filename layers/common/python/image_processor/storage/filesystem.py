"""The image store on a (shared) file system: atomic renames, and paths that never leave the root."""

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from ..aws.readiness import directory_probe
from .interfaces import StoredImage, StoredObject, UploadTooLarge
from .keys import (
    UPLOAD_MARKERS,
    UPLOADS_PREFIX,
    checked_key,
    servable_key,
    staged_id,
    staged_key,
    upload_id_of,
    upload_key,
)

_TEMP_PREFIX, _TEMP_SUFFIX = ".", ".tmp"
# A write takes seconds; a temporary file this old was left by a process that died mid-write.
ABANDONED_WRITE_SECONDS = 600


class FileSystemImageStore:
    """Files under `root`, laid out as the keys say (see keys.py)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def staging(self) -> Path:
        return self.root / ".staging"

    @property
    def uploads(self) -> Path:
        return self.root / ".uploads"

    def ensure_ready(self) -> None:
        self.staging.mkdir(parents=True, exist_ok=True)
        self.uploads.mkdir(parents=True, exist_ok=True)

    def prepare(self) -> int:
        """At start-up: the folders made, and the temporary files of writes a crash interrupted removed (how many)."""
        self.ensure_ready()
        return self.remove_abandoned_writes()

    def remove_abandoned_writes(self, older_than_seconds: float = ABANDONED_WRITE_SECONDS) -> int:
        """Delete temporary files that a crashed writer left behind; returns how many.

        They are never served (dot files), only clutter. Young ones may belong to a write in
        progress in another process sharing the root, so they are left alone.
        """
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        products = [entry for entry in self.root.iterdir() if _is_folder(entry)]
        # Results sit in product folders, renditions one level below (see keys.py).
        folders = [
            self.root,
            *products,
            *(entry for folder in products for entry in folder.iterdir() if _is_folder(entry)),
        ]
        for folder in folders:
            for candidate in folder.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
                with contextlib.suppress(FileNotFoundError):
                    if candidate.is_file() and not candidate.is_symlink() and candidate.stat().st_mtime < cutoff:
                        candidate.unlink()
                        removed += 1
        return removed

    def save(self, key: str, data: bytes) -> None:
        _write_atomically(self._target(key), data)

    def create(self, key: str, data: bytes, *, content_type: str) -> StoredObject | None:
        # A hard link fails if the name exists, where a rename would replace it: of racing writers (in any
        # process sharing the root) the first one's file stays, and the others' are discarded.
        target = self._target(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        written = _write_temporary(target.parent, data)
        try:
            os.link(written, target)
        except FileExistsError:
            return None
        finally:
            written.unlink(missing_ok=True)
        _fsync_directory(target.parent)
        return StoredObject(key=key, size=len(data), etag=_etag(target.stat()))

    def _target(self, key: str) -> Path:
        target = self.root.joinpath(*checked_key(key).split("/"))
        # A folder inside the root may be a symlink to somewhere else: never write through it.
        if not target.parent.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"unsafe storage path {key!r}: it leads outside the root")
        return target

    def delete(self, key: str) -> None:
        self.root.joinpath(*checked_key(key).split("/")).unlink(missing_ok=True)

    def delete_folder(self, prefix: str) -> int:
        folder = self.root.joinpath(*checked_key(prefix.rstrip("/")).split("/"))
        # Never through a symlink: only a real folder inside the root is removed.
        if folder.is_symlink() or not folder.is_dir():
            return 0
        if not folder.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"unsafe storage path {prefix!r}: it leads outside the root")
        count = sum(1 for path in folder.rglob("*") if path.is_file())
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def check_ready(self) -> None:
        directory_probe(self.root)()

    def stat(self, requested_path: str) -> StoredObject | None:
        path = self._resolve_servable(requested_path)
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        return StoredObject(key=requested_path, size=stat.st_size, etag=_etag(stat))

    def fetch(self, requested_path: str) -> StoredImage | None:
        path = self._resolve_servable(requested_path)
        if path is None:
            return None
        try:
            with path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                content = handle.read()
        except OSError:
            return None
        return StoredImage(StoredObject(key=requested_path, size=len(content), etag=_etag(stat)), content)

    def stage(self, image_id: str, data: bytes) -> None:
        _write_atomically(self._path(staged_key(image_id)), data)

    def read_staged(self, image_id: str) -> bytes | None:
        try:
            return self._path(staged_key(image_id)).read_bytes()
        except FileNotFoundError:
            return None

    def discard_staged(self, image_id: str) -> None:
        self._path(staged_key(image_id)).unlink(missing_ok=True)

    def staged_ids(self) -> list[str]:
        if not self.staging.is_dir():
            return []
        names = (f".staging/{path.name}" for path in self.staging.iterdir() if path.is_file())
        return sorted(image_id for image_id in map(staged_id, names) if image_id is not None)

    def put_upload(self, upload_id: str, data: bytes) -> bool:
        if not _create_marker(self._path(upload_key(upload_id) + ".received")):
            return False
        _write_atomically(self._path(upload_key(upload_id)), data)
        return True

    def take_upload(self, upload_id: str, max_bytes: int) -> bytes | None:
        # The marker is the claim: of all takers, ever, only the one that creates it may read the upload.
        source = self._path(upload_key(upload_id))
        if not source.exists() or not _create_marker(source.with_name(f"{upload_id}.claim")):
            return None
        claimed = source.with_name(f"{_TEMP_PREFIX}{upload_id}.{uuid.uuid4().hex}{_TEMP_SUFFIX}")
        try:
            source.rename(claimed)
        except FileNotFoundError:
            return None
        try:
            with claimed.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size > max_bytes:
                    raise UploadTooLarge(size)
                return handle.read()
        finally:
            claimed.unlink(missing_ok=True)

    def upload_ids(self) -> list[str]:
        if not self.uploads.is_dir():
            return []
        found = (upload_id_of(UPLOADS_PREFIX + path.name) for path in self.uploads.iterdir())
        return sorted({upload_id for upload_id in found if upload_id is not None})

    def remove_upload(self, upload_id: str) -> None:
        key = upload_key(upload_id)
        for suffix in ("", *UPLOAD_MARKERS):
            self._path(key + suffix).unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def _resolve_servable(self, requested_path: str) -> Path | None:
        key = servable_key(requested_path)
        if key is None:
            return None
        try:
            root = self.root.resolve(strict=True)
            resolved = root.joinpath(*key.split("/")).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(root) or not resolved.is_file():
            return None
        return resolved


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _write_atomically(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    written = _write_temporary(target.parent, data)
    try:
        written.replace(target)
    except BaseException:
        written.unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)
    return target


def _write_temporary(folder: Path, data: bytes) -> Path:
    """`data` in a new, fsynced dot file in `folder` (never served; swept if its writer dies)."""
    descriptor, temp_name = tempfile.mkstemp(dir=folder, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return Path(temp_name)


def _create_marker(path: Path) -> bool:
    """Create an empty file at `path`; False if it exists (O_EXCL: of racing creators exactly one wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _etag(stat: os.stat_result) -> str:
    """Size and modification time: a new write (a new file, renamed into place) changes it."""
    return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
