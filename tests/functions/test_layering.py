"""The worker function carries no web framework: importing it must not load FastAPI, Starlette or Mangum."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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
