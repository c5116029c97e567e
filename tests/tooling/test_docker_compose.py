import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser
from ruamel.yaml import YAML

from image_processor.settings import Settings
from tools.processes import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
COMPOSE: dict[str, Any] = YAML(typ="safe", pure=True).load(COMPOSE_FILE)
SERVICES: dict[str, Any] = COMPOSE["services"]
APP = SERVICES["app"]
LOCALSTACK = SERVICES["localstack"]
TABLE_SETTINGS = ("RATE_LIMIT_TABLE", "JOBS_TABLE", "IDEMPOTENCY_TABLE", "CATALOG_TABLE")


def _check_jsonschema() -> str | None:
    beside_python = Path(sys.executable).with_name("check-jsonschema")
    return str(beside_python) if beside_python.exists() else shutil.which("check-jsonschema")


def _named_volumes(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> volume name, for the service's named (not bind) volumes."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target = entry.split(":")[:2]
        if not source.startswith(("/", ".", "~", "$")):
            mounts[target] = source
    return mounts


def test_the_compose_file_follows_the_compose_specification() -> None:
    check_jsonschema = _check_jsonschema()
    if check_jsonschema is None:
        pytest.skip("check-jsonschema is not installed (it comes with requirements/dev.txt: make install)")

    result = subprocess.run(
        [check_jsonschema, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_processed_images_live_on_a_named_volume_declared_at_the_top_level() -> None:
    """Audit 24: the prototype lost processed images when its container restarted."""
    volume = _named_volumes(APP)["/app/processed_images"]

    assert volume in COMPOSE["volumes"]
    assert APP["environment"]["PROCESSED_IMAGES_DIR"] == "/app/processed_images"


def test_uploads_are_spooled_to_a_volume_not_the_memory_limited_tmpfs() -> None:
    """Issue 11: a tmpfs counts against the container's memory; fifty 5 MB uploads would also overflow it."""
    volume = _named_volumes(APP)["/app/upload_spool"]

    assert volume in COMPOSE["volumes"]
    assert APP["environment"]["UPLOAD_SPOOL_DIR"] == "/app/upload_spool"
    assert all(not mount.startswith("/app/upload_spool") for mount in APP["tmpfs"])


def test_localstack_is_pinned_to_a_release() -> None:
    repository, _, tag = LOCALSTACK["image"].partition(":")

    assert repository == "localstack/localstack"
    assert re.fullmatch(r"\d+(\.\d+){1,2}", tag), tag


def test_the_localstack_auth_token_comes_from_the_environment() -> None:
    token = LOCALSTACK["environment"]["LOCALSTACK_AUTH_TOKEN"]

    assert re.fullmatch(r"\$\{LOCALSTACK_AUTH_TOKEN(:?[-?][^}]*)?\}", token), token
    # ...and is set nowhere else (a literal in another service or in list form would also be committed).
    assert len(re.findall(r"^\s*-?\s*LOCALSTACK_AUTH_TOKEN\s*[:=]", COMPOSE_FILE.read_text(), re.MULTILINE)) == 1


def _terraform_endpoints() -> set[str]:
    """The services the Terraform provider is pointed at on an emulator (the `endpoints` block)."""
    providers = (REPO_ROOT / "terraform" / "providers.tf").read_text()
    block = re.search(r"endpoints \{(.*?)\}", providers, re.DOTALL)
    assert block is not None
    return set(re.findall(r"^\s*(\w+)\s*=", block.group(1), re.MULTILINE))


def test_localstack_runs_every_service_terraform_touches_and_starts_lambda_containers() -> None:
    """Audit issue 10: kms was missing from SERVICES while the tables used a KMS key."""
    services = set(LOCALSTACK["environment"]["SERVICES"].split(","))

    # CloudFront is the one exception: enable_cdn is off outside the `aws` workspace (LocalStack's free
    # tier has none); its endpoint is there so that turning it on against LocalStack never reaches AWS.
    touched = _terraform_endpoints() - {"cloudfront"}
    assert touched <= services, touched - services
    assert {"s3", "dynamodb", "lambda", "apigateway", "iam", "sqs", "logs", "cloudwatch", "sts"} <= services
    assert "/var/run/docker.sock:/var/run/docker.sock" in LOCALSTACK["volumes"]
    assert LOCALSTACK["ports"] == ["127.0.0.1:4566:4566"]


def test_the_lambda_functions_need_no_shared_folder() -> None:
    """Storage on Lambda is S3: no EFS stand-in volume, no one-shot that hands it to the Lambda user."""
    assert "LAMBDA_DOCKER_FLAGS" not in LOCALSTACK["environment"]
    assert "lambda-storage" not in SERVICES
    assert "depends_on" not in LOCALSTACK


@pytest.mark.parametrize("name", ["app", "localstack"])
def test_long_running_services_have_health_checks(name: str) -> None:
    healthcheck = SERVICES[name]["healthcheck"]

    assert healthcheck["test"][0] == "CMD"
    assert any("/health" in part for part in healthcheck["test"])
    assert healthcheck["retries"] >= 1


def test_the_app_starts_after_localstack_is_healthy_and_its_tables_exist() -> None:
    assert APP["depends_on"] == {
        "localstack": {"condition": "service_healthy"},
        "tables": {"condition": "service_completed_successfully"},
    }
    assert SERVICES["tables"]["depends_on"] == {"localstack": {"condition": "service_healthy"}}


def test_the_app_is_confined() -> None:
    user, _, group = APP["user"].partition(":")

    assert int(user) >= 1000 and int(group) >= 1000
    assert APP["read_only"] is True
    assert any(mount.split(":")[0] == "/tmp" for mount in APP["tmpfs"])
    assert APP["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in APP["security_opt"]
    assert APP["restart"] == "unless-stopped"
    assert APP["ports"] == ["127.0.0.1:8000:8000"]
    limits = APP["deploy"]["resources"]["limits"]
    assert {"cpus", "memory", "pids"} <= set(limits)
    assert int(APP["environment"]["IMAGE_CONCURRENCY"]) <= float(limits["cpus"])


def test_the_app_runs_under_an_init_that_reaps_exited_processes() -> None:
    """Without it the server is PID 1, and an exited child would stay a zombie until the container stops."""
    assert APP["init"] is True


def test_the_app_and_its_tables_one_shot_read_the_same_settings_from_the_environment() -> None:
    app, tables = APP["environment"], SERVICES["tables"]["environment"]
    known = {name.upper() for name in Settings.model_fields} | {
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "HOST",
        "PORT",
    }

    assert set(app) <= known, set(app) - known
    assert app["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    assert {name: app[name] for name in TABLE_SETTINGS} == {name: tables[name] for name in TABLE_SETTINGS}


def test_the_compose_tables_do_not_clash_with_the_ones_make_deploy_creates() -> None:
    defaults = Settings()  # Terraform's table names are the settings' defaults.
    terraform_names = {
        defaults.rate_limit_table,
        defaults.jobs_table,
        defaults.idempotency_table,
        defaults.catalog_table,
    }

    assert not terraform_names & {APP["environment"][name] for name in TABLE_SETTINGS}


def test_the_built_services_use_targets_the_dockerfile_defines() -> None:
    parsed = DockerfileParser(str(REPO_ROOT / "Dockerfile"), env_replace=False).structure
    targets = {
        words[2]
        for words in (entry["value"].split() for entry in parsed if entry["instruction"] == "FROM")
        if len(words) == 3
    }

    for name in ("app", "tables"):
        build = SERVICES[name]["build"]
        assert build["context"] == "."
        assert build["target"] in targets


def test_manual_crop_is_limited_in_the_compose_stack() -> None:
    """Issue 14: the manual-crop budget is on by default in compose (it is off only for `make run`)."""
    assert int(APP["environment"]["MANUAL_CROP_RATE_LIMIT_REQUESTS"]) > 0
    assert APP["environment"]["API_KEYS"] == "${API_KEYS:-}"  # keys come from the operator's environment
