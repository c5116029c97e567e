"""What a POST must pass before its work starts, in the order that spends nothing on a request that fails.

Before the body is read: an Idempotency-Key already answered skips the quota check (its retry needs no
slot), one still running is refused, and a client over its limit is refused. Once the body is valid:
the work runs once per Idempotency-Key (admission/idempotency.py), and inside it a quota slot is taken.
"""

import hashlib
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import anyio
from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel

from ..admission.client_ip import ipv6_site_key, rate_limit_key
from ..admission.idempotency import Answer, KeyState, in_progress
from ..admission.rate_limit import RateLimitCheck, RateLimitDecision, RateLimiter
from ..errors import InvalidRequest, RateLimited
from ..services import Services
from .deps import ClientAddressDep, ClientIdentityDep, ReaderIdentityDep, ServicesDep
from .forms import Upload
from .openapi import rate_limit_headers

_IDEMPOTENCY_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as for a UUID or ULID
# The headers of a first answer that its replay sends again.
_KEPT_HEADERS = ("location",)
# Threads that wait on an Idempotency-Key request's work; its own blocking calls use the default thread pool.
_IDEMPOTENT_REQUESTS_AT_ONCE = 100


@dataclass
class Quota:
    limiter: RateLimiter
    key: str
    operation: str
    window_seconds: int
    checked: RateLimitCheck | None = None


def get_idempotency_key(
    request: Request,
    declared: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique text (a UUID): a retry with the same key and request gets the first answer.",
        ),
    ] = None,
) -> str | None:
    if declared is None:
        return None
    values = request.headers.getlist("idempotency-key")
    if len(values) > 1 or not _IDEMPOTENCY_KEY_RE.fullmatch(declared):
        raise InvalidRequest("Idempotency-Key must be sent once, as 1 to 255 visible ASCII characters.")
    return declared


IdempotencyKeyDep = Annotated[str | None, Depends(get_idempotency_key)]


class Admission:
    def __init__(
        self,
        request: Request,
        response: Response,
        services: ServicesDep,
        identity: str,
        quota: Quota | None,
        idempotency_key: str | None,
        site_quota: Quota | None = None,
    ) -> None:
        self._request = request
        self._response = response
        self._requests = services.idempotency
        self._identity = identity
        # The client's own quota first (its RateLimit-* headers are sent), then its network's, if any.
        self._quotas = [limit for limit in (quota, site_quota) if limit is not None]
        self._key = idempotency_key

    async def check(self) -> None:
        """Before the body: refuse what can be refused without it."""
        answered = False
        if self._key is not None and self._requests is not None:
            state = await anyio.to_thread.run_sync(self._requests.lookup, self._identity, self._key)
            if state is KeyState.IN_PROGRESS:
                raise in_progress()
            answered = state is KeyState.ANSWERED
        if answered:
            return
        for quota in self._quotas:
            quota.checked = await anyio.to_thread.run_sync(quota.limiter.check, quota.key)
            _refuse_if_over(quota, quota.checked.decision)

    async def once[ModelT: BaseModel](
        self, upload: Upload, work: Callable[[], Coroutine[Any, Any, ModelT]], model: type[ModelT]
    ) -> ModelT:
        """Once the body is valid: run `work` (which spends the quota), once per Idempotency-Key; a retry with
        the same key and request gets the first answer again, marked `Idempotent-Replayed: true`."""
        if self._key is None or self._requests is None:
            return await work()
        fingerprint = await anyio.to_thread.run_sync(_fingerprint, self._request, upload)

        def run_work() -> Answer:  # in a worker thread, while Powertools holds the key
            result = anyio.from_thread.run(work)
            headers = {name: self._response.headers[name] for name in _KEPT_HEADERS if name in self._response.headers}
            return Answer(body=result.model_dump(mode="json"), headers=headers)

        outcome = await anyio.to_thread.run_sync(
            self._requests.run,
            self._identity,
            self._key,
            fingerprint,
            run_work,
            limiter=_waiting_threads(self._request),
        )
        if outcome.replayed:
            self._response.headers.update({**outcome.answer.headers, "Idempotent-Replayed": "true"})
        return model.model_validate(outcome.answer.body)

    async def spend(self) -> None:
        """Once the request is valid: take a quota slot (exact under races, so it may still refuse)."""
        for index, quota in enumerate(self._quotas):
            decision = await anyio.to_thread.run_sync(quota.limiter.acquire, quota.key, quota.checked)
            _refuse_if_over(quota, decision)
            if index == 0:
                self._response.headers.update(_headers_of(decision))


def _headers_of(decision: RateLimitDecision) -> dict[str, str]:
    return rate_limit_headers(
        limit=decision.limit, remaining=decision.remaining, reset_seconds=decision.reset_after_seconds
    )


def _waiting_threads(request: Request) -> anyio.CapacityLimiter:
    """One limiter per app, made on first use (in the app's event loop)."""
    state = request.app.state
    if not hasattr(state, "idempotent_request_threads"):
        state.idempotent_request_threads = anyio.CapacityLimiter(_IDEMPOTENT_REQUESTS_AT_ONCE)
    limiter: anyio.CapacityLimiter = state.idempotent_request_threads
    return limiter


async def smart_crop_admission(
    request: Request,
    response: Response,
    services: ServicesDep,
    address: ClientAddressDep,
    identity: ClientIdentityDep,
    idempotency_key: IdempotencyKeyDep,
) -> Admission:
    """Smart crop is limited per source address (the contract's 20 an hour per IP; IPv6 per IPV6_CLIENT_PREFIX
    block, and also per /48 with IPV6_SITE_RATE_LIMIT_REQUESTS), whatever the API key."""
    settings = services.settings
    window = settings.rate_limit_window_seconds
    quota = Quota(services.rate_limiter, rate_limit_key(address, settings.ipv6_client_prefix), "Smart crop", window)
    site = ipv6_site_key(address)
    site_quota = (
        Quota(services.ipv6_site_rate_limiter, site, "Smart crop from one IPv6 /48", window)
        if site is not None and services.ipv6_site_rate_limiter is not None
        else None
    )
    admission = Admission(request, response, services, identity, quota, idempotency_key, site_quota)
    await admission.check()
    return admission


async def manual_crop_admission(
    request: Request,
    response: Response,
    services: ServicesDep,
    identity: ClientIdentityDep,
    idempotency_key: IdempotencyKeyDep,
) -> Admission:
    """Manual crop is limited per client (API key, else address) when MANUAL_CROP_RATE_LIMIT_REQUESTS is set."""
    limiter = services.manual_crop_rate_limiter
    window = services.settings.manual_crop_rate_limit_window_seconds
    quota = Quota(limiter, identity, "Manual crop", window) if limiter is not None else None
    admission = Admission(request, response, services, identity, quota, idempotency_key)
    await admission.check()
    return admission


SmartCropAdmissionDep = Annotated[Admission, Depends(smart_crop_admission)]
ManualCropAdmissionDep = Annotated[Admission, Depends(manual_crop_admission)]


def _refuse_if_over(quota: Quota, decision: RateLimitDecision) -> None:
    if not decision.allowed:
        raise RateLimited(
            f"{quota.operation} is limited to {decision.limit} requests per {quota.window_seconds} seconds "
            f"per client; retry in {decision.reset_after_seconds} seconds.",
            retry_after_seconds=decision.reset_after_seconds,
            limit=decision.limit,
        )


def _fingerprint(request: Request, upload: Upload) -> str:
    """The request as the service understood it: a retry with a new multipart boundary is the same request.

    Blocking (it hashes the spooled upload): run it in a worker thread."""
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    for name in sorted(upload.fields):
        digest.update(f"{name}={len(upload.fields[name])}:{upload.fields[name]}\n".encode())
    if upload.source is not None:
        digest.update(upload.source.sha256())
    else:
        digest.update(f"source_upload_id={upload.upload_id}".encode())
    return digest.hexdigest()


async def take_upload_ticket_slot(response: Response, services: ServicesDep, identity: ClientIdentityDep) -> None:
    """POST /uploads: the client (its API key when keys are on) spends one of its UPLOAD_RATE_LIMIT_REQUESTS."""
    await _take_upload_slot(response, services, identity)


async def take_upload_receive_slot(response: Response, services: ServicesDep, identity: ClientIdentityDep) -> None:
    """POST /uploads/{id}: the same allowance, counted apart, taken before the body is read."""
    await _take_upload_slot(response, services, "receive:" + identity)


async def take_checks_slot(response: Response, services: ServicesDep, identity: ReaderIdentityDep) -> None:
    """GET .../checks decodes an image: the client spends one of its CHECKS_RATE_LIMIT_REQUESTS."""
    limiter = services.checks_rate_limiter
    if limiter is not None:
        await _take_slot(
            response, Quota(limiter, identity, "Checking images", services.settings.checks_rate_limit_window_seconds)
        )


async def _take_upload_slot(response: Response, services: Services, key: str) -> None:
    limiter = services.upload_rate_limiter
    if limiter is None:
        return
    await _take_slot(response, Quota(limiter, key, "Uploading", services.settings.upload_rate_limit_window_seconds))


async def _take_slot(response: Response, quota: Quota) -> None:
    decision = await anyio.to_thread.run_sync(quota.limiter.acquire, quota.key)
    _refuse_if_over(quota, decision)
    response.headers.update(_headers_of(decision))
