"""The stress suite's service settings: uvicorn children (tools.processes.service_process) on loopback sharing
one emulator and its tables."""

import statistics
from pathlib import Path

import pytest


@pytest.fixture
def service_env(tmp_path: Path, aws_endpoint: str, table_names: dict[str, str]) -> dict[str, str]:
    return {
        "PROCESSED_IMAGES_DIR": str(tmp_path / "processed_images"),
        "AWS_ENDPOINT_URL": aws_endpoint,
        "RATE_LIMIT_TABLE": table_names["rate_limit"],
        "JOBS_TABLE": table_names["jobs"],
        "IDEMPOTENCY_TABLE": table_names["idempotency"],
        "CATALOG_TABLE": table_names["catalog"],
        "MOCK_AI_LATENCY_SECONDS": "0",
        "LOG_LEVEL": "WARNING",
    }


def percentile(samples: list[float], fraction: float) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[round(fraction * 100) - 1]
