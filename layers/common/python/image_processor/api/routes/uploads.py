import anyio
from fastapi import APIRouter, Request, Response, status

from ..deps import ServicesDep
from ..errors import error_responses
from ..forms import close_form, parse_form, take_file
from ..links import upload_form_url
from ..schemas import UploadCreated

router = APIRouter(prefix="/uploads", tags=["uploads"])


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(503))
async def create_upload(request: Request, services: ServicesDep) -> UploadCreated:
    """A form to send a large original straight to storage: POST `fields` plus the file (part `file`)
    to `url`, then crop with `source_upload_id`."""
    ticket = await anyio.to_thread.run_sync(services.uploads.create)
    url = ticket.url or upload_form_url(request, ticket.upload_id)
    return UploadCreated(upload_id=ticket.upload_id, url=url, fields=ticket.fields, expires_at=ticket.expires_at)


@router.post(
    "/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(400, 404, 410, 413, 415, 422),
)
async def receive_upload(upload_id: str, request: Request, services: ServicesDep) -> Response:
    """The file-system backend's stand-in for S3's presigned POST (on S3 the form goes to S3)."""
    max_bytes = services.settings.max_upload_bytes
    form = await parse_form(request, max_fields=16, spool_dir=services.settings.upload_spool_dir)
    try:
        fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        file = take_file(form, "file", max_upload_bytes=max_bytes)
    finally:
        await close_form(form)
    try:
        await anyio.to_thread.run_sync(services.uploads.receive, upload_id, fields, file)
    finally:
        file.close()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
