"""The library's parts import only downwards, and the worker function carries no web framework."""

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Powertools idempotency wraps the worker's jobs and the API's Idempotency-Key requests, and assembly configures
# the worker's; nothing else should know it.
_IDEMPOTENCY_WRAPPERS = frozenset({"jobs.worker", "admission.idempotency", "assembly"})
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
    assert "image_processor.jobs.worker" in loaded


def test_api_function_does_import_the_web_framework() -> None:
    loaded = _modules_loaded_by("functions.api.app")
    assert "fastapi" in loaded and "mangum" in loaded


# Each part of the library, lowest first. A module may import its own part and the parts below it, never
# one beside or above it (docs/design.md draws it). Only the domain's modules may import each other freely.
_LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"settings", "errors", "models", "ids", "observability", "urls", "presets", "metrics"}),
    frozenset({"imaging", "aws", "webhooks"}),
    frozenset({"storage", "admission", "catalog"}),
    frozenset({"images"}),
    frozenset({"renditions"}),
    frozenset({"jobs"}),
    frozenset({"jobs.local", "product_images"}),
    frozenset({"services"}),
    frozenset({"assembly"}),
    frozenset({"api"}),
)
_LIBRARY = ROOT / "layers" / "common" / "python" / "image_processor"


def _part(module: str) -> str:
    """`jobs.local.pool` -> `jobs.local`; `storage.s3` -> `storage`; `settings` -> `settings`."""
    parts = module.split(".")
    return "jobs.local" if parts[:2] == ["jobs", "local"] else parts[0]


def _layer(part: str) -> int:
    return next(index for index, layer in enumerate(_LAYERS) if part in layer)


def _library_imports() -> Iterator[tuple[str, str, bool]]:
    """(importing module, imported module, whether it is the library's own) for every import in the library.

    The library's own modules are named relative to it (`storage.s3`); others by their full name."""
    for path in _LIBRARY.rglob("*.py"):
        parts = list(path.relative_to(_LIBRARY).with_suffix("").parts)
        package = parts[:-1]
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package[: len(package) - (node.level - 1)]
                if node.module:
                    yield module, ".".join([*base, node.module]), True
                else:
                    yield from ((module, ".".join([*base, alias.name]), True) for alias in node.names)
            elif isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                yield from ((module, name, False) for name in names)


def test_every_part_of_the_library_has_a_layer() -> None:
    parts = {_part(module) for module, _, _ in _library_imports() if module}
    assert sorted(part for part in parts if not any(part in layer for layer in _LAYERS)) == []


def test_the_library_imports_only_downwards() -> None:
    offenders = []
    for module, imported, own in _library_imports():
        if imported.startswith("image_processor"):
            offenders.append(f"{module}: {imported} (the library imports itself relatively)")
        if not own or not module:
            continue
        mine, theirs = _part(module), _part(imported)
        if mine != theirs and not _layer(mine) == _layer(theirs) == 0 and _layer(theirs) >= _layer(mine):
            offenders.append(f"{module} imports {imported}")
    assert offenders == []


def test_only_assembly_knows_which_storage_backend_there_is() -> None:
    """Callers get storage's small interfaces; the concrete backends are named in one place."""
    backends = {"storage.s3", "storage.filesystem"}
    offenders = [
        f"{module}: {imported}"
        for module, imported, own in _library_imports()
        if own and imported in backends and module != "assembly" and _part(module) != "storage"
    ]
    assert offenders == []


def test_modules_outside_the_web_layer_import_neither_the_web_nor_the_idempotency_internals() -> None:
    """HTTP shapes stay in api/, and only the two wrappers use the idempotency utility."""
    offenders = [
        f"{module}: {imported}"
        for module, imported, _ in _library_imports()
        if _part(module) != "api"
        and (
            imported.startswith(("fastapi", "starlette", "mangum", "uvicorn"))
            or ("utilities.idempotency" in imported and module not in _IDEMPOTENCY_WRAPPERS)
        )
    ]
    assert offenders == []
