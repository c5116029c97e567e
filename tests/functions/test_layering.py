"""The worker function carries no web framework: importing it must not load FastAPI, Starlette or Mangum."""

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The worker wraps jobs in Powertools idempotency and assembly configures it; nothing else should know it.
_IDEMPOTENCY_WRAPPERS = frozenset({"worker.py", "assembly.py"})
_WEB_PACKAGES = ("fastapi", "starlette", "mangum", "uvicorn", "image_processor.api")


def _modules_loaded_by(module: str) -> list[str]:
    script = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(result.stdout))


def test_worker_function_does_not_import_the_web_framework() -> None:
    loaded = _modules_loaded_by("functions.smart_crop_worker.app")
    web = [name for name in loaded if name.startswith(_WEB_PACKAGES)]
    assert web == []
    assert "image_processor.worker" in loaded


def test_api_function_does_import_the_web_framework() -> None:
    loaded = _modules_loaded_by("functions.api.app")
    assert "fastapi" in loaded and "mangum" in loaded


def test_modules_outside_the_web_layer_import_neither_the_web_nor_the_idempotency_internals() -> None:
    """HTTP shapes stay in api/, and only the worker wraps the idempotency utility (issue: domain code knows HTTP)."""
    library = ROOT / "layers" / "common" / "python" / "image_processor"
    offenders = []
    for module in library.rglob("*.py"):
        if "api" in module.relative_to(library).parts:
            continue
        for node in ast.walk(ast.parse(module.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                web = name.startswith(("fastapi", "starlette", "mangum")) or name.startswith(".api") or ".api." in name
                idempotency = (
                    "utilities.idempotency" in name and module.name != "worker.py" and module.name != "assembly.py"
                )
                if web or idempotency or (isinstance(node, ast.ImportFrom) and node.level and node.module == "api"):
                    offenders.append(f"{module.relative_to(library)}: {name}")
    assert offenders == []
