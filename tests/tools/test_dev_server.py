"""`make run` provisions its tables even where Terraform cannot, says why, and stops what it started."""

import signal
import stat
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from image_processor.settings import Settings
from tools import dev_server, local_tables
from tools.local_tables import LOCAL_NAME_PREFIX, TABLE_SETTINGS, default_table_names, name_prefix_of
from tools.processes import child_process, free_port, running_emulator, wait_until_up

TERRAFORM_INIT_ERROR = """
Initializing provider plugins...
Error: Failed to query available provider packages

Could not retrieve the list of available versions for provider hashicorp/aws: could not connect
to registry.terraform.io

To see which modules are currently depending on hashicorp/aws, run: terraform providers
"""


@pytest.fixture
def endpoint() -> Iterator[str]:
    """A private emulator: these tests create the default table names."""
    with running_emulator() as url:
        yield url


@pytest.fixture
def offline_terraform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `terraform` on PATH that fails the way an offline `terraform init` does."""
    script = tmp_path / "bin" / "terraform"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\ncat >&2 <<'EOF'\n{TERRAFORM_INIT_ERROR}\nEOF\nexit 1\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")


def table_names(endpoint: str) -> set[str]:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    return {name for page in client.get_paginator("list_tables").paginate() for name in page["TableNames"]}


@pytest.mark.usefixtures("offline_terraform")
def test_auto_falls_back_to_boto3_when_terraform_cannot_init(endpoint: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert dev_server.provision_tables("auto", endpoint, None) == "boto3"
    assert set(default_table_names().values()) <= table_names(endpoint)
    warning = capsys.readouterr().err
    assert "`terraform init` failed: Error: Failed to query available provider packages" in warning
    assert "TF_PLUGIN_DIR" in warning


@pytest.mark.usefixtures("offline_terraform")
def test_insisting_on_terraform_stops_with_its_reason(endpoint: str) -> None:
    with pytest.raises(SystemExit, match="Could not provision the tables with Terraform: `terraform init` failed"):
        dev_server.provision_tables("terraform", endpoint, None)
    assert table_names(endpoint) == set()


def test_boto3_provisioning_is_idempotent(endpoint: str) -> None:
    assert dev_server.provision_tables("boto3", endpoint, None) == "boto3"
    assert dev_server.provision_tables("boto3", endpoint, None) == "boto3"
    assert set(default_table_names().values()) == table_names(endpoint)


def test_the_first_terraform_error_is_reported_on_one_line() -> None:
    assert dev_server.first_error(TERRAFORM_INIT_ERROR, 1) == (
        "Error: Failed to query available provider packages Could not retrieve the list of available"
        " versions for provider hashicorp/aws: could not connect to registry.terraform.io"
    )
    assert dev_server.first_error("", 3) == "exit status 3"


def test_existing_tables_are_found_beyond_the_first_page_of_list_tables(endpoint: str) -> None:
    """ListTables pages at 100 names; a busy LocalStack must not make `make run` create a table twice."""
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    for index in range(105):
        client.create_table(
            TableName=f"aaa-other-{index:03d}",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    dev_server.provision_tables("boto3", endpoint, None)
    dev_server.provision_tables("boto3", endpoint, None)
    assert set(default_table_names().values()) <= table_names(endpoint)


def test_the_s3_bucket_is_created_once_when_s3_storage_is_selected(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = f"dev-images-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("STORAGE_BACKEND", "s3")
    monkeypatch.setenv("S3_BUCKET", bucket)

    assert dev_server.provision_bucket(endpoint) == bucket
    assert dev_server.provision_bucket(endpoint) == bucket

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    assert bucket in {entry["Name"] for entry in s3.list_buckets()["Buckets"]}


def test_no_bucket_is_created_for_file_system_storage(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STORAGE_BACKEND", raising=False)
    assert dev_server.provision_bucket(endpoint) is None


@pytest.mark.slow  # starts the dev server and its emulator: about 10 s each on an idle machine
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_dev_server_stops_the_emulator_it_started(tmp_path: Path, sig: signal.Signals) -> None:
    """`kill -TERM` cleans up like Ctrl-C: the emulator on the AWS port is stopped, not orphaned."""
    port, aws_port = free_port(), free_port()
    aws_url = f"http://127.0.0.1:{aws_port}"
    command = [sys.executable, "-m", "tools.dev_server", "--port", str(port), "--aws-endpoint", aws_url]
    env = {"PROCESSED_IMAGES_DIR": str(tmp_path / "images"), "MOCK_AI_LATENCY_SECONDS": "0", "LOG_LEVEL": "WARNING"}
    with child_process([*command, "--tables", "boto3"], env=env, log=tmp_path / "run.log") as server:
        wait_until_up(f"http://127.0.0.1:{port}/health", process=server, timeout=60)
        assert dev_server.answers(aws_url)
        server.send_signal(sig)
        assert server.wait(timeout=30) != -sig, "the server died of the signal instead of cleaning up"
    assert not dev_server.answers(aws_url), "the emulator outlived the dev server"


@pytest.mark.usefixtures("offline_terraform")
def test_a_wrong_tf_plugin_dir_says_which_folder_is_meant(endpoint: str, tmp_path: Path) -> None:
    """Issue 12: the init error used to say only that the provider was not found."""
    with pytest.raises(SystemExit, match=r"the folder that holds registry\.terraform\.io/hashicorp/aws"):
        dev_server.provision_tables("terraform", endpoint, str(tmp_path))
    assert table_names(endpoint) == set()


def _unset_table_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset, and restored after the test even though use_local_table_names sets them."""
    for setting in TABLE_SETTINGS.values():
        monkeypatch.setenv(setting, "placeholder")
        monkeypatch.delenv(setting)


def test_make_run_names_its_tables_apart_from_the_deployed_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 10: `make deploy` next to `make run` failed with `Table already exists`."""
    _unset_table_settings(monkeypatch)
    deployed = {
        Settings().rate_limit_table,
        Settings().jobs_table,
        Settings().idempotency_table,
        Settings().catalog_table,
    }

    dev_server.use_local_table_names()

    local = default_table_names()
    assert local == local_tables.table_names(LOCAL_NAME_PREFIX)
    assert not deployed & set(local.values())
    # ...and Terraform's tables-only apply gets the prefix that yields exactly these names.
    assert name_prefix_of(local) == LOCAL_NAME_PREFIX
    assert name_prefix_of(local_tables.table_names("product-image-processor")) == "product-image-processor"


def test_table_names_set_by_hand_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    _unset_table_settings(monkeypatch)
    monkeypatch.setenv("JOBS_TABLE", "my-jobs")

    dev_server.use_local_table_names()

    assert default_table_names()["jobs"] == "my-jobs"
    assert name_prefix_of(default_table_names()) is None  # so Terraform is not asked to create other names


def test_make_run_generates_a_development_api_key_unless_keys_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("API_KEYS", "API_KEYS_FILE"):  # set first, so the monkeypatch restores them (unset) after
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)

    key = dev_server.development_api_key()

    assert key is not None and len(key) >= 24
    assert [secret.get_secret_value() for secret in Settings().api_keys] == [key]
    assert dev_server.development_api_key() is None  # keys now set: kept as they are
