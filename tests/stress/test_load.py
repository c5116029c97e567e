"""The rate limiter under load: two server processes, many concurrent clients, one or many addresses."""

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from image_processor.admission.rate_limit import DynamoDBRateLimiter
from image_processor.aws import clients as aws
from image_processor.settings import Settings
from tests.stress.conftest import percentile
from tests.support import images
from tools.processes import service_process

LIMIT = 20
CLIENTS_PER_SERVER = 50
UPLOAD = images.solid_jpeg(64, 48)


@pytest.fixture
def service_env(service_env: dict[str, str]) -> dict[str, str]:
    # The emulator serves one request at a time, so under this load its queue, not DynamoDB, sets the
    # latency: give the clients room so that a queued call is not mistaken for an outage.
    # A hundred clients share one loopback address here, which the per-address connection cap would refuse.
    return {**service_env, "AWS_TIMEOUT_SECONDS": "20", "MAX_CONNECTIONS_PER_CLIENT": "200"}


def smart_crop(client: httpx.Client, forwarded_for: str | None = None) -> tuple[int, float, str | None]:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    started = time.perf_counter()
    response = client.post(
        "/images/smart-crop",
        files={"source_image": ("photo.jpg", UPLOAD, "image/jpeg")},
        data={"product_info": json.dumps({"product_id": "LOAD-1"})},
        headers=headers,
    )
    return response.status_code, time.perf_counter() - started, forwarded_for


def report(label: str, results: list[tuple[int, float, str | None]]) -> None:
    for status in sorted({status for status, _, _ in results}):
        latencies = [seconds * 1000 for code, seconds, _ in results if code == status]
        print(
            f"{label}: {status} x{len(latencies)}: p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms"
        )


def hammer(
    urls: list[str], requests_per_server: int, forwarded_for: list[str | None]
) -> list[tuple[int, float, str | None]]:
    limits = httpx.Limits(max_connections=CLIENTS_PER_SERVER)
    clients = [httpx.Client(base_url=url, timeout=60, limits=limits) for url in urls]
    jobs = [
        (clients[i % len(clients)], forwarded_for[i % len(forwarded_for)])
        for i in range(requests_per_server * len(urls))
    ]
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS_PER_SERVER * len(urls)) as pool:
            return list(pool.map(lambda job: smart_crop(*job), jobs))
    finally:
        for client in clients:
            client.close()


def test_two_servers_and_a_hundred_clients_from_one_address_admit_exactly_the_limit(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    """Audit 13: two processes sharing one DynamoDB table never admit more than the limit between them."""
    with (
        service_process(service_env, tmp_path / "a.log") as first,
        service_process(service_env, tmp_path / "b.log") as second,
    ):
        results = hammer([first.url, second.url], 2 * CLIENTS_PER_SERVER, [None])

    report("one address, 2 servers x 50 clients", results)
    statuses = Counter(status for status, _, _ in results)
    assert statuses == {202: LIMIT, 429: len(results) - LIMIT}


def test_many_addresses_behind_a_trusted_proxy_each_get_their_own_limit(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**service_env, "TRUSTED_PROXIES": "127.0.0.1/32"}
    addresses: list[str | None] = [f"198.51.100.{i}" for i in range(1, 11)]
    with service_process(env, tmp_path / "a.log") as first, service_process(env, tmp_path / "b.log") as second:
        results = hammer([first.url, second.url], 150, addresses)

    report("10 addresses, 2 servers x 50 clients", results)
    admitted = Counter(address for status, _, address in results if status == 202)
    assert admitted == dict.fromkeys(addresses, LIMIT)
    assert Counter(status for status, _, _ in results) == {202: LIMIT * 10, 429: len(results) - LIMIT * 10}


def test_decision_latency_in_process(settings: Settings) -> None:
    """The limiter alone against the emulator: one caller at a time, then 50 at once on distinct keys."""
    limiter = DynamoDBRateLimiter(
        aws.client("dynamodb", settings.model_copy(update={"aws_timeout_seconds": 20})),
        settings.rate_limit_table,
        limit=LIMIT,
        window_seconds=3600,
    )

    def timed(key: str) -> tuple[bool, float]:
        started = time.perf_counter()
        allowed = limiter.acquire(key).allowed
        return allowed, (time.perf_counter() - started) * 1000

    sequential = [timed("seq") for _ in range(2 * LIMIT)]
    with ThreadPoolExecutor(max_workers=CLIENTS_PER_SERVER) as pool:
        concurrent = list(pool.map(lambda i: timed(f"k{i % 10}"), range(10 * 25)))

    for label, samples in (("sequential", sequential), ("50 concurrent", concurrent)):
        latencies = [ms for _, ms in samples]
        print(
            f"limiter decision, {label}: p50 {percentile(latencies, 0.5):.1f} ms, "
            f"p99 {percentile(latencies, 0.99):.1f} ms over {len(latencies)}"
        )
    assert sum(allowed for allowed, _ in sequential) == LIMIT
    assert sum(allowed for allowed, _ in concurrent) == 10 * LIMIT
