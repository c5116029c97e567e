"""Processed images on a (shared) file system: atomic writes and paths that never leave the root."""

import contextlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

_SEGMENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*")
_SERVABLE_SUFFIXES = frozenset({".jpg", ".jpeg"})
STAGING_DIR_NAME = ".staging"
_TEMP_PREFIX, _TEMP_SUFFIX = ".", ".tmp"
# A write takes seconds; a temporary file this old was left by a process that died mid-write.
ABANDONED_WRITE_SECONDS = 600


@dataclass(frozen=True)
class StoredFile:
    path: Path
    size: int
    modified_ns: int

    @property
    def etag(self) -> str:
        return f'"{self.size:x}-{self.modified_ns:x}"'


class ImageStore:
    """Files under `root`. Uploads waiting for a smart-crop worker live in a hidden staging folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.staging = root / STAGING_DIR_NAME

    def ensure_ready(self) -> None:
        self.staging.mkdir(parents=True, exist_ok=True)

    def remove_abandoned_writes(self, older_than_seconds: float = ABANDONED_WRITE_SECONDS) -> int:
        """Delete temporary files that a crashed writer left behind; returns how many.

        They are never served (dot files), only clutter. Young ones may belong to a write in
        progress in another process sharing the root, so they are left alone.
        """
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - older_than_seconds
        removed = 0
        folders = [self.root, *(entry for entry in self.root.iterdir() if entry.is_dir() and not entry.is_symlink())]
        for folder in folders:
            for candidate in folder.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
                with contextlib.suppress(FileNotFoundError):
                    if candidate.is_file() and not candidate.is_symlink() and candidate.stat().st_mtime < cutoff:
                        candidate.unlink()
                        removed += 1
        return removed

    def save(self, relative_path: str, data: bytes) -> Path:
        target = self._checked(relative_path)
        _write_atomically(target, data)
        return target

    def delete(self, relative_path: str) -> None:
        """Remove a stored image (a result whose job did not succeed); nothing if it is not there."""
        with contextlib.suppress(FileNotFoundError):
            self._checked(relative_path).unlink()

    def open(self, requested_path: str) -> StoredFile | None:
        """The stored image at `requested_path`, or None for anything that is not one."""
        path = self._resolve_servable(requested_path)
        if path is None:
            return None
        try:
            stat = path.stat()
        except OSError:
            return None
        return StoredFile(path=path, size=stat.st_size, modified_ns=stat.st_mtime_ns)

    def stage(self, image_id: str, data: bytes) -> Path:
        return _write_atomically(self._staged_path(image_id), data)

    def read_staged(self, image_id: str) -> bytes | None:
        try:
            return self._staged_path(image_id).read_bytes()
        except FileNotFoundError:
            return None

    def discard_staged(self, image_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._staged_path(image_id).unlink()

    def staged_ids(self) -> list[str]:
        if not self.staging.is_dir():
            return []
        return sorted(p.name.removesuffix(".upload") for p in self.staging.glob("*.upload") if p.is_file())

    def _staged_path(self, image_id: str) -> Path:
        if not _SEGMENT_RE.fullmatch(image_id):
            raise ValueError(f"unsafe image id {image_id!r}")
        return self.staging / f"{image_id}.upload"

    def _checked(self, relative_path: str) -> Path:
        segments = _safe_segments(relative_path)
        if segments is None:
            raise ValueError(f"unsafe storage path {relative_path!r}")
        target = self.root.joinpath(*segments)
        # A folder inside the root may be a symlink to somewhere else: never write through it.
        if not target.parent.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"unsafe storage path {relative_path!r}: it leads outside the root")
        return target

    def _resolve_servable(self, requested_path: str) -> Path | None:
        segments = _safe_segments(requested_path)
        if segments is None or Path(segments[-1]).suffix.lower() not in _SERVABLE_SUFFIXES:
            return None
        try:
            root = self.root.resolve(strict=True)
            resolved = root.joinpath(*segments).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(root) or not resolved.is_file():
            return None
        return resolved


def _safe_segments(relative_path: str) -> list[str] | None:
    """Split on '/', accepting only plain names: no '..', no dot files, no backslash, NUL or percent."""
    segments = relative_path.split("/")
    if not segments or not all(_SEGMENT_RE.fullmatch(segment) for segment in segments):
        return None
    return segments


def _write_atomically(target: Path, data: bytes) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp_name = tempfile.mkstemp(dir=target.parent, prefix=_TEMP_PREFIX, suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp_name).replace(target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)
    return target


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
