"""Service processes for the stress suite: uvicorn children on loopback sharing one emulator and its tables."""

import contextlib
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.processes import SERVER_ALLOCATOR_ENV, child_process, free_port, wait_until_up


class ServiceProcess:
    def __init__(self, url: str, pid: int) -> None:
        self.url = url
        self.pid = pid

    def peak_rss_bytes(self) -> int:
        """VmHWM: the most resident memory the process has held so far."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmHWM not found")


@contextlib.contextmanager
def service_process(env: dict[str, str], log: Path, *, port: int | None = None) -> Iterator[ServiceProcess]:
    """Like `tools.processes.running_service`, but the test also gets the process (to kill it or measure it)."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    server_env = {"HOST": "127.0.0.1", "PORT": str(port), **SERVER_ALLOCATOR_ENV, **env}
    with child_process([sys.executable, "local_server.py"], env=server_env, log=log) as process:
        wait_until_up(f"{url}/health", process=process)
        yield ServiceProcess(url, process.pid)


@pytest.fixture
def service_env(tmp_path: Path, aws_endpoint: str, table_names: dict[str, str]) -> dict[str, str]:
    return {
        "PROCESSED_IMAGES_DIR": str(tmp_path / "processed_images"),
        "AWS_ENDPOINT_URL": aws_endpoint,
        "RATE_LIMIT_TABLE": table_names["rate_limit"],
        "JOBS_TABLE": table_names["jobs"],
        "IDEMPOTENCY_TABLE": table_names["idempotency"],
        "MOCK_AI_LATENCY_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }


def percentile(samples: list[float], fraction: float) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[round(fraction * 100) - 1]
