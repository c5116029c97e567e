"""`python -m bench`: run the benchmarks and write results.md, results.json and latency_throughput.png."""

import argparse
from pathlib import Path

from . import chart, report
from .cold_start import measure_cold_starts
from .config import Config
from .runner import Results, run, run_renditions

RESULTS_DIR = Path(__file__).resolve().parent / "results"
CHART_NAME = "latency_throughput.png"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR, help="folder for the results")
    parser.add_argument("--requests", type=int, default=Config.requests, help="timed manual crops per level")
    parser.add_argument(
        "--levels", type=lambda text: [int(part) for part in text.split(",")], default=list(Config.levels)
    )
    parser.add_argument(
        "--only",
        choices=["cold-start", "renditions"],
        help="run one phase alone and write its own results (cold_start.md and .json, or renditions.md and .json)",
    )
    args = parser.parse_args()
    if args.only == "cold-start":
        cold_starts = measure_cold_starts(Config.cold_starts)
        args.output.mkdir(parents=True, exist_ok=True)
        report.write_atomically(args.output / "cold_start.json", report.cold_start_json(cold_starts).encode())
        table = "\n".join(["# Lambda cold start", "", *report.cold_start_table(cold_starts)[2:]])
        report.write_atomically(args.output / "cold_start.md", f"{table}\n".encode())
        print(table)
        return
    if args.only == "renditions":
        run_alone = run_renditions(Config())
        args.output.mkdir(parents=True, exist_ok=True)
        report.write_atomically(args.output / "renditions.json", report.renditions_json(run_alone).encode())
        table = "\n".join(
            ["# Renditions", "", *report.rendition_targets_table(run_alone), *report.renditions_table(run_alone)[2:]]
        )
        report.write_atomically(args.output / "renditions.md", f"{table}\n".encode())
        print(table)
        return
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
