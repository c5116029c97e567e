"""What the stress suite shares beyond the root conftest (whose service_env runs uvicorn children on loopback
against one emulator and its tables)."""

import statistics


def percentile(samples: list[float], fraction: float) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[round(fraction * 100) - 1]
