"""/docs with Swagger UI served by the service itself (vendored in static/swagger-ui), not from a CDN.

Every URL in the page is relative, so it also works under an API Gateway stage path (`/v1/docs`).
"""

from fastapi import APIRouter
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

SWAGGER_UI_VERSION = "5.35.0"
_ASSETS = "static/swagger-ui"

router = APIRouter(include_in_schema=False)


@router.get("/docs")
async def read_docs() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="openapi.json",
        title="Product Image Processor - API docs",
        swagger_js_url=f"{_ASSETS}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}",
        swagger_css_url=f"{_ASSETS}/swagger-ui.css?v={SWAGGER_UI_VERSION}",
        swagger_favicon_url=f"{_ASSETS}/favicon-32x32.png",
        # Swagger UI would otherwise send the schema's URL to validator.swagger.io for its badge.
        swagger_ui_parameters={"validatorUrl": None},
    )
