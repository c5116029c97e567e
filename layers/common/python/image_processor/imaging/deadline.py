"""A time limit for each decode, enforced through libvips's progress signals.

libvips reports progress on the image a pipeline is written from (`eval`, after each batch of tiles or
strips); the handler kills the pipeline once the limit has passed, so the write fails, the thread
returns and its crop slot and memory reservation are freed. The limit is wall-clock time from the
start of the write: under load a decode may be cut a little earlier than its CPU time alone would say,
which errs towards freeing the slot.
"""

import time
from collections.abc import Callable
from typing import Any

import pyvips

from ..errors import ImageTooComplex

DEFAULT_DECODE_TIMEOUT_SECONDS = 20.0
_limit = {"seconds": DEFAULT_DECODE_TIMEOUT_SECONDS}


def set_decode_timeout(seconds: float) -> None:
    """The process-wide limit (IMAGE_DECODE_TIMEOUT_SECONDS), set once when the services are built."""
    _limit["seconds"] = seconds


def within_deadline[T](image: Any, write: Callable[[Any], T]) -> T:
    """`write(image)`, killed once it has run longer than the limit (ImageTooComplex, a 422)."""
    seconds = _limit["seconds"]
    deadline = time.monotonic() + seconds
    expired = False

    def on_eval(evaluated: Any, progress: Any) -> None:
        nonlocal expired
        if time.monotonic() > deadline:
            expired = True
            evaluated.set_kill(True)

    image.set_progress(True)
    image.signal_connect("eval", on_eval)
    try:
        return write(image)
    except pyvips.Error as exc:
        if expired:
            raise ImageTooComplex(
                f"source_image took longer than {seconds:g} seconds to decode (IMAGE_DECODE_TIMEOUT_SECONDS)",
                field="source_image",
            ) from exc
        raise
