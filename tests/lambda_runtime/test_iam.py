"""IAM is exact: every AWS call the packaged functions made end to end is allowed by the deployed role, on
its resource ARN, and every action a role grants is needed by some call (or by Lambda itself)."""

import fnmatch
from typing import Any

import pytest

from tests.support.lambda_runtime.deployment import Deployment
from tests.support.lambda_runtime.iam import (
    Arns,
    Grant,
    Request,
    denied,
    grants_of,
    requests_of,
    role_statements,
    unused,
)
from tests.support.lambda_runtime.journey import Journey
from tests.support.terraform import client

# The first test of a session also builds the zips and applies Terraform (minutes on a cold build).
pytestmark = pytest.mark.timeout(900)

# Granted to a role for the platform, not for the code: no call of the handler needs them.
USED_BY_LAMBDA = {
    "logs:CreateLogStream": "the Lambda service writes the function's stdout to its log group",
    "logs:PutLogEvents": "the Lambda service writes the function's stdout to its log group",
    "sqs:SendMessage": "Lambda sends an asynchronous event that failed every retry to the on-failure queue",
    "sqs:ReceiveMessage": "the event source mapping reads the webhook retry queue with the worker's role",
    "sqs:DeleteMessage": "the event source mapping deletes the messages the worker received",
    "sqs:GetQueueAttributes": "the event source mapping reads the webhook retry queue's attributes",
    "xray:PutTraceSegments": "with active tracing, Lambda sends the function's X-Ray segments with its role",
    "xray:PutTelemetryRecords": "with active tracing, Lambda reports the X-Ray daemon's telemetry with its role",
}
# Needed on a failure path the end-to-end run does not take: (function, statement Sid, action) and why.
# The run drives the others (journey.py): an AI that never answers, a poll past the deadline, a late
# result, a staged original gone, uploads that are not an image, unknown or expired.
FAILURE_PATHS = {
    ("api", "StageSmartCropOriginals", "s3:DeleteObject"): (
        "a staged original is removed again when its job record cannot be written"
    ),
    ("api", "IdempotencyKeys", "dynamodb:DeleteItem"): (
        "an answer kept for an Idempotency-Key is released when the request fails, so that a retry can run"
    ),
    ("api", "RateLimitState", "dynamodb:PutItem"): "the limiter prunes a client's expired window with a PutItem",
    ("worker", "IdempotencyRecords", "dynamodb:GetItem"): (
        "Powertools reads the existing record when a conditional put fails without returning it"
    ),
}


def arns_of(deployment: Deployment) -> Arns:
    _, partition, _, region, account, *_ = deployment.api.arn.split(":")
    return Arns(partition=partition, region=region, account=account)


def recorded_requests(journey: Journey, function: str) -> list[Request]:
    arns = arns_of(journey.deployment)
    return [request for call in journey.calls(function) for request in requests_of(call, arns)]


def statements(deployment: Deployment, function: str) -> list[Any]:
    role_arn = (deployment.api if function == "api" else deployment.worker).role_arn
    return role_statements(client("iam", deployment.endpoint), role_arn.split("/")[-1])


@pytest.mark.parametrize("function", ["api", "worker"])
def test_every_call_is_allowed_by_the_deployed_role(journey: Journey, function: str) -> None:
    """Issue defect 1: the API's role did not grant the rate limiter's dynamodb:UpdateItem."""
    requests = recorded_requests(journey, function)
    assert requests, f"the {function} function made no AWS call end to end"
    refused = denied(requests, statements(journey.deployment, function))
    assert not refused, f"the {function} role does not allow:\n" + "\n".join(sorted({str(r) for r in refused}))


@pytest.mark.parametrize("function", ["api", "worker"])
def test_every_granted_action_is_used(journey: Journey, function: str) -> None:
    assert not journey.failures, (
        f"the end-to-end run did not complete ({', '.join(journey.failures)}), "
        "so its calls cannot show which grants are needed"
    )
    granted = grants_of(statements(journey.deployment, function))
    needless = [
        grant
        for grant in unused(granted, recorded_requests(journey, function))
        if grant.action not in USED_BY_LAMBDA and _failure_path(function, grant) is None
    ]
    assert not needless, f"the {function} role grants what no call used:\n" + "\n".join(map(str, needless))
    assert "logs:PutLogEvents" in {grant.action for grant in granted}, f"the {function} function cannot log"
    # An excused grant that is no longer granted, or that the run now uses, is a stale excuse.
    not_used = unused(granted, recorded_requests(journey, function))
    for (owner, sid, action), reason in FAILURE_PATHS.items():
        if owner == function:
            assert any(_failure_path(function, grant) == reason for grant in granted), (owner, sid, action)
            assert any(_failure_path(function, grant) == reason for grant in not_used), (
                f"{owner} {sid} {action} is used by the run now: drop its excuse"
            )


@pytest.mark.parametrize(("function", "resource_suffix"), [("api", "/E2E-DEADLINE/*"), ("worker", "/E2E-SILENT-AI/*")])
def test_the_failure_paths_delete_the_result_image(journey: Journey, function: str, resource_suffix: str) -> None:
    """Issue 19: neither role could delete a result image, so on AWS a job failing for good raised, was
    retried and dead-lettered, and a late result stayed downloadable. The clean-up calls are made..."""
    deletes = [
        request
        for request in recorded_requests(journey, function)
        if request.action == "s3:DeleteObject" and fnmatch.fnmatchcase(request.resource, f"*{resource_suffix}")
    ]
    assert deletes, f"the {function} function never deleted a result image on its failure path"
    # ...and allowed by the deployed role.
    assert denied(deletes, statements(journey.deployment, function)) == []


def _failure_path(function: str, grant: Grant) -> str | None:
    sid = grant.statement.rsplit("/", 1)[-1]
    return FAILURE_PATHS.get((function, sid, grant.action))
