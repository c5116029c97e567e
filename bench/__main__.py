"""`python -m bench`: run the benchmarks and write results.md, results.json and latency_throughput.png."""

import argparse
from pathlib import Path

from . import chart, report
from .config import Config
from .runner import Results, run

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CHART_NAME = "latency_throughput.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR, help="folder for the results")
    parser.add_argument("--requests", type=int, default=Config.requests, help="timed manual crops per level")
    parser.add_argument(
        "--levels", type=lambda text: [int(part) for part in text.split(",")], default=list(Config.levels)
    )
    args = parser.parse_args()
    results = run(Config(requests=args.requests, levels=args.levels))
    write(results, args.output)
    print("\n".join([*report.manual_crop_table(results), "", *report.variants_table(results)]))
    print(f"\nwrote {args.output}/results.md, results.json and {CHART_NAME} in {results.duration_seconds:.0f} s")


def write(results: Results, output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    report.write_atomically(output / CHART_NAME, chart.render(results))
    report.write_atomically(output / "results.json", report.to_json(results).encode())
    report.write_atomically(output / "results.md", report.to_markdown(results, chart=CHART_NAME).encode())


if __name__ == "__main__":
    main()
