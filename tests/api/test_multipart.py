"""The multipart reader (api/multipart.py), fed a body in chunks as a server would hand it over."""

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from image_processor.api.multipart import FilePart, Form, FormLimits, read_form
from image_processor.errors import MalformedRequest, ServerBusy

BOUNDARY = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
LIMITS = FormLimits(max_files=1, max_fields=3, max_field_bytes=64 * 1024)


def body_of(*parts: tuple[str, str | None, bytes]) -> bytes:
    chunks = []
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        chunks.append(f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


async def in_chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def read(body: bytes, *, chunk: int = 65_536, spool_dir: Path | None = None, content_type: str = CONTENT_TYPE) -> Form:
    return asyncio.run(read_form(content_type, in_chunks(body, chunk), limits=LIMITS, spool_dir=spool_dir))


def open_files_under(folder: Path) -> list[str]:
    """Files this process holds open under `folder` (a spooled file is unlinked as soon as it is created)."""
    targets = (os.readlink(link) for link in Path("/proc/self/fd").iterdir() if link.exists())
    return [target for target in targets if target.startswith(f"{folder}/")]


@pytest.mark.parametrize("chunk", [7, 65_536])
def test_a_large_file_part_arrives_whole_in_the_spool_folder(tmp_path: Path, chunk: int) -> None:
    """Past 1 MB a file part waits on disk in `spool_dir` (UPLOAD_SPOOL_DIR), not the system's temporary
    folder, whatever the chunking; closing the form removes it."""
    image = os.urandom(1_500_000)
    form = read(body_of(("note", None, b"hi"), ("source_image", "a.jpg", image)), chunk=chunk, spool_dir=tmp_path)
    [file] = form.getlist("source_image")
    assert isinstance(file, FilePart) and file.filename == "a.jpg"
    assert file.spooled.size == len(image) and file.spooled.read() == image
    assert form.getlist("note") == ["hi"] and "note" in form
    assert len(open_files_under(tmp_path)) == 1
    form.close()
    assert open_files_under(tmp_path) == []


def test_a_taken_file_outlives_the_form(tmp_path: Path) -> None:
    form = read(body_of(("source_image", "a.jpg", os.urandom(1_500_000))), spool_dir=tmp_path)
    [file] = form.getlist("source_image")
    assert isinstance(file, FilePart)
    spooled = file.take()
    form.close()
    assert len(open_files_under(tmp_path)) == 1 and spooled.size == 1_500_000
    spooled.close()


@pytest.mark.parametrize(
    "parts",
    [
        # A second file after a spooled first one.
        (("source_image", "a.jpg", os.urandom(1_500_000)), ("other", "b.jpg", b"x")),
        # One field too many after the file.
        (("source_image", "a.jpg", os.urandom(1_500_000)), *((f"f{n}", None, b"x") for n in range(4))),
        # A text field over 64 KB.
        (("source_image", "a.jpg", os.urandom(1_500_000)), ("note", None, b"x" * 70_000)),
        # A part with no name.
        (("source_image", "a.jpg", os.urandom(1_500_000)), ("", None, b"x")),
    ],
)
def test_a_refused_form_is_a_malformed_request_and_leaves_no_file_behind(
    tmp_path: Path, parts: tuple[tuple[str, str | None, bytes], ...]
) -> None:
    body = body_of(*parts).replace(b'name=""', b"")
    with pytest.raises(MalformedRequest):
        read(body, spool_dir=tmp_path)
    assert open_files_under(tmp_path) == []


def test_an_oversized_text_field_is_named() -> None:
    with pytest.raises(MalformedRequest) as refused:
        read(body_of(("product_info", None, b"x" * 70_000)))
    assert refused.value.field == "product_info"


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=", "multipart/form-data; charset=utf-8"]
)
def test_a_content_type_without_a_boundary_is_malformed(content_type: str) -> None:
    with pytest.raises(MalformedRequest):
        read(body_of(("note", None, b"x")), content_type=content_type)


def test_a_part_cut_off_before_its_boundary_is_left_out() -> None:
    body = body_of(("note", None, b"kept"), ("source_image", "a.jpg", b"\xff\xd8" * 100))
    form = read(body[:-40])
    assert form.getlist("note") == ["kept"] and "source_image" not in form


def test_text_is_decoded_in_the_declared_charset_or_else_latin_1() -> None:
    body = body_of(("a", None, "é".encode("cp1252")), ("b", None, b"\xff\xfe"))
    form = read(body, content_type=f"{CONTENT_TYPE}; charset=cp1252")
    assert form.getlist("a") == ["é"]
    assert read(body).getlist("b") == ["ÿþ"]


def test_a_spool_folder_that_cannot_be_written_is_the_servers_capacity(tmp_path: Path) -> None:
    with pytest.raises(ServerBusy):
        read(body_of(("source_image", "a.jpg", os.urandom(1_500_000))), spool_dir=tmp_path / "missing")
