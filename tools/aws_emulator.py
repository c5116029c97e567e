"""A local AWS API emulator (moto's server) for `make run` and the tests, on loopback only.

moto's DynamoDB backend checks a ConditionExpression and then writes without a lock, so two
concurrent requests could both pass the same condition. Requests are served one at a time here
so conditional writes are atomic, as they are in DynamoDB.

moto's CreateRestApi drops `binaryMediaTypes` (API Gateway keeps them), so Terraform would update
the REST API on every apply; the REST API keeps them here, and `make deploy` converges. Likewise
moto answers a queue's RedrivePolicy with spaces in its JSON, which SQS does not (Terraform would
rewrite the policy on every apply); it is answered compact here, as SQS does.
"""

import argparse
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.apigateway.responses import APIGatewayResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.models import Queue
from werkzeug.serving import run_simple

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def serialized(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def serve_one_at_a_time(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with lock:
            return list(app(environ, start_response))

    return serve_one_at_a_time


def keep_binary_media_types() -> None:
    """Make moto's CreateRestApi store the request's binaryMediaTypes, as API Gateway does."""
    create = APIGatewayResponse.create_rest_api
    if getattr(create, "keeps_binary_media_types", False):
        return

    def create_rest_api(self: APIGatewayResponse) -> Any:
        status, headers, body = create(self)
        media_types = self._get_param("binaryMediaTypes")
        if status == 200 and media_types:
            rest_api = self.backend.get_rest_api(json.loads(body)["id"])
            rest_api.binaryMediaTypes = list(media_types)
            body = json.dumps(rest_api.to_dict())
        return status, headers, body

    create_rest_api.keeps_binary_media_types = True  # type: ignore[attr-defined]
    APIGatewayResponse.create_rest_api = create_rest_api  # type: ignore[method-assign]


def compact_redrive_policies() -> None:
    """Make moto answer a queue's RedrivePolicy as SQS does: compact JSON."""
    attributes = Queue.attributes
    if getattr(attributes.fget, "compact_redrive_policy", False):  # type: ignore[attr-defined]
        return

    def compact(queue: Queue) -> dict[str, Any]:
        result: dict[str, Any] = attributes.fget(queue)  # type: ignore[attr-defined]
        if isinstance(result.get("RedrivePolicy"), str):
            result["RedrivePolicy"] = json.dumps(json.loads(result["RedrivePolicy"]), separators=(",", ":"))
        return result

    compact.compact_redrive_policy = True  # type: ignore[attr-defined]
    Queue.attributes = property(compact)  # type: ignore[assignment,method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    # Without the managed policies, attaching AWSLambdaBasicExecutionRole from Terraform fails.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    keep_binary_media_types()
    compact_redrive_policies()
    app = serialized(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
