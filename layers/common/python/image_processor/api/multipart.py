"""A multipart/form-data body, read with python-multipart's streaming parser and its public callbacks.

File parts are written into a SpooledUpload as their bytes arrive, on the event loop: past 1 MB that
is a write into the page cache, microseconds per chunk, where Starlette's own parser makes a thread
pool hop per chunk and spools into the system's temporary folder instead of `spool_dir`. The request
body is already capped by the body-size middleware and its bytes reserved in the upload budget.
"""

import codecs
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from ..errors import MalformedRequest, ServerBusy, UnsupportedMediaType
from ..storage.spool import SpooledUpload

_NO_ROOM_RETRY_AFTER_SECONDS = 5


@dataclass
class FilePart:
    """A file part; its bytes are the form's to close until `take` makes them the caller's."""

    filename: str
    spooled: SpooledUpload
    taken: bool = False

    def take(self) -> SpooledUpload:
        self.taken = True
        return self.spooled


type FormValue = str | FilePart


class Form:
    """The parts of a multipart body, in the order they came."""

    def __init__(self, items: list[tuple[str, FormValue]]) -> None:
        self._items = items

    def __contains__(self, name: str) -> bool:
        return any(item_name == name for item_name, _ in self._items)

    def getlist(self, name: str) -> list[FormValue]:
        return [value for item_name, value in self._items if item_name == name]

    def multi_items(self) -> list[tuple[str, FormValue]]:
        return list(self._items)

    def close(self) -> None:
        """Closes every file part not taken."""
        for _, value in self._items:
            if isinstance(value, FilePart) and not value.taken:
                value.spooled.close()


@dataclass(frozen=True)
class FormLimits:
    max_files: int
    max_fields: int
    max_field_bytes: int


class _PartCollector:
    """python-multipart's callbacks: collects text fields, spools file parts, enforces the limits."""

    def __init__(self, limits: FormLimits, charset: str, spool_dir: Path | None) -> None:
        self.items: list[tuple[str, FormValue]] = []
        self.spooled: list[SpooledUpload] = []
        self._limits = limits
        self._charset = charset
        self._spool_dir = spool_dir
        self._files = self._fields = 0
        self._begin_part()

    def _begin_part(self) -> None:
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._name = ""
        self._text = bytearray()
        self._file: FilePart | None = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name, self._header_value = bytearray(), bytearray()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        if b"name" not in options:
            raise MalformedRequest('Each part needs a Content-Disposition header with a "name".')
        self._name = self._decode(options[b"name"])
        if b"filename" in options:
            self._files += 1
            if self._files > self._limits.max_files:
                raise MalformedRequest(f"Too many files; at most {self._limits.max_files} may be sent.")
            spooled = SpooledUpload(self._spool_dir)
            self.spooled.append(spooled)
            self._file = FilePart(self._decode(options[b"filename"]), spooled)
        else:
            self._fields += 1
            if self._fields > self._limits.max_fields:
                raise MalformedRequest(f"Too many fields; at most {self._limits.max_fields} may be sent.")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.spooled.write(data[start:end])
            return
        if len(self._text) + end - start > self._limits.max_field_bytes:
            raise MalformedRequest(
                f"A text field may be at most {self._limits.max_field_bytes // 1024} KB.", field=self._name
            )
        self._text += data[start:end]

    def on_part_end(self) -> None:
        # A part cut off before its closing boundary never gets here, so it is not in the form.
        self.items.append((self._name, self._file if self._file is not None else self._decode(self._text)))
        self._begin_part()

    def _decode(self, raw: bytes | bytearray) -> str:
        try:
            return raw.decode(self._charset)
        except UnicodeDecodeError:
            return raw.decode("latin-1")


async def read_form(
    content_type: str, body: AsyncIterator[bytes], *, limits: FormLimits, spool_dir: Path | None = None
) -> Form:
    """The form in `body`; the caller closes it. Every file part is a SpooledUpload (see storage/spool.py)."""
    media_type, params = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise UnsupportedMediaType("The request body must be multipart/form-data.")
    if not params.get(b"boundary"):
        raise MalformedRequest("The multipart Content-Type has no boundary.")
    collector = _PartCollector(limits, _charset(params.get(b"charset")), spool_dir)
    try:
        parser = MultipartParser(
            params[b"boundary"],
            {
                "on_header_field": collector.on_header_field,
                "on_header_value": collector.on_header_value,
                "on_header_end": collector.on_header_end,
                "on_headers_finished": collector.on_headers_finished,
                "on_part_data": collector.on_part_data,
                "on_part_end": collector.on_part_end,
            },
        )
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except BaseException as exc:
        for spooled in collector.spooled:
            spooled.close()
        if isinstance(exc, FormParserError):
            raise MalformedRequest("The multipart body is malformed.") from exc
        if isinstance(exc, OSError):
            raise ServerBusy(
                "The server has no room to hold this upload right now; retry shortly.",
                retry_after_seconds=_NO_ROOM_RETRY_AFTER_SECONDS,
            ) from exc
        raise
    return Form(collector.items)


def _charset(raw: bytes | None) -> str:
    with contextlib.suppress(LookupError):
        return codecs.lookup((raw or b"utf-8").decode("latin-1")).name
    return "latin-1"
