import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from docker.utils.build import PatternMatcher
from dockerfile_parse import DockerfileParser

from tools.processes import REPO_ROOT, SERVER_ALLOCATOR_ENV

DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str  # continuation lines joined, runs of whitespace as one space


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)


def _stages() -> list[Stage]:
    """The Dockerfile's stages as dockerfile-parse reads it (ARG and ENV references left as written)."""
    stages: list[Stage] = []
    for entry in DockerfileParser(str(DOCKERFILE), env_replace=False).structure:
        keyword, arguments = entry["instruction"], " ".join(entry["value"].split())
        if keyword == "FROM":
            base, _, name = arguments.partition(" AS ")
            stages.append(Stage(base=base, name=name or None))
        elif keyword != "COMMENT" and stages:
            stages[-1].instructions.append(Instruction(keyword, arguments))
    return stages


STAGES = _stages()
FINAL = STAGES[-1]


def _named(name: str) -> Stage:
    return next(stage for stage in STAGES if stage.name == name)


def _effective(target: Stage) -> list[Instruction]:
    """Every instruction that shapes the target's image, in order: those of the stages it is built FROM first."""
    by_name = {stage.name: stage for stage in STAGES if stage.name}
    lineage = [target]
    while lineage[0].base in by_name:
        lineage.insert(0, by_name[lineage[0].base])
    return [instruction for stage in lineage for instruction in stage.instructions]


def _final(keyword: str) -> list[Instruction]:
    return [instruction for instruction in _effective(FINAL) if instruction.keyword == keyword]


def _excluded_from_context(path: str) -> bool:
    """Whether `docker build` leaves `path` out of the context (docker-py's reading of .dockerignore)."""
    rules = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return bool(PatternMatcher([rule for rule in rules if rule and not rule.startswith("#")]).matches(path))


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    """Audit 24: the image definition passes hadolint with no findings."""
    hadolint = _hadolint()
    assert hadolint is not None, "hadolint is missing: it comes with requirements/dev.txt (make install)"

    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )

    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_every_stage_starts_from_the_pinned_python_base_or_an_earlier_stage() -> None:
    preamble = DOCKERFILE.read_text().split("\nFROM ", 1)[0]
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", preamble, re.MULTILINE)

    assert default is not None
    # The Lambda runtime's Python, pinned to a patch release of the slim Debian image.
    assert re.fullmatch(r"python:3\.12\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", default.group(1))
    earlier: set[str] = set()
    for stage in STAGES:
        assert stage.base == "${PYTHON_IMAGE}" or stage.base in earlier
        earlier.add(stage.name or "")


def test_the_default_target_is_the_runtime_stage_and_compose_targets_exist() -> None:
    assert FINAL.name == "runtime"
    assert {"builder", "tables", "runtime"} <= {stage.name for stage in STAGES}


def test_the_image_runs_as_a_fixed_numeric_non_root_user() -> None:
    users = _final("USER")

    assert users
    user, _, group = users[-1].arguments.partition(":")
    assert user.isdigit() and int(user) >= 1000
    assert group == "" or (group.isdigit() and int(group) >= 1000)


@pytest.mark.parametrize("folder", ["/app/processed_images", "/app/upload_spool"])
def test_the_data_folders_belong_to_that_user_before_they_are_declared_volumes(folder: str) -> None:
    """Audit 24: a fresh named volume inherits the non-root owner, so images persist and are writable;
    issue 11: spooled uploads wait on a volume too, not in memory or the 64 MB tmpfs."""
    instructions = _effective(FINAL)
    uid = _final("USER")[-1].arguments.partition(":")[0]
    volume_at = next(i for i, step in enumerate(instructions) if step.keyword == "VOLUME")
    created_at = next(
        i
        for i, step in enumerate(instructions)
        if step.keyword == "RUN" and folder in step.arguments and f"-o {uid}" in step.arguments
    )

    assert folder in json.loads(instructions[volume_at].arguments)
    assert created_at < volume_at


def test_the_health_check_calls_health_with_python_not_curl() -> None:
    (healthcheck,) = _final("HEALTHCHECK")

    assert "/health" in healthcheck.arguments
    assert "urllib" in healthcheck.arguments
    assert "curl" not in healthcheck.arguments and "wget" not in healthcheck.arguments


def test_the_command_is_exec_form_and_serves_local_server() -> None:
    assert json.loads(_final("CMD")[-1].arguments) == ["python", "local_server.py"]
    assert json.loads(_named("tables").instructions[-1].arguments) == ["python", "-m", "tools.create_tables"]


def test_the_runtime_environment_is_set_for_containers() -> None:
    environment = " ".join(step.arguments for step in _final("ENV"))

    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "PATH=/opt/venv/bin:$PATH",
        "HOST=0.0.0.0",
        "PORT=8000",
        "PROCESSED_IMAGES_DIR=/app/processed_images",
        "UPLOAD_SPOOL_DIR=/app/upload_spool",
        *(f"{name}={value}" for name, value in SERVER_ALLOCATOR_ENV.items()),
    ):
        assert setting in environment


def test_the_final_image_gets_only_the_virtualenv_from_the_builder_and_no_compiler() -> None:
    instructions = _effective(FINAL)
    text = " ".join(step.arguments for step in instructions)
    copies_from_builder = [step.arguments for step in instructions if "--from=" in step.arguments]

    assert copies_from_builder == ["--from=builder /opt/venv /opt/venv"]
    for tool in ("apt-get", "build-essential", "gcc", "pip install", "tests"):
        assert tool not in text
    assert "--no-cache-dir" in " ".join(step.arguments for step in _named("builder").instructions)


def test_the_builder_installs_the_pinned_requirements_and_the_package_without_its_dependencies() -> None:
    runs = [step.arguments for step in _named("builder").instructions if step.keyword == "RUN"]

    assert any("pip==25.3" in run for run in runs)
    assert any("--require-hashes" in run and "-r requirements/runtime.lock" in run for run in runs)
    assert any(run.endswith("pip install --no-cache-dir --no-deps .") for run in runs)


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        ".venv-checkov/bin/python",
        "tests/conftest.py",
        "bench/runner.py",
        "build/functions/api.zip",
        "terraform/terraform.tfstate",
        "terraform/.terraform/providers",
        "processed_images/ABC-123/x.jpg",
        ".run/aws-emulator.log",
        ".env",
        "layers/common/python/image_processor/__pycache__/api.cpython-312.pyc",
        "functions/api/app.py",
    ],
)
def test_dockerignore_keeps_out_what_the_image_does_not_need(path: str) -> None:
    assert _excluded_from_context(path)


def test_dockerignore_lets_in_every_copy_source() -> None:
    sources = [
        source
        for stage in STAGES
        for step in stage.instructions
        if step.keyword == "COPY" and "--from=" not in step.arguments
        for source in step.arguments.split()[:-1]
    ]

    assert "local_server.py" in sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), source
        assert not _excluded_from_context(source), source
    assert not _excluded_from_context("layers/common/python/image_processor/api/app.py")
