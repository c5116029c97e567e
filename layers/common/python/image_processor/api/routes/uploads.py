from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response, status

from ..admission import take_upload_receive_slot, take_upload_ticket_slot
from ..deps import ServicesDep
from ..errors import error_responses
from ..forms import parse_form, take_file
from ..links import upload_form_url
from ..schemas import UploadCreated

router = APIRouter(prefix="/uploads", tags=["uploads"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 429, 503),
    dependencies=[Depends(take_upload_ticket_slot)],
)
async def create_upload(request: Request, services: ServicesDep) -> UploadCreated:
    """A form to send a large original straight to storage: POST `fields` plus the file (part `file`)
    to `url`, then crop with `source_upload_id`."""
    ticket = await anyio.to_thread.run_sync(services.uploads.create)
    url = ticket.url or upload_form_url(request, services.settings, ticket.upload_id, ticket.query)
    return UploadCreated(upload_id=ticket.upload_id, url=url, fields=ticket.fields, expires_at=ticket.expires_at)


def admit_upload(
    upload_id: str,
    services: ServicesDep,
    max_bytes: Annotated[str | None, Query(include_in_schema=False)] = None,
    signature: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> int:
    """The signed URL, checked before the body is read; the size cap it allows."""
    return services.uploads.admit(upload_id, max_bytes, signature)


@router.post(
    "/{upload_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(400, 401, 404, 409, 410, 413, 415, 422, 429),
    dependencies=[Depends(take_upload_receive_slot)],
)
async def receive_upload(
    upload_id: str, request: Request, services: ServicesDep, max_bytes: Annotated[int, Depends(admit_upload)]
) -> Response:
    """The file-system backend's stand-in for S3's presigned POST (on S3 the form goes to S3). The bytes
    must be an image (probed here, 415 otherwise) and are received once."""
    form = await parse_form(request, max_fields=16, spool_dir=services.settings.upload_spool_dir)
    try:
        fields = {name: value for name, value in form.multi_items() if isinstance(value, str)}
        file = take_file(form, "file", max_upload_bytes=min(max_bytes, services.settings.max_upload_bytes))
    finally:
        form.close()
    try:
        await services.images.probe(file)
        await anyio.to_thread.run_sync(services.uploads.receive, upload_id, max_bytes, fields, file)
    finally:
        file.close()
    return Response(status_code=status.HTTP_204_NO_CONTENT)
