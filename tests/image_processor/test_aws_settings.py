"""AWS settings that must fit the platform: every call inside the API function's timeout, presigned URLs
no longer than a role's session, and the renamed timeout still read under its former name."""

import logging
import re
import socket
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from image_processor.assembly import build_storage
from image_processor.aws.clients import call_budget_seconds, client
from image_processor.errors import DependencyUnavailable
from image_processor.settings import Settings
from tools.processes import REPO_ROOT


def terraform_default(variable: str) -> float:
    text = (REPO_ROOT / "terraform" / "variables.tf").read_text()
    block = re.search(rf'variable "{variable}" {{(.*?)\n}}', text, flags=re.DOTALL)
    assert block is not None, variable
    default = re.search(r"^\s*default\s*=\s*([0-9.]+)", block.group(1), flags=re.MULTILINE)
    assert default is not None, variable
    return float(default.group(1))


def test_every_aws_call_ends_inside_the_deployed_api_timeout_which_ends_inside_api_gateways() -> None:
    """Issue 19: a 30 s S3 read timeout and a 29 s function meant a hung call ended as a gateway 504."""
    api_timeout = terraform_default("api_timeout_seconds")
    settings = Settings(AWS_TIMEOUT_SECONDS=terraform_default("aws_timeout_seconds"))
    assert call_budget_seconds(settings) < api_timeout < 29
    s3 = vars(client("s3", settings).meta.config)  # botocore's Config keeps its options as attributes
    assert 2 * (s3["read_timeout"] + s3["connect_timeout"]) <= call_budget_seconds(settings)


def test_the_former_name_of_the_aws_timeout_is_read_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DYNAMODB_TIMEOUT_SECONDS", "3.5")
    with caplog.at_level(logging.WARNING, logger="image_processor.settings"):
        settings = Settings()
    assert settings.aws_timeout_seconds == 3.5
    assert any("DYNAMODB_TIMEOUT_SECONDS is deprecated" in record.getMessage() for record in caplog.records)


def test_the_new_name_is_read_without_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("DYNAMODB_TIMEOUT_SECONDS", raising=False)
    monkeypatch.setenv("AWS_TIMEOUT_SECONDS", "4")
    with caplog.at_level(logging.WARNING, logger="image_processor.settings"):
        assert Settings().aws_timeout_seconds == 4
    assert not [record for record in caplog.records if "deprecated" in record.getMessage()]


@pytest.mark.parametrize("name", ["presigned_url_ttl_seconds", "upload_ttl_seconds"])
def test_presigned_lifetimes_over_an_hour_are_refused(name: str) -> None:
    """A URL signed with a Lambda role's session credentials dies with that session."""
    assert getattr(Settings.model_validate({name: 3600}), name) == 3600
    with pytest.raises(ValidationError, match=name):
        Settings.model_validate({name: 3601})


def test_a_hung_s3_ends_as_unavailable_within_the_call_budget(tmp_path: Path) -> None:
    """S3 accepts the connection and never answers: the store gives up (503) within the budget, so behind
    API Gateway the client gets the service's JSON error, not the gateway's 504."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as silent:
        settings = Settings(
            storage_backend="s3",
            s3_bucket="images",
            processed_images_dir=tmp_path,
            aws_endpoint_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            AWS_TIMEOUT_SECONDS=0.2,
        )
        storage = build_storage(settings)
        started = time.monotonic()
        with pytest.raises(DependencyUnavailable):
            storage.results.stat("ABC-1/abc.jpg")
        elapsed = time.monotonic() - started
    assert elapsed <= call_budget_seconds(settings) + 3  # generous: the budget is 2 x (0.2 + 5) s
