"""Parts the tests hand to the production assembly (build_services, build_worker_runtime) in place of real ones."""

import threading
from dataclasses import dataclass, field

from PIL import Image

from image_processor.errors import ObjectLocatorError
from image_processor.jobs.locator import Location, MockObjectLocator
from image_processor.models import CropBox


class ManualClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingDispatcher:
    """Keeps the jobs it is handed instead of running them (the worker is tested on its own)."""

    def __init__(self) -> None:
        self.dispatched: list[str] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def dispatch(self, image_id: str) -> None:
        self.dispatched.append(image_id)


@dataclass
class RecordingLocator:
    """The pixel-based mock AI, counting its calls, optionally failing first or waiting for a go-ahead."""

    failures: list[ObjectLocatorError] = field(default_factory=list)
    gate: threading.Event | None = None
    calls: int = 0
    boxes: list[CropBox] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def locate(self, image: Image.Image) -> Location:
        with self._lock:
            self.calls += 1
            failure = self.failures.pop(0) if self.failures else None
        if self.gate is not None and not self.gate.wait(timeout=30):
            raise ObjectLocatorError("the test never released the AI", transient=False)
        if failure is not None:
            raise failure
        location = MockObjectLocator().locate(image)
        self.boxes.append(location.box)
        return location
