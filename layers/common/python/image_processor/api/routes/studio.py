"""The crop studio page at `/` and the static files it and /docs load, all from inside the package."""

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import NotModifiedResponse, PathLike, StaticFiles
from starlette.types import Scope

from ..page_policy import image_origins, studio_policy

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
_INDEX = STATIC_DIR / "studio" / "index.html"
_TRAILING_SLASH = STATIC_DIR / "studio" / "trailing-slash.js"

router = APIRouter(include_in_schema=False)


class RevalidatedStaticFiles(StaticFiles):
    """Static files that browsers revalidate on each use, by an ETag made from their content.

    Lambda zips give every file one fixed, old timestamp, so Starlette's ETag (time and size) would not
    change with a same-size edit, and a 1980 Last-Modified invites years of heuristic caching.
    """

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = revalidated_file(Path(full_path), stat_result, status_code=status_code)
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


def revalidated_file(path: Path, stat_result: os.stat_result, *, status_code: int = 200) -> FileResponse:
    response = FileResponse(path, status_code=status_code, stat_result=stat_result)
    response.headers["ETag"] = _content_etag(
        str(path), stat_result.st_size, stat_result.st_mtime_ns, stat_result.st_ctime_ns
    )
    response.headers["Cache-Control"] = "no-cache"
    del response.headers["Last-Modified"]
    return response


@lru_cache(maxsize=64)
def _content_etag(path: str, size: int, mtime_ns: int, ctime_ns: int) -> str:
    # The stat fields are in the key only so that a rewritten file is hashed again (a write moves ctime).
    return '"' + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:32] + '"'


@router.api_route("/", methods=["GET", "HEAD"])
async def read_studio(request: Request) -> Response:
    """The page, or (`?trailing-slash`) the script it loads first: at `/v1` without the final "/", every
    relative URL would lose the stage, and that URL is the one that reaches this route from either."""
    page = _TRAILING_SLASH if "trailing-slash" in request.query_params else _INDEX
    response = revalidated_file(page, page.stat())
    response.headers["Content-Security-Policy"] = _studio_policy(request)
    if request.headers.get("if-none-match", "").strip() == response.headers["ETag"]:
        return NotModifiedResponse(response.headers)
    return response


def _studio_policy(request: Request) -> str:
    state = request.app.state
    if not hasattr(state, "studio_policy"):
        services = state.services
        state.studio_policy = studio_policy(
            image_origins(services.storage.browser_origins(), services.settings.public_image_base_url)
        )
    policy: str = state.studio_policy
    return policy


def mount_static(app: FastAPI) -> None:
    app.mount("/static", RevalidatedStaticFiles(directory=STATIC_DIR), name="static")
