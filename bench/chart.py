"""latency_throughput.png: latency and throughput against concurrency, service and raw Pillow together."""

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from .runner import Results

_SERVICE, _RAW, _VARIANT = "tab:blue", "tab:orange", "tab:grey"


def render(results: Results) -> bytes:
    rows = results.manual_crop
    levels = [row.concurrency for row in rows]
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for label, colour, series in (
        ("service", _SERVICE, [row.service for row in rows]),
        ("raw Pillow", _RAW, [row.raw for row in rows]),
    ):
        latency.plot(levels, [r.p50_ms for r in series], "o-", color=colour, label=f"{label} p50")
        latency.plot(levels, [r.p95_ms for r in series], "s--", color=colour, label=f"{label} p95")
        throughput.plot(levels, [r.throughput_rps for r in series], "o-", color=colour, label=label)
    for name, variant in results.manual_crop_variants.items():
        latency.plot(levels, [r.p50_ms for r in variant], "^:", color=_VARIANT, label=f"service, {name}, p50")
        throughput.plot(levels, [r.throughput_rps for r in variant], "^:", color=_VARIANT, label=f"service, {name}")
    latency.set(title="Manual crop latency", xlabel="concurrent requests", ylabel="milliseconds")
    throughput.set(title="Manual crop throughput", xlabel="concurrent requests", ylabel="requests per second")
    for axes in (latency, throughput):
        axes.set_xscale("log", base=2)
        axes.set_xticks(levels, [str(level) for level in levels])
        axes.set_ylim(bottom=0)
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle(f"{results.settings['image']}; {results.machine['cpus']} CPUs", fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
