"""Self-contained, reproducible Lambda function zips (`make package`); no layers.

`python -m tools.build_lambda api build/functions/api.zip` stages, in a fresh folder:

- the handler, `functions/<name>/app.py`, at the root (handler `app.handler`);
- the shared library, `image_processor/`;
- the third-party dependencies from requirements/runtime.lock (every pin with its hashes), installed
  by pip for the Lambda platform (manylinux x86_64, CPython 3.12) in hash-checking mode, the AWS SDK
  (boto3, botocore, s3transfer) included at its locked versions (botocore with the models of the
  services the functions call only), minus the local web server
  (uvicorn), and for the worker minus the web framework it never imports, together with whatever
  only those left-out packages need;
- bytecode compiled by Python 3.12 in unchecked-hash mode: the task root is read-only on Lambda, so
  without it every cold start would compile every module again, and hash-based .pyc files carry no
  timestamp, so they stay valid in a zip whose entries all have one fixed date.

Entries are sorted and carry a fixed timestamp, so an unchanged source gives a byte-identical zip,
Terraform sees the same `source_code_hash`, and a second `make deploy` changes nothing.
"""

import argparse
import compileall
import py_compile
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNTIME_REQUIREMENTS = REPO_ROOT / "requirements" / "runtime.txt"
RUNTIME_LOCK = REPO_ROOT / "requirements" / "runtime.lock"
LIBRARY = REPO_ROOT / "layers" / "common" / "python" / "image_processor"

LAMBDA_PYTHON = (3, 12)
# Pillow ships manylinux_2_28 wheels only; the python3.12 runtime (Amazon Linux 2023, glibc 2.34) runs both.
LAMBDA_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
# Where the code lives on Lambda: compiled code names its source there, not where it was built.
TASK_ROOT = "/var/task"

# The AWS SDK ships in the zip at its locked version: the runtime's copy varies by runtime version and
# Region, and the upload claim (put_object with IfNoneMatch) needs a botocore from late 2024 or later.
AWS_SDK = frozenset({"boto3", "botocore", "s3transfer"})
# botocore carries a model of every AWS service (about 25 MB); the functions create clients for these only,
# which keeps each zip well under Lambda's 50 MB direct-upload limit. The harness runs every client end to end.
BOTOCORE_SERVICES = frozenset({"cloudfront", "dynamodb", "lambda", "s3", "sqs", "sts"})
# uvicorn serves the app locally and in the container; on Lambda, API Gateway and Mangum do.
LOCAL_ONLY = frozenset({"uvicorn"})
# Requirements each function leaves out, beyond the two sets above.
FUNCTION_EXCLUDES: dict[str, frozenset[str]] = {
    "api": frozenset(),
    # The worker imports no web framework (a test checks sys.modules).
    "smart_crop_worker": frozenset({"fastapi", "mangum", "python-multipart"}),
}

# Pure-Python requirements published only as a source distribution: built into a wheel here (the
# source's hash checked), so the platform install stays wheels-only and no compiled sdist sneaks in.
SOURCE_ONLY = frozenset({"pyvips"})

_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIPPED_DIRS = {"__pycache__"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalise(name: str) -> str:
    """PEP 503 name: `Python_Multipart` and `python-multipart` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class LockEntry:
    """One package of a pip-compile lock: its `name==version` line with hashes, and who needs it."""

    name: str
    text: str
    needed_by: frozenset[str]


def read_lock(lock: Path = RUNTIME_LOCK) -> list[LockEntry]:
    entries: list[LockEntry] = []
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.read_text()):
        match = _REQUIREMENT_NAME.match(block)
        if not match or block.startswith("#"):
            continue
        pin = "\n".join(line for line in block.splitlines() if not line.lstrip().startswith("#"))
        via = re.findall(r"#\s+(?:via\s+)?(-r \S+|[A-Za-z0-9][A-Za-z0-9._-]*)\s*$", block, flags=re.MULTILINE)
        entries.append(LockEntry(normalise(match.group(1)), pin.strip(), frozenset(normalise(v) for v in via)))
    return entries


def lambda_requirements(
    function: str, lock: Path = RUNTIME_LOCK, runtime_requirements: Path = RUNTIME_REQUIREMENTS
) -> list[LockEntry]:
    """The locked packages `function` ships: runtime.txt's minus what it never uses,
    and what those need, transitively (a package only a left-out one needs is left out too)."""
    excluded = {normalise(name) for name in LOCAL_ONLY | FUNCTION_EXCLUDES[function]}
    direct = set()
    for line in runtime_requirements.read_text().splitlines():
        match = _REQUIREMENT_NAME.match(line.split("#", 1)[0])
        if match:
            direct.add(normalise(match.group(1)))
    entries = read_lock(lock)
    needed = (direct & {entry.name for entry in entries}) - excluded
    while True:
        more = {entry.name for entry in entries if entry.needed_by & needed} - excluded - needed
        if not more:
            return [entry for entry in entries if entry.name in needed]
        needed |= more


def install_dependencies(entries: list[LockEntry], target: Path) -> None:
    """pip-install the locked `entries` for the Lambda platform into `target`: wheels only, hashes checked."""
    target.mkdir(parents=True)
    source_only = {normalise(name) for name in SOURCE_ONLY}
    lock = target.parent / f"{target.name}.lock"
    lock.write_text("".join(f"{entry.text}\n" for entry in entries if entry.name not in source_only))
    platforms = [argument for platform in LAMBDA_PLATFORMS for argument in ("--platform", platform)]
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps", "--require-hashes"]
    command += ["--only-binary=:all:", *platforms, "--implementation", "cp"]
    command += ["--python-version", ".".join(map(str, LAMBDA_PYTHON)), "--target", str(target), "-r", str(lock)]
    subprocess.run(command, check=True)  # noqa: S603
    wheels = build_pure_wheels([entry for entry in entries if entry.name in source_only], target.parent / "wheels")
    if wheels:
        pure = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-deps", "--target"]
        subprocess.run([*pure, str(target), *map(str, wheels)], check=True)  # noqa: S603
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: nothing runs them on Lambda


def build_pure_wheels(entries: list[LockEntry], wheelhouse: Path) -> list[Path]:
    """Build locked source-only packages into wheels (their sources hash-checked); each must be pure Python."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    if entries:
        lock = wheelhouse / "source-only.lock"
        lock.write_text("".join(f"{entry.text}\n" for entry in entries))
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--require-hashes"]
        subprocess.run([*command, "--wheel-dir", str(wheelhouse), "-r", str(lock)], check=True)  # noqa: S603
    wheels = sorted(wheelhouse.glob("*.whl"))
    compiled = [wheel.name for wheel in wheels if not wheel.name.endswith("-none-any.whl")]
    if compiled:
        raise SystemExit(f"{', '.join(compiled)}: built for this machine, not the Lambda platform.")
    return wheels


def installed_distributions(tree: Path) -> set[str]:
    """Normalised names of the distributions pip installed into `tree` (from their .dist-info folders)."""
    return {normalise(path.name.removesuffix(".dist-info").rsplit("-", 1)[0]) for path in tree.glob("*.dist-info")}


def check_exclusions(tree: Path, function: str) -> None:
    """Fail if a dependency pulled in, transitively, something the function must not ship."""
    unwanted = {normalise(name) for name in LOCAL_ONLY | FUNCTION_EXCLUDES[function]}
    shipped = installed_distributions(tree) & unwanted
    if shipped:
        raise SystemExit(f"{function}: the dependencies pull in {', '.join(sorted(shipped))}, which it must not ship.")


def stage_function(function: str, dependencies: Path, tree: Path) -> None:
    """Lay out the task root: dependencies, then the library and the handler (which win on a clash)."""
    handler = REPO_ROOT / "functions" / function / "app.py"
    if not handler.is_file():
        raise SystemExit(f"No function {function!r}: {handler.relative_to(REPO_ROOT)} does not exist.")
    shutil.copytree(dependencies, tree, dirs_exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
    shutil.copytree(LIBRARY, tree / "image_processor", ignore=ignore, dirs_exist_ok=True)
    shutil.copy2(handler, tree / "app.py")


def prune_botocore_models(tree: Path, keep: frozenset[str] = BOTOCORE_SERVICES) -> None:
    """Remove the service models of botocore's data folder that no client of the functions needs."""
    data = tree / "botocore" / "data"
    if not data.is_dir():
        return
    for service in data.iterdir():
        if service.is_dir() and service.name not in keep:
            shutil.rmtree(service)


def compile_tree(tree: Path) -> None:
    """Compile every module for the Lambda runtime's Python, naming sources by their path on Lambda."""
    if sys.version_info[:2] != LAMBDA_PYTHON:
        raise SystemExit(f"Bytecode must be compiled by Python {'.'.join(map(str, LAMBDA_PYTHON))}, the runtime's.")
    compiled = compileall.compile_dir(
        tree,
        quiet=2,
        workers=1,
        stripdir=str(tree),
        prependdir=TASK_ROOT,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not compiled:
        raise SystemExit(f"Some modules under {tree} do not compile with Python 3.12.")


def _files(root: Path, include: list[str], keep_bytecode: bool) -> Iterator[Path]:
    starts = [root / name for name in include] if include else [root]
    for start in starts:
        candidates = [start] if start.is_file() else sorted(start.rglob("*"))
        for path in candidates:
            relative = path.relative_to(root)
            if path.is_file() and (keep_bytecode or not _skipped(relative)):
                yield path


def _skipped(relative: Path) -> bool:
    return (
        any(part in _SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts[:-1])
        or relative.suffix in _SKIPPED_SUFFIXES
    )


def build_zip(root: Path, output: Path, include: list[str], *, keep_bytecode: bool = False) -> int:
    """Zip the files under `root` (or only `include`, relative to it) into `output`; returns the count."""
    output.parent.mkdir(parents=True, exist_ok=True)
    paths = sorted(
        set(_files(root, include, keep_bytecode)),
        key=lambda path: path.relative_to(root).as_posix(),
    )
    if not paths:
        raise SystemExit(f"Nothing to package under {root}.")
    temporary = output.with_suffix(".zip.tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in paths:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_FIXED_TIME)
            # Lambda runs code as another user than the one that unpacks it: everything world-readable.
            info.external_attr = (0o755 if path.stat().st_mode & 0o111 else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    temporary.replace(output)
    return len(paths)


def package_function(function: str, output: Path, work: Path, dependencies: Path | None = None) -> Path:
    """Build `output` for `function` in the scratch folder `work` (emptied first); returns the staged tree.

    `dependencies` is an already-installed dependency folder; None installs them with pip.
    """
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if dependencies is None:
        dependencies = work / "dependencies"
        install_dependencies(lambda_requirements(function), dependencies)
    check_exclusions(dependencies, function)
    tree = work / "task"
    stage_function(function, dependencies, tree)
    prune_botocore_models(tree)
    compile_tree(tree)
    build_zip(tree, output, [], keep_bytecode=True)
    return tree


def unzipped_size(archive: Path) -> int:
    with zipfile.ZipFile(archive) as opened:
        return sum(info.file_size for info in opened.infolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("function", choices=sorted(FUNCTION_EXCLUDES), help="folder name under functions/")
    parser.add_argument("output", type=Path, help="the zip to write")
    parser.add_argument("--work", type=Path, help="scratch folder (emptied); default: <output without .zip>.build")
    parser.add_argument("--dependencies", type=Path, help="use this installed dependency folder instead of pip")
    args = parser.parse_args()
    work = args.work or args.output.with_suffix(".build")
    package_function(args.function, args.output, work, args.dependencies)
    zipped, unzipped = args.output.stat().st_size, unzipped_size(args.output)
    print(f"{args.output}: {zipped / 2**20:.1f} MiB zipped, {unzipped / 2**20:.1f} MiB unzipped")


if __name__ == "__main__":
    main()
