"""/docs with Swagger UI served by the service itself (vendored in static/swagger-ui), not from a CDN.

URLs start with the ASGI root_path, like every link the API hands out (see links.py), so under an
API Gateway stage the page loads `/v1/openapi.json` and `/v1/static/...`.
"""

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from ..page_policy import docs_policy

SWAGGER_UI_VERSION = "5.35.0"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def read_docs(request: Request) -> HTMLResponse:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    assets = f"{root}/static/swagger-ui"
    page = get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="Product Image Processor - API docs",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}",
        swagger_css_url=f"{assets}/swagger-ui.css?v={SWAGGER_UI_VERSION}",
        swagger_favicon_url=f"{assets}/favicon-32x32.png",
        # Swagger UI would otherwise send the schema's URL to validator.swagger.io for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )
    page.headers["Content-Security-Policy"] = docs_policy(bytes(page.body).decode())
    return page
