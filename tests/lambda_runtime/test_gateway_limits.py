"""Payload limits as API Gateway and Lambda enforce them, which moto does not: the client gets the
gateway response Terraform deployed, in the service's error shape (issue defect 5)."""

import base64
import json
from typing import Any

import pytest

from tests.support.lambda_runtime.gateway import LAMBDA_PAYLOAD_LIMIT, Gateway, rest_event
from tests.support.lambda_runtime.journey import crop_form
from tests.support.lambda_runtime.sandbox import Invocation

# The first test of a session also builds the zips and applies Terraform (minutes on a cold build).
pytestmark = pytest.mark.timeout(900)


def assert_service_error(body: bytes, status: int) -> None:
    error = json.loads(body)["error"]
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body


def oversized_crop(size: int) -> tuple[dict[str, str], bytes]:
    return crop_form("E2E-LARGE", box={"x": 0, "y": 0, "width": 10, "height": 10}, source={"bytes": b"\xff" * size})


def test_a_request_over_six_megabytes_after_base64_gets_the_413_gateway_response(gateway: Gateway) -> None:
    # 4.8 MB of upload is over 6 MB once base64-encoded into the event.
    headers, body = oversized_crop(4_800_000)
    event = rest_event(
        "POST",
        "/images/manual-crop",
        stage=gateway.stage,
        headers=headers,
        body=body,
        binary_media_types=gateway.binary_media_types,
    )
    assert len(body) < LAMBDA_PAYLOAD_LIMIT < len(json.dumps(event))
    before = len(gateway.api.invocations)
    response = gateway.request("POST", "/images/manual-crop", headers=headers, body=body)
    assert len(gateway.api.invocations) == before, "the oversized event reached the function"
    assert response.status == 413
    assert_service_error(response.body, 413)


def test_a_request_over_ten_megabytes_gets_api_gateways_own_plain_413() -> None:
    """Over 10 MB API Gateway answers before any gateway response applies: not the service's shape."""
    headers, body = oversized_crop(10_500_000)
    function = AnsweringFunction({"statusCode": 200, "body": ""})
    response = standalone_gateway(function).request("POST", "/images/manual-crop", headers=headers, body=body)
    assert function.invocations == []
    assert response.status == 413
    assert response.body == b"HTTP content length exceeded 10485760 bytes."


def test_a_request_under_the_limit_reaches_the_function(gateway: Gateway) -> None:
    headers, body = oversized_crop(3_000_000)
    before = len(gateway.api.invocations)
    gateway.request("POST", "/images/manual-crop", headers=headers, body=body)
    assert len(gateway.api.invocations) == before + 1


class AnsweringFunction:
    """An execution environment stand-in that returns a fixed answer (the gateway's own checks)."""

    def __init__(self, result: dict[str, Any] | None, error: str | None = None) -> None:
        self.result, self.error = result, error
        self.invocations: list[Invocation] = []

    def invoke(self, event: dict[str, Any]) -> Invocation:
        invocation = Invocation(result=self.result, error=self.error, message="", duration_ms=1, calls=[])
        self.invocations.append(invocation)
        return invocation


def standalone_gateway(function: AnsweringFunction) -> Gateway:
    return Gateway(function, stage="v1", binary_media_types=("image/jpeg",), gateway_responses={})


def test_an_answer_over_six_megabytes_is_a_502() -> None:
    big = {
        "statusCode": 200,
        "headers": {"content-type": "image/jpeg"},
        "isBase64Encoded": True,
        "body": base64.b64encode(b"\xff" * 4_800_000).decode(),
    }
    response = standalone_gateway(AnsweringFunction(big)).request(
        "GET", "/images/P/x.jpg", headers={"Accept": "image/jpeg"}
    )
    assert response.status == 502
    small = {**big, "body": base64.b64encode(b"\xff\xd8\xff").decode()}
    response = standalone_gateway(AnsweringFunction(small)).request(
        "GET", "/images/P/x.jpg", headers={"Accept": "image/jpeg"}
    )
    assert (response.status, response.body) == (200, b"\xff\xd8\xff")


def test_a_function_error_is_a_502_and_a_binary_answer_needs_a_matching_accept() -> None:
    assert (
        standalone_gateway(AnsweringFunction(None, error="Runtime.ExitError")).request("GET", "/health").status == 502
    )
    jpeg = {"statusCode": 200, "headers": {}, "isBase64Encoded": True, "body": base64.b64encode(b"\xff\xd8").decode()}
    # REST APIs pass base64 text through when the client's Accept matches no binary media type.
    text = standalone_gateway(AnsweringFunction(jpeg)).request("GET", "/i.jpg", headers={"Accept": "text/html"})
    assert text.body == base64.b64encode(b"\xff\xd8")


def test_links_without_the_stage_are_refused() -> None:
    gateway = standalone_gateway(AnsweringFunction({"statusCode": 200, "body": ""}))
    assert gateway.stage_path(f"{gateway.base_url}/jobs/1") == "/jobs/1"
    try:
        gateway.stage_path(gateway.base_url.rsplit("/", 1)[0] + "/jobs/1")
    except AssertionError as exc:
        assert "drops the stage" in str(exc)
    else:
        raise AssertionError("a link without /v1 was accepted")
