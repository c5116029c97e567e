"""Thirty clients trickling their uploads at a few bytes a second, against a real uvicorn (issue 14).

uvicorn's h11 server has no read timeout: without the body deadline these connections, their tasks and
their partial bodies stay for as long as the clients keep sending.
"""

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.stress.conftest import percentile
from tests.support.trickle import close_all, keep_trickling, open_tricklers, probing_health, still_open
from tools.processes import service_process

MB = 1024 * 1024
CLIENTS = 30
DEADLINE_SECONDS = 5
DECLARED_BYTES = 2 * MB
SENT_BYTES = 1 * MB


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found")


def test_trickling_uploads_neither_block_health_nor_outlive_the_body_deadline(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **service_env,
        "BODY_READ_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
        "UPLOAD_BUDGET_BYTES": str(CLIENTS * DECLARED_BYTES + MB),
        # Every trickler comes from one address, which by default may hold a quarter of the budget.
        "UPLOAD_BUDGET_CLIENT_BYTES": str(CLIENTS * DECLARED_BYTES + MB),
        "MAX_CONNECTIONS_PER_CLIENT": str(CLIENTS + 5),
        # A fixed threshold: glibc then returns freed large blocks to the system at once. Otherwise it keeps
        # them for reuse, and RSS would show what the allocator caches rather than what the service holds.
        "MALLOC_MMAP_THRESHOLD_": "131072",
    }
    with service_process(env, tmp_path / "server.log") as server:
        baseline = resident_bytes(server.pid)
        tricklers = open_tricklers(server.url, CLIENTS, declared_bytes=DECLARED_BYTES, sent_bytes=SENT_BYTES)
        started = time.monotonic()
        try:
            with probing_health(server.url) as probe:
                keep_trickling(tricklers, until=started + DEADLINE_SECONDS - 1.5)
            held = resident_bytes(server.pid)
            open_while_probing = len(still_open(tricklers))
            keep_trickling(tricklers, until=started + DEADLINE_SECONDS + 10)
            time.sleep(0.5)
            after = resident_bytes(server.pid)
        finally:
            close_all(tricklers)

    lifetimes = [trickler.closed_at - trickler.opened_at for trickler in tricklers if trickler.closed_at]
    print(
        f"{CLIENTS} tricklers: /health p50 {percentile(probe.latencies, 0.5) * 1000:.0f} ms, "
        f"max {max(probe.latencies) * 1000:.0f} ms over {len(probe.latencies)} probes; "
        f"RSS baseline {baseline / MB:.0f} MB, while trickling {held / MB:.0f} MB, "
        f"after the deadline {after / MB:.0f} MB; "
        f"connections closed after {min(lifetimes, default=0):.1f}-{max(lifetimes, default=0):.1f} s, "
        f"statuses {sorted({trickler.status for trickler in tricklers}, key=str)}"
    )
    # /health answered, promptly, while every trickler still held its connection.
    assert open_while_probing == CLIENTS
    assert probe.statuses and set(probe.statuses) == {200}
    assert max(probe.latencies) < DEADLINE_SECONDS / 2
    # The server closed every connection at the deadline, answering 408 where the client still listened.
    assert still_open(tricklers) == []
    assert max(lifetimes) < DEADLINE_SECONDS + 3
    assert {trickler.status for trickler in tricklers} <= {408, None}
    assert sum(trickler.status == 408 for trickler in tricklers) >= CLIENTS // 2
    # And the partial bodies went with them.
    assert held - baseline > CLIENTS * SENT_BYTES // 2
    assert after - baseline < (held - baseline) / 2


def test_past_limit_concurrency_new_requests_are_refused_at_once(service_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 14: connections that send nothing still count; past LIMIT_CONCURRENCY uvicorn answers 503."""
    env = {**service_env, "LIMIT_CONCURRENCY": "4", "MAX_CONNECTIONS_PER_CLIENT": "10"}
    with service_process(env, tmp_path / "server.log") as server:
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200
        parts = urlsplit(server.url)
        idle = [socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80)) for _ in range(4)]
        try:
            time.sleep(0.2)
            assert httpx.get(f"{server.url}/health", timeout=5).status_code == 503
        finally:
            for sock in idle:
                sock.close()
        time.sleep(0.2)
        assert httpx.get(f"{server.url}/health", timeout=5).status_code == 200


def test_one_address_cannot_hold_every_connection(service_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 22: 100 connections sending partial headers made uvicorn answer 503 to everyone for about 9 s."""
    with service_process({**service_env, "LIMIT_CONCURRENCY": "8"}, tmp_path / "server.log") as server:
        parts = urlsplit(server.url)
        address = (parts.hostname or "127.0.0.1", parts.port or 80)
        idle = [socket.create_connection(address, timeout=10) for _ in range(8)]
        try:
            for sock in idle:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
            time.sleep(0.2)
            # A quarter of LIMIT_CONCURRENCY (2) stay open; the rest were closed at once, and others are served.
            closed = sum(_closed_by_server(sock) for sock in idle)
            other = httpx.HTTPTransport(local_address="127.0.0.2")
            with httpx.Client(transport=other, base_url=server.url, timeout=5) as client:
                assert client.get("/health").status_code == 200
        finally:
            for sock in idle:
                sock.close()
    assert closed == 6


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(2)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_a_client_that_never_finishes_its_headers_is_disconnected(service_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 14: uvicorn has no header timeout; half-sent headers held their connections forever."""
    env = {**service_env, "HEADER_READ_TIMEOUT_SECONDS": "1"}
    with service_process(env, tmp_path / "server.log") as server:
        parts = urlsplit(server.url)
        sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)
        opened = time.monotonic()
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            closed = False
            while not closed and time.monotonic() - opened < 8:
                try:
                    sock.sendall(b"X")
                    sock.settimeout(0.3)
                    closed = sock.recv(1024) == b""
                except TimeoutError:
                    continue
                except ConnectionError:
                    closed = True
        finally:
            sock.close()
        assert closed
        assert time.monotonic() - opened < 4
        # A client that sends its requests whole keeps its connection across them.
        with httpx.Client(base_url=server.url, timeout=5) as client:
            assert [client.get("/health").status_code for _ in range(3)] == [200, 200, 200]
