"""The crop studio page at `/` and the static files it and /docs load, all from inside the package."""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
async def read_studio() -> FileResponse:
    # no-cache: a new release's page (and so its script and style URLs) is seen at once.
    return FileResponse(STATIC_DIR / "studio" / "index.html", headers={"Cache-Control": "no-cache"})


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
