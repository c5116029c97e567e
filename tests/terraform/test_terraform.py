"""terraform/: formatted, valid, and applied for real against moto's server, then destroyed.

The configuration is copied to a temporary folder with its own data dir and state, so the tests
never touch a developer's `.terraform` or state. Known moto gaps: it stores no
`binary_media_types` on a REST API (read from `terraform show -json` instead) and never runs a
function, so retries and dead-lettering are checked as configuration only.
"""

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from image_processor.settings import Settings
from tests.support.terraform import TERRAFORM, TERRAFORM_DIR, Terraform, client, initialised
from tools.build_lambda import build_zip
from tools.local_tables import TABLE_SCHEMAS
from tools.processes import REPO_ROOT, running_emulator

pytestmark = pytest.mark.skipif(TERRAFORM is None, reason="Terraform is not installed, so terraform/ cannot be checked")


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    return initialised(tmp_path_factory.mktemp("terraform"))


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The real function code and shared-library layer; a stand-in for the dependency layer, which needs PyPI."""
    out = tmp_path_factory.mktemp("packages")
    build_zip(REPO_ROOT / "functions" / "api", out / "api.zip", ["app.py"])
    build_zip(REPO_ROOT / "functions" / "smart_crop_worker", out / "worker.zip", ["app.py"])
    build_zip(REPO_ROOT / "layers" / "common", out / "common.zip", ["python/image_processor"])
    (out / "deps" / "python").mkdir(parents=True)
    (out / "deps" / "python" / "README").write_text("stand-in for the dependency layer\n")
    build_zip(out / "deps", out / "deps.zip", [])
    return [
        f"api_package_path={out / 'api.zip'}",
        f"worker_package_path={out / 'worker.zip'}",
        f"common_layer_path={out / 'common.zip'}",
        f"deps_layer_path={out / 'deps.zip'}",
    ]


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    """A moto server of its own, so that default-named tables never meet other tests' state."""
    with running_emulator() as url:
        yield url


def planned_values(plan: dict[str, Any], address: str) -> dict[str, Any]:
    for resource in plan["planned_values"]["root_module"]["resources"]:
        if resource["address"] == address:
            values: dict[str, Any] = resource["values"]
            return values
    raise AssertionError(f"{address} is not in the state")


def test_terraform_is_formatted() -> None:
    assert TERRAFORM is not None
    result = subprocess.run(
        [TERRAFORM, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_terraform_validates(terraform: Terraform) -> None:
    terraform.run("validate")


def test_table_names_are_the_service_defaults() -> None:
    """Audit 25: the tables Terraform defines are the ones the service reads."""
    defaults = {name: field.default for name, field in Settings.model_fields.items()}
    dynamodb_tf = (TERRAFORM_DIR / "dynamodb.tf").read_text()
    for setting, suffix in (
        ("rate_limit_table", "rate-limits"),
        ("jobs_table", "jobs"),
        ("idempotency_table", "idempotency"),
    ):
        assert defaults[setting] == f"product-image-processor-{suffix}"
        assert f'"${{var.name_prefix}}-{suffix}"' in dynamodb_tf
    assert re.search(
        r'variable "name_prefix" \{[^}]*default\s*=\s*"product-image-processor"',
        (TERRAFORM_DIR / "variables.tf").read_text(),
    )


def assert_tables(endpoint: str, names: dict[str, str]) -> None:
    """Key schema, TTL, billing, encryption and PITR as created, and in agreement with tools/local_tables."""
    dynamodb = client("dynamodb", endpoint)
    assert names.keys() == TABLE_SCHEMAS.keys()
    for role, name in names.items():
        schema = TABLE_SCHEMAS[role]
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == [{"AttributeName": schema["key"], "KeyType": "HASH"}]
        assert table["AttributeDefinitions"] == [{"AttributeName": schema["key"], "AttributeType": "S"}]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["Status"] == "ENABLED"
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": schema["ttl"]}
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


@pytest.mark.slow
def test_tables_only_then_the_whole_stack_apply_and_destroy(
    terraform: Terraform, emulator: str, packages: list[str]
) -> None:
    """Audit 25: the prototype Terraform had no rate-limit table."""
    # One state for both steps: each Terraform command spends seconds loading the provider.
    tables_only = (f"aws_endpoint_url={emulator}", "create_functions=false")
    whole_stack = (f"aws_endpoint_url={emulator}", *packages)
    try:
        terraform.run("apply", "-auto-approve", "-input=false", *(f"-var={v}" for v in tables_only))
        managed = [line for line in terraform.run("state", "list").stdout.split() if not line.startswith("data.")]
        assert sorted(managed) == [
            'aws_dynamodb_table.this["idempotency"]',
            'aws_dynamodb_table.this["jobs"]',
            'aws_dynamodb_table.this["rate_limit"]',
        ]
        assert client("lambda", emulator).list_functions()["Functions"] == []
        assert terraform.outputs().get("api_url") is None

        plan = terraform.apply(*whole_stack)
        outputs = terraform.outputs()
        assert_tables(emulator, outputs["dynamodb_table_names"])
        assert_functions(emulator, outputs)
        assert_worker_async_config(emulator, outputs)
        assert_api(emulator, outputs, plan)
        assert_roles(emulator, outputs)
        assert_second_apply_changes_nothing(terraform, whole_stack)
    finally:
        terraform.destroy(*whole_stack)
    assert client("dynamodb", emulator).list_tables()["TableNames"] == []
    assert client("lambda", emulator).list_functions()["Functions"] == []
    assert client("apigateway", emulator).get_rest_apis()["items"] == []


def assert_second_apply_changes_nothing(terraform: Terraform, variables: tuple[str, ...]) -> None:
    """`make deploy` twice changes nothing; moto alone forgets binary_media_types, so that one update remains."""
    streamed = terraform.run("plan", "-input=false", "-json", *(f"-var={v}" for v in variables)).stdout
    changes = {
        message["change"]["resource"]["addr"]: message["change"]["action"]
        for message in map(json.loads, streamed.splitlines())
        if message.get("type") == "planned_change"
    }
    assert changes == {"aws_api_gateway_rest_api.this[0]": "update"}


def assert_functions(endpoint: str, outputs: dict[str, Any]) -> None:
    lambda_ = client("lambda", endpoint)
    tables = outputs["dynamodb_table_names"]
    for name in (outputs["api_function_name"], outputs["worker_function_name"]):
        config = lambda_.get_function_configuration(FunctionName=name)
        assert config["Runtime"] == "python3.12"
        assert config["Handler"] == "app.handler"
        assert len(config["Layers"]) == 2
        assert config["MemorySize"] >= 1024
        environment = config["Environment"]["Variables"]
        assert environment["DISPATCHER"] == "lambda"
        assert environment["WORKER_FUNCTION_NAME"] == outputs["worker_function_name"]
        assert environment["RATE_LIMIT_TABLE"] == tables["rate_limit"]
        assert environment["JOBS_TABLE"] == tables["jobs"]
        assert environment["IDEMPOTENCY_TABLE"] == tables["idempotency"]
        assert environment["PROCESSED_IMAGES_DIR"] == "/mnt/processed_images"
    worker = lambda_.get_function(FunctionName=outputs["worker_function_name"])
    assert worker["Concurrency"]["ReservedConcurrentExecutions"] == 10
    assert worker["Configuration"]["Timeout"] >= 60


def assert_worker_async_config(endpoint: str, outputs: dict[str, Any]) -> None:
    queue_arn = client("sqs", endpoint).get_queue_attributes(
        QueueUrl=outputs["worker_dead_letter_queue_url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    config = client("lambda", endpoint).get_function_event_invoke_config(FunctionName=outputs["worker_function_name"])
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn


def assert_api(endpoint: str, outputs: dict[str, Any], plan: dict[str, Any]) -> None:
    api_id = outputs["api_rest_api_id"]
    assert outputs["api_url"] == f"{endpoint}/restapis/{api_id}/v1/_user_request_"
    apigateway = client("apigateway", endpoint)
    resources = {item["path"]: item for item in apigateway.get_resources(restApiId=api_id)["items"]}
    assert set(resources) == {"/", "/{proxy+}"}
    api_arn = client("lambda", endpoint).get_function(FunctionName=outputs["api_function_name"])["Configuration"][
        "FunctionArn"
    ]
    for resource in resources.values():
        integration = apigateway.get_integration(restApiId=api_id, resourceId=resource["id"], httpMethod="ANY")
        assert integration["type"] == "AWS_PROXY"
        assert api_arn in integration["uri"]
    assert apigateway.get_stage(restApiId=api_id, stageName="v1")["deploymentId"]
    # moto keeps no binary media types, so check what Terraform planned to send.
    rest_api = planned_values(plan, "aws_api_gateway_rest_api.this[0]")
    assert {"multipart/form-data", "image/jpeg", "*/*"} <= set(rest_api["binary_media_types"])
    permission = planned_values(plan, "aws_lambda_permission.api_gateway[0]")
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["function_name"] == outputs["api_function_name"]


def assert_roles(endpoint: str, outputs: dict[str, Any]) -> None:
    iam = client("iam", endpoint)
    worker_arn = client("lambda", endpoint).get_function(FunctionName=outputs["worker_function_name"])["Configuration"][
        "FunctionArn"
    ]
    api_policy = _statements(iam, f"{outputs['api_function_name']}-role")
    worker_policy = _statements(iam, f"{outputs['worker_function_name']}-role")
    assert api_policy["QueueSmartCropJobs"] == (["lambda:InvokeFunction"], [worker_arn])
    # Every call the API function's limiter and Idempotency-Key store make (tests/image_processor count them).
    limiter_calls = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert api_policy["RateLimitState"][0] == limiter_calls
    assert api_policy["IdempotencyKeys"][0] == sorted([*limiter_calls, "dynamodb:DeleteItem"])
    for policy in (api_policy, worker_policy):
        assert all(resource != "*" for _, resources in policy.values() for resource in resources)
    assert "lambda:InvokeFunction" not in {action for actions, _ in worker_policy.values() for action in actions}
    queue_arn = client("sqs", endpoint).get_queue_attributes(
        QueueUrl=outputs["worker_dead_letter_queue_url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    dead_letter = _statements(iam, f"{outputs['worker_function_name']}-role", "dead-letter-queue")
    assert dead_letter == {"DeadLetterFailedJobs": (["sqs:SendMessage"], [queue_arn])}


def _statements(iam: Any, role: str, policy: str = "least-privilege") -> dict[str, tuple[list[str], list[str]]]:
    document = iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"]
    if isinstance(document, str):
        document = json.loads(document)
    return {
        statement["Sid"]: (_as_list(statement["Action"]), _as_list(statement["Resource"]))
        for statement in document["Statement"]
    }


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else sorted(value)


@pytest.mark.slow
def test_enable_efs_plans_a_shared_file_system_for_both_functions(
    terraform: Terraform, emulator: str, packages: list[str]
) -> None:
    variables = (
        f"aws_endpoint_url={emulator}",
        *packages,
        "enable_efs=true",
        "efs_vpc_id=vpc-0123456789abcdef0",
        'efs_subnet_ids=["subnet-0aaaaaaaaaaaaaaaa","subnet-0bbbbbbbbbbbbbbbb"]',
    )
    streamed = terraform.run("plan", "-input=false", "-json", *(f"-var={v}" for v in variables)).stdout
    planned = {
        message["change"]["resource"]["addr"]
        for message in map(json.loads, streamed.splitlines())
        if message.get("type") == "planned_change" and message["change"]["action"] == "create"
    }
    assert {
        "aws_efs_file_system.this[0]",
        "aws_efs_access_point.this[0]",
        'aws_efs_mount_target.this["subnet-0aaaaaaaaaaaaaaaa"]',
        'aws_efs_mount_target.this["subnet-0bbbbbbbbbbbbbbbb"]',
        'aws_iam_role_policy.efs_client["api"]',
        'aws_iam_role_policy.efs_client["worker"]',
        'aws_iam_role_policy_attachment.vpc_access["api"]',
        'aws_iam_role_policy_attachment.vpc_access["worker"]',
    } <= planned
