import marshal
import zipfile
from pathlib import Path
from typing import get_args

import pytest

from image_processor.aws.clients import ServiceName
from tools.build_lambda import (
    AWS_SDK,
    BOTOCORE_SERVICES,
    build_pure_wheels,
    build_zip,
    check_exclusions,
    installed_distributions,
    lambda_requirements,
    package_function,
    prune_botocore_models,
)
from tools.processes import REPO_ROOT

RUNTIME_LINES = [
    line for line in (REPO_ROOT / "requirements" / "runtime.txt").read_text().splitlines() if line and line[0] != "#"
]


def _names(requirements: list[str]) -> set[str]:
    return {line.split("==")[0].lower() for line in requirements}


def test_the_functions_ship_their_own_aws_sdk_but_not_the_local_web_server() -> None:
    """The runtime's boto3 varies by runtime version and Region: both zips carry the locked SDK."""
    runtime = _names(RUNTIME_LINES)

    api = {entry.name for entry in lambda_requirements("api")}
    worker = {entry.name for entry in lambda_requirements("smart_crop_worker")}

    assert {"boto3", "uvicorn"} <= runtime
    assert runtime - {"uvicorn"} <= api
    assert api & worker >= AWS_SDK
    assert {"jmespath", "python-dateutil", "urllib3"} <= api & worker
    assert "uvicorn" not in api | worker
    assert not {"fastapi", "mangum", "python-multipart", "starlette"} & worker
    assert worker < api


def test_botocore_keeps_the_models_of_the_services_the_functions_call_only(tmp_path: Path) -> None:
    data = tmp_path / "botocore" / "data"
    for service in ("s3", "dynamodb", "lambda", "sts", "ec2", "sagemaker"):
        (data / service / "2020-01-01").mkdir(parents=True)
    (data / "endpoints.json").write_text("{}")

    prune_botocore_models(tmp_path)

    assert sorted(path.name for path in data.iterdir()) == ["dynamodb", "endpoints.json", "lambda", "s3", "sts"]


def test_the_zips_keep_the_model_of_every_service_the_library_makes_a_client_of() -> None:
    """A missing model fails at the client's creation, on Lambda only: CloudFront's (a DELETE's invalidation)
    was once pruned, and the emulators have no CloudFront for the harness to find it with."""
    assert set(get_args(ServiceName)) <= BOTOCORE_SERVICES


def test_every_shipped_package_is_a_hashed_pin_of_the_lock() -> None:
    for entry in lambda_requirements("api"):
        assert "==" in entry.text.splitlines()[0]
        assert "--hash=sha256:" in entry.text


def test_a_package_only_a_left_out_one_needs_is_left_out_too(tmp_path: Path) -> None:
    (tmp_path / "runtime.txt").write_text("fastapi==1\nuvicorn==1\n")
    (tmp_path / "runtime.lock").write_text(
        "fastapi==1 \\\n    --hash=sha256:aa\n    # via -r runtime.txt\n"
        "starlette==1 \\\n    --hash=sha256:bb\n    # via fastapi\n"
        "h11==1 \\\n    --hash=sha256:cc\n    # via uvicorn\n"
        "uvicorn==1 \\\n    --hash=sha256:dd\n    # via -r runtime.txt\n"
    )

    shipped = lambda_requirements("api", tmp_path / "runtime.lock", tmp_path / "runtime.txt")

    assert [entry.name for entry in shipped] == ["fastapi", "starlette"]


def test_a_dependency_that_pulls_in_an_excluded_distribution_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "uvicorn-0.54.0.dist-info").mkdir()
    (tmp_path / "pydantic_core-2.50.5.dist-info").mkdir()

    assert installed_distributions(tmp_path) == {"uvicorn", "pydantic-core"}
    with pytest.raises(SystemExit, match="uvicorn"):
        check_exclusions(tmp_path, "api")


def test_the_worker_refuses_the_web_framework(tmp_path: Path) -> None:
    (tmp_path / "python_multipart-0.0.34.dist-info").mkdir()

    check_exclusions(tmp_path, "api")
    with pytest.raises(SystemExit, match="python-multipart"):
        check_exclusions(tmp_path, "smart_crop_worker")


def test_a_source_only_requirement_must_build_into_a_pure_python_wheel(tmp_path: Path) -> None:
    """A wheel compiled for this machine would not load on Lambda, so the build stops instead."""
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    (wheelhouse / "pure-1.0-py3-none-any.whl").write_bytes(b"")
    assert build_pure_wheels([], wheelhouse) == [wheelhouse / "pure-1.0-py3-none-any.whl"]

    (wheelhouse / "native-1.0-cp312-cp312-linux_x86_64.whl").write_bytes(b"")
    with pytest.raises(SystemExit, match="native-1"):
        build_pure_wheels([], wheelhouse)


@pytest.fixture
def dependencies(tmp_path: Path) -> Path:
    """A stand-in for pip's output (the real install needs the package index)."""
    folder = tmp_path / "deps"
    (folder / "somelib").mkdir(parents=True)
    (folder / "somelib" / "__init__.py").write_text("VALUE = 1\n")
    (folder / "somelib-1.0.dist-info").mkdir()
    (folder / "somelib-1.0.dist-info" / "METADATA").write_text("Name: somelib\n")
    return folder


def test_a_function_zip_is_self_contained_with_the_handler_at_its_root(tmp_path: Path, dependencies: Path) -> None:
    output = tmp_path / "api.zip"

    package_function("api", output, tmp_path / "work", dependencies)

    names = set(zipfile.ZipFile(output).namelist())
    assert {"app.py", "image_processor/__init__.py", "image_processor/settings.py", "somelib/__init__.py"} <= names
    assert "somelib-1.0.dist-info/METADATA" in names
    assert not [name for name in names if name.startswith(("python/", "layers/", "functions/"))]
    assert zipfile.ZipFile(output).read("app.py") == (REPO_ROOT / "functions" / "api" / "app.py").read_bytes()


def test_every_module_ships_bytecode_that_never_checks_its_source(tmp_path: Path, dependencies: Path) -> None:
    """Lambda's task root is read-only: without valid .pyc files every cold start compiles every module."""
    output = tmp_path / "worker.zip"

    package_function("smart_crop_worker", output, tmp_path / "work", dependencies)

    archive = zipfile.ZipFile(output)
    names = set(archive.namelist())
    sources = [name for name in names if name.endswith(".py")]
    assert sources
    for source in sources:
        folder, _, module = source.rpartition("/")
        compiled = f"{folder + '/' if folder else ''}__pycache__/{module[:-3]}.cpython-312.pyc"
        assert compiled in names, source
    pyc = archive.read("__pycache__/app.cpython-312.pyc")
    # PEP 552: flags 0b01 = hash-based and unchecked, so the fixed zip timestamps cannot invalidate it.
    assert int.from_bytes(pyc[4:8], "little") == 0b01
    # Tracebacks name the file where Lambda runs it, not the build folder.
    assert marshal.loads(pyc[16:]).co_filename == "/var/task/app.py"


def test_an_unchanged_function_gives_a_byte_identical_zip(tmp_path: Path, dependencies: Path) -> None:
    package_function("api", tmp_path / "first.zip", tmp_path / "work", dependencies)
    # A second build in another folder: no build path may leak into the bytecode.
    package_function("api", tmp_path / "second.zip", tmp_path / "other-work", dependencies)

    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()


def test_an_unchanged_source_gives_a_byte_identical_zip(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "a.py").write_text("A = 1\n")
    (source / "app.py").write_text("def handler(event, context):\n    return event\n")

    build_zip(source, tmp_path / "first.zip", [])
    (source / "app.py").touch()  # a newer modification time must not change the zip
    build_zip(source, tmp_path / "second.zip", [])

    assert (tmp_path / "first.zip").read_bytes() == (tmp_path / "second.zip").read_bytes()
    assert zipfile.ZipFile(tmp_path / "first.zip").namelist() == ["app.py", "pkg/a.py"]
