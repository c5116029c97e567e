"""Deterministic zips for Lambda layers and function packages (`make layers package`).

Entries are sorted and carry a fixed timestamp, so an unchanged source gives a byte-identical
zip, Terraform sees the same `source_code_hash`, and a second `make deploy` changes nothing.
"""

import argparse
import zipfile
from collections.abc import Iterator
from pathlib import Path

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}


def _files(root: Path, include: list[str]) -> Iterator[Path]:
    starts = [root / name for name in include] if include else [root]
    for start in starts:
        candidates = [start] if start.is_file() else sorted(start.rglob("*"))
        for path in candidates:
            relative = path.relative_to(root)
            if path.is_file() and not _skipped(relative):
                yield path


def _skipped(relative: Path) -> bool:
    return (
        any(part in _SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts[:-1])
        or relative.suffix in _SKIPPED_SUFFIXES
    )


def build_zip(root: Path, output: Path, include: list[str]) -> int:
    """Zip the files under `root` (or only `include`, relative to it) into `output`; returns the count."""
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = sorted(set(_files(root, include)), key=lambda path: path.relative_to(root).as_posix())
    if not paths:
        raise SystemExit(f"Nothing to package under {root}.")
    temporary = output.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in paths:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    temporary.replace(output)
    return len(paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path, help="folder whose contents become the zip's top level")
    parser.add_argument("output", type=Path)
    parser.add_argument("--include", action="append", default=[], help="path under root to take (repeatable)")
    args = parser.parse_args()
    count = build_zip(args.root, args.output, args.include)
    print(f"{args.output}: {count} files")


if __name__ == "__main__":
    main()
