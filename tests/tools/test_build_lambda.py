import zipfile
from pathlib import Path

from tools.build_lambda import build_zip
from tools.processes import REPO_ROOT


def test_layer_zip_has_the_lambda_layout_and_no_bytecode(tmp_path: Path) -> None:
    output = tmp_path / "common.zip"

    build_zip(REPO_ROOT / "layers" / "common", output, ["python/image_processor"])

    names = zipfile.ZipFile(output).namelist()
    assert "python/image_processor/__init__.py" in names
    assert "python/image_processor/api/app.py" in names
    assert all(name.startswith("python/image_processor/") for name in names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc") or ".egg-info" in name]


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


def test_a_function_zip_holds_the_handler_at_its_root(tmp_path: Path) -> None:
    output = tmp_path / "api.zip"

    build_zip(REPO_ROOT / "functions" / "api", output, ["app.py"])

    assert zipfile.ZipFile(output).namelist() == ["app.py"]
