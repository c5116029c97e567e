"""What a benchmark run measures, and how hard."""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

JPEG_QUALITY = 90


@dataclass(frozen=True)
class Config:
    width: int = 4000
    height: int = 3000
    levels: Sequence[int] = (1, 2, 4, 8)
    requests: int = 40
    # Each client thread makes at least this many requests per batch: with fewer, the batch's ramp-down
    # (the last clients finishing alone) is a large share of its wall time and understates throughput.
    requests_per_client: int = 10
    rounds: int = 2
    other_requests: int = 40
    smart_crop_requests: int = 20
    # The smart-crop upload: a 3000x2250 photo, about 2 MB (the size the service's target is stated for).
    smart_crop_width: int = 3000
    smart_crop_height: int = 2250
    crop_side: int = 1000
    ai_latencies: Sequence[float] = (0.0, 2.0)
    decisions: int = 40
    # Manual crops of the full photo sent at once to a fresh server, for its peak memory.
    memory_uploads: int = 50
    # Fresh execution environments per Lambda function for the cold-start figures.
    cold_starts: int = 5
    image_concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    worker_concurrency: int = 2
    drain_timeout_seconds: float = 120.0
    # Service configurations timed in the same turns as the default one: the optimisations, switched off.
    variants: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def requests_at(self, concurrency: int) -> int:
        """Timed requests at one concurrency: `requests`, or more so that every batch keeps each client busy."""
        return max(self.requests, concurrency * self.requests_per_client * self.rounds)

    def crop_box_at(self, position: str) -> tuple[int, int, int, int]:
        """The same box at the top, middle or bottom of the frame: libvips decodes only down to its last row."""
        side = min(self.crop_side, self.width, self.height)
        left = (self.width - side) // 2
        top = {"top": 0, "middle": (self.height - side) // 2, "bottom": self.height - side}[position]
        return left, top, left + side, top + side

    def crop_box(self) -> tuple[int, int, int, int]:
        """A 1000x1000 product shot out of the middle of the photo (left, top, right, bottom)."""
        left, top = (self.width - self.crop_side) // 2, (self.height - self.crop_side) // 2
        return left, top, left + self.crop_side, top + self.crop_side

    def server_env(self, *, ai_latency_seconds: float = 0.0) -> dict[str, str]:
        return {
            # While the baselines take their turn, the service's pooled connections sit idle for longer
            # than uvicorn's 5 s default; a connection closed just as the client reuses it would end the run.
            "KEEP_ALIVE_TIMEOUT_SECONDS": "120",
            # Every simulated client shares one loopback address: lift the per-address shares.
            "MAX_CONNECTIONS_PER_CLIENT": "1000",
            "UPLOAD_BUDGET_CLIENT_BYTES": str(256 * 1024 * 1024),
            "IMAGE_CONCURRENCY": str(self.image_concurrency),
            "JPEG_QUALITY": str(JPEG_QUALITY),
            "LOCAL_WORKER_CONCURRENCY": str(self.worker_concurrency),
            "MOCK_AI_LATENCY_SECONDS": str(ai_latency_seconds),
        }

    def described(self, image_bytes: int, smart_crop_bytes: int) -> dict[str, str]:
        return {
            "image": f"{self.width}x{self.height} JPEG q{JPEG_QUALITY}, {image_bytes / 1e6:.1f} MB",
            "smart_crop_upload": f"{self.smart_crop_width}x{self.smart_crop_height}, {smart_crop_bytes / 1e6:.1f} MB",
            "crop_box": "x={}, y={}, right={}, bottom={}".format(*self.crop_box()),
            "IMAGE_CONCURRENCY": str(self.image_concurrency),
            "JPEG_QUALITY": str(JPEG_QUALITY),
            "LOCAL_WORKER_CONCURRENCY": str(self.worker_concurrency),
            "RATE_LIMIT_REQUESTS": "1000000 (so the benchmark is never refused)",
            "requests_per_level": (
                f"at least {self.requests} and {self.requests_per_client} per client per batch "
                f"({', '.join(str(self.requests_at(level)) for level in self.levels)}), "
                f"raw and service taking turns in {self.rounds} batches"
            ),
            "warm_up": "one untimed request per client thread before each level",
            "smart_crop_requests": f"{self.smart_crop_requests}, one at a time",
            "variants": "; ".join(self.variants) or "none",
        }
