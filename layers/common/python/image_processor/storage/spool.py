"""An uploaded file kept on disk (in memory while small) until the work that needs its bytes reads them.

Fifty 5 MB uploads arriving at once would otherwise all sit in the process's memory while two of
them are cropped. On disk they wait in the page cache, which the kernel reclaims under pressure,
and only the crops in progress hold a copy.
"""

import hashlib
import tempfile
from pathlib import Path

# Smaller uploads stay in memory (Starlette's threshold for its own spooled files).
MEMORY_BYTES = 1024 * 1024
_HASH_CHUNK_BYTES = 1024 * 1024


class SpooledUpload:
    """The bytes of one uploaded file. `read` and `sha256` block on disk: call them from a worker thread."""

    def __init__(self, directory: Path | None = None) -> None:
        # Owned by this object until close(); it outlives any one block of code.
        self._file = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=MEMORY_BYTES, dir=None if directory is None else str(directory)
        )
        self.size = 0

    def write(self, chunk: bytes) -> None:
        """Appends `chunk`. Past MEMORY_BYTES this is a write to the page cache: short enough for the event loop."""
        self._file.write(chunk)
        self.size += len(chunk)

    def read(self) -> bytes:
        self._file.seek(0)
        return self._file.read()

    def sha256(self) -> bytes:
        digest = hashlib.sha256()
        self._file.seek(0)
        while chunk := self._file.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
        return digest.digest()

    def close(self) -> None:
        self._file.close()


# An image to crop: an upload still spooled, or bytes already in memory (a direct upload, taken from storage).
type ImageSource = SpooledUpload | bytes


def read_source(source: ImageSource) -> bytes:
    """The image's bytes. Blocking for a spooled upload: call it from a worker thread."""
    return source if isinstance(source, bytes) else source.read()
