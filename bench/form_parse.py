"""`python -m bench.form_parse`: event-loop time to parse one crop form, and the memory a large upload holds.

In-process, no HTTP: the body is handed to the parser in 64 KB chunks, as uvicorn's h11 protocol reads
them. Compares the service's parser (api/forms.py) with Starlette's stock `request.form()`.
"""

import asyncio
import gc
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request

from image_processor.api import forms

CHUNK_BYTES = 64 * 1024
BOUNDARY = "benchboundary"
FORM_FILE_BYTES = 3_400_000
LARGE_FILE_BYTES = 50 * 1024 * 1024
ROUNDS = 200

type Parse = Callable[[Request, Path], Awaitable[None]]


def form_body(file_bytes: int) -> bytes:
    fields = {"product_info": '{"product_id": "bench-1"}', "crop_box": '{"x": 0, "y": 0, "width": 10, "height": 10}'}
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    head = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="source_image"; filename="a.jpg"\r\n'
    parts.append(head.encode() + b"Content-Type: image/jpeg\r\n\r\n" + os.urandom(file_bytes) + b"\r\n")
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def request_for(body: bytes) -> Request:
    chunks = [body[start : start + CHUNK_BYTES] for start in range(0, len(body), CHUNK_BYTES)]
    position = 0

    async def receive() -> dict[str, Any]:
        nonlocal position
        position += 1
        return {"type": "http.request", "body": chunks[position - 1], "more_body": position < len(chunks)}

    headers = [(b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode())]
    return Request({"type": "http", "method": "POST", "headers": headers}, receive)


async def parse_with_service(request: Request, spool_dir: Path) -> None:
    form = await forms.parse_form(request, max_fields=8, spool_dir=spool_dir)
    form.close()


async def parse_with_starlette(request: Request, spool_dir: Path) -> None:
    form = await request.form(max_files=1, max_fields=8, max_part_size=64 * 1024)
    await form.close()


async def median_ms(parse: Parse, body: bytes, spool_dir: Path) -> float:
    timings = []
    for _ in range(ROUNDS):
        request = request_for(body)
        started = time.perf_counter()
        await parse(request, spool_dir)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def peak_python_mb(parse: Parse, body: bytes, spool_dir: Path) -> float:
    request = request_for(body)
    gc.collect()
    tracemalloc.start()
    await parse(request, spool_dir)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1e6


async def main() -> None:
    body, large = form_body(FORM_FILE_BYTES), form_body(LARGE_FILE_BYTES)
    with tempfile.TemporaryDirectory() as folder:
        for name, parse in (("service", parse_with_service), ("starlette", parse_with_starlette)):
            timing = await median_ms(parse, body, Path(folder))
            # The body's chunks are made before tracing starts: the peak is what parsing adds.
            peak = await peak_python_mb(parse, large, Path(folder))
            size = len(body) / 1e6
            print(f"{name}: {timing:.2f} ms median per {size:.1f} MB form; a 50 MB upload adds {peak:.1f} MB")


if __name__ == "__main__":
    asyncio.run(main())
