"""Hand accepted smart-crop jobs to a worker: async Lambda invocation, or a local worker pool."""

import json
from typing import TYPE_CHECKING, Protocol

import anyio
from aws_lambda_powertools import Logger

from ..aws.errors import translate
from ..errors import DependencyUnavailable
from ..observability import SERVICE_NAME

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

logger = Logger(service=SERVICE_NAME, child=True)

_UNAVAILABLE = "Smart crop could not be queued; retry shortly."


class Dispatcher(Protocol):
    async def start(self) -> None: ...
    async def dispatch(self, image_id: str) -> None: ...
    async def stop(self) -> None: ...


class LambdaDispatcher:
    """Invokes the worker function asynchronously; Lambda retries it and dead-letters what still fails."""

    def __init__(self, client: "LambdaClient", function_name: str) -> None:
        self._client = client
        self._function_name = function_name

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def dispatch(self, image_id: str) -> None:
        await anyio.to_thread.run_sync(self._invoke, image_id)

    def _invoke(self, image_id: str) -> None:
        with translate("Invoke", self._function_name, message=_UNAVAILABLE):
            response = self._client.invoke(
                FunctionName=self._function_name,
                InvocationType="Event",
                Payload=json.dumps({"image_id": image_id}).encode(),
            )
        if response.get("StatusCode") != 202:
            logger.error(
                "the worker invocation was not accepted",
                extra={"image_id": image_id, "status": response.get("StatusCode")},
            )
            raise DependencyUnavailable(_UNAVAILABLE)
