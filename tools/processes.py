"""Start the AWS emulator and the service as child processes on loopback, and always stop them."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
# The allocator setting the container image and `make run` give the server (glibc reads it at start-up):
# by default every thread that allocates may get its own 64 MB heap, and memory freed in one is never
# reused by another. With crops and uploads handled on dozens of worker threads, that held 60-100 MB.
SERVER_ALLOCATOR_ENV = {"MALLOC_ARENA_MAX": "2"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, *, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered at {url} within {timeout} s")


@contextlib.contextmanager
def child_process(
    args: list[str], *, env: Mapping[str, str] | None = None, log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    output = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(  # noqa: S603 - the tests' own fixed commands
        args, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT
    )
    try:
        yield process
    finally:
        stop(process)
        if log and not isinstance(output, int):
            output.close()


def stop(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_emulator(port: int | None = None) -> Iterator[str]:
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    with child_process([sys.executable, "-m", "tools.aws_emulator", "--port", str(port)]) as process:
        wait_until_up(url, process=process)
        yield url


@dataclass(frozen=True)
class ServiceProcess:
    url: str
    pid: int

    def peak_rss_bytes(self) -> int:
        """VmHWM: the most resident memory the process has held so far."""
        return _status_bytes(self.pid, "VmHWM")

    def rss_bytes(self) -> int:
        return _status_bytes(self.pid, "VmRSS")


def _status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found for process {pid}")


@contextlib.contextmanager
def service_process(
    env: Mapping[str, str], log: Path | None = None, *, port: int | None = None
) -> Iterator[ServiceProcess]:
    """The service (local_server.py) on loopback, up and answering /health; stopped on the way out."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    server_env = {"HOST": "127.0.0.1", "PORT": str(port), **SERVER_ALLOCATOR_ENV, **env}
    with child_process([sys.executable, "local_server.py"], env=server_env, log=log) as process:
        wait_until_up(f"{url}/health", process=process)
        yield ServiceProcess(url, process.pid)


@contextlib.contextmanager
def running_service(env: Mapping[str, str], *, port: int | None = None, log: Path | None = None) -> Iterator[str]:
    with service_process(env, log, port=port) as process:
        yield process.url
