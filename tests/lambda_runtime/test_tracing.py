"""With active tracing, the packaged functions send X-Ray segments: the handler's, annotated with the image
id and the job status, and one per AWS call (Powertools Tracer, botocore patched)."""

from typing import Any

import pytest

from tests.support.lambda_runtime.journey import Journey
from tests.support.lambda_runtime.xray import XRayDaemon

# The first test of a session also builds the zips and applies Terraform (minutes on a cold build).
pytestmark = pytest.mark.timeout(900)


def entities(daemon: XRayDaemon) -> list[dict[str, Any]]:
    """Every segment document received, and the subsegments sent inside them."""
    found: list[dict[str, Any]] = []
    pending = daemon.documents()
    while pending:
        entity = pending.pop()
        found.append(entity)
        pending.extend(entity.get("subsegments", []))
    return found


def annotations(daemon: XRayDaemon) -> list[dict[str, Any]]:
    return [entity["annotations"] for entity in entities(daemon) if entity.get("annotations")]


def test_the_api_traces_carry_the_image_id_and_the_accepted_jobs_status(
    journey: Journey, api_traces: XRayDaemon
) -> None:
    journey.check("smart crop")
    traced = annotations(api_traces)

    assert any("image_id" in found and found.get("job_status") == "pending" for found in traced), traced
    assert any(found.get("job_status") == "succeeded" for found in traced), "a poll of a finished job"
    aws_calls = {entity["name"] for entity in entities(api_traces) if entity.get("namespace") == "aws"}
    assert {"dynamodb", "s3", "lambda"} <= aws_calls


def test_the_worker_traces_carry_the_image_id_and_the_final_status(journey: Journey, worker_traces: XRayDaemon) -> None:
    journey.check("smart crop")
    image_ids = {event["image_id"] for event in journey.worker_events}

    finished = {found["image_id"] for found in annotations(worker_traces) if found.get("job_status") == "succeeded"}

    assert image_ids <= finished
