"""Keeping, and sending again, the answer to a request that claimed an Idempotency-Key (see admission)."""

import anyio
from aws_lambda_powertools import Logger
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...admission.idempotency_keys import AnswerStore, Claim, StoredAnswer
from ...errors import DependencyUnavailable
from ...observability import SERVICE_NAME
from ..admission import CLAIM_STATE, ReplayAnswer

logger = Logger(service=SERVICE_NAME, child=True)

_KEPT_HEADERS = ("content-type", "location")


class AnswerRecorderMiddleware:
    """Stores a claimed request's success before sending it, so that a retry finds it however the first
    connection ended; an error answer (or an exception) releases the key, so that a retry runs again."""

    def __init__(self, app: ASGIApp, *, answers: AnswerStore | None) -> None:
        self.app = app
        self.answers = answers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answers = self.answers
        if scope["type"] != "http" or answers is None:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        def take_claim() -> Claim | None:
            claim: Claim | None = scope.get("state", {}).pop(CLAIM_STATE, None)
            return claim

        async def recording_send(message: Message) -> None:
            if not held and CLAIM_STATE not in scope.get("state", {}):
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                claim = take_claim()
                if claim is not None:
                    await _settle(answers, claim, held)
                for kept in held:
                    await send(kept)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            claim = take_claim()
            if claim is not None:  # the app raised before it answered
                with anyio.CancelScope(shield=True):
                    await _release(answers, claim)


async def _settle(answers: AnswerStore, claim: Claim, messages: list[Message]) -> None:
    status = int(messages[0]["status"])
    if not 200 <= status < 300:
        await _release(answers, claim)
        return
    headers = Headers(raw=messages[0].get("headers", []))
    answer = StoredAnswer(
        status=status,
        body=b"".join(message.get("body", b"") for message in messages[1:]),
        headers={name: headers[name] for name in _KEPT_HEADERS if name in headers},
    )
    try:
        await anyio.to_thread.run_sync(answers.complete, claim, answer)
    except DependencyUnavailable:
        # The work is done and the client gets its answer; a retry after the claim's lease runs it again.
        logger.error("the answer to an idempotent request could not be stored")


async def _release(answers: AnswerStore, claim: Claim) -> None:
    try:
        await anyio.to_thread.run_sync(answers.release, claim)
    except DependencyUnavailable:
        logger.error("an idempotency claim could not be released; it lapses with its lease")


async def replay_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ReplayAnswer)
    answer = exc.answer
    return Response(answer.body, status_code=answer.status, headers={**answer.headers, "Idempotent-Replayed": "true"})
