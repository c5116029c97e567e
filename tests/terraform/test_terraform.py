"""terraform/: formatted, valid, and applied for real against moto's server, then destroyed.

The configuration is copied to a temporary folder with its own data dir and state, so the tests
never touch a developer's `.terraform` or state. moto never runs a function, so retries,
dead-lettering and alarms are checked as configuration only; tools/aws_emulator makes its
CreateRestApi keep `binaryMediaTypes`, which moto alone drops.
"""

import json
import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from image_processor.settings import Settings
from tests.support.terraform import TERRAFORM, TERRAFORM_DIR, Terraform, client, initialised
from tools.build_lambda import package_function
from tools.local_tables import TABLE_SCHEMAS, key_schema
from tools.processes import running_emulator

pytestmark = pytest.mark.skipif(TERRAFORM is None, reason="Terraform is not installed, so terraform/ cannot be checked")


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    return initialised(tmp_path_factory.mktemp("terraform"))


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The function zips as `make package` builds them, with a stand-in for pip's dependencies (PyPI)."""
    out = tmp_path_factory.mktemp("packages")
    dependencies = out / "dependencies"
    dependencies.mkdir()
    (dependencies / "README").write_text("stand-in for the third-party dependencies\n")
    package_function("api", out / "api.zip", out / "api", dependencies)
    package_function("smart_crop_worker", out / "worker.zip", out / "worker", dependencies)
    return [f"api_package_path={out / 'api.zip'}", f"worker_package_path={out / 'worker.zip'}"]


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
        ("catalog_table", "catalog"),
    ):
        assert defaults[setting] == f"product-image-processor-{suffix}"
        assert f'"${{var.name_prefix}}-{suffix}"' in dynamodb_tf
    assert re.search(
        r'variable "name_prefix" \{[^}]*default\s*=\s*"product-image-processor"',
        (TERRAFORM_DIR / "variables.tf").read_text(),
    )


# The provider endpoint (and LocalStack service) each resource type's API belongs to.
_SERVICE_OF_TYPE = {
    "aws_api_gateway_": "apigateway",
    "aws_cloudfront_": "cloudfront",
    "aws_cloudwatch_log_group": "logs",
    "aws_cloudwatch_metric_alarm": "cloudwatch",
    "aws_cloudwatch_dashboard": "cloudwatch",
    "aws_sns_": "sns",
    "aws_dynamodb_": "dynamodb",
    "aws_iam_role": "iam",
    "aws_lambda_": "lambda",
    "aws_s3_": "s3",
    "aws_sqs_": "sqs",
    "aws_caller_identity": "sts",
}


def test_every_resource_goes_to_an_endpoint_the_emulator_is_given() -> None:
    """On an emulator a resource whose service has no endpoint would be created on real AWS."""
    sources = "".join(path.read_text() for path in TERRAFORM_DIR.glob("*.tf"))
    used = set(re.findall(r'^(?:resource|data) "(aws_\w+)"', sources, re.MULTILINE)) - {"aws_iam_policy_document"}
    providers = (TERRAFORM_DIR / "providers.tf").read_text()
    block = re.search(r"endpoints \{(.*?)\}", providers, re.DOTALL)
    assert block is not None
    endpoints = set(re.findall(r"^\s*(\w+)\s*=", block.group(1), re.MULTILINE))

    services = set()
    for resource_type in used:
        matches = [service for prefix, service in _SERVICE_OF_TYPE.items() if resource_type.startswith(prefix)]
        assert matches, f"{resource_type}: which service's endpoint does it use?"
        services.add(matches[0])
    assert services == endpoints


def assert_tables(endpoint: str, names: dict[str, str]) -> None:
    """Key schema, TTL, billing, encryption and PITR as created, and in agreement with tools/local_tables.

    Encryption at rest uses the AWS-owned key: DescribeTable reports no KMS key, so LocalStack needs no KMS.
    """
    dynamodb = client("dynamodb", endpoint)
    assert names.keys() == TABLE_SCHEMAS.keys()
    for role, name in names.items():
        schema = TABLE_SCHEMAS[role]
        table = dynamodb.describe_table(TableName=name)["Table"]
        expected = key_schema(schema)
        assert table["KeySchema"] == expected["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(expected["AttributeDefinitions"], key=str)
        indexes = [(index["IndexName"], index["KeySchema"]) for index in table.get("LocalSecondaryIndexes", [])]
        assert indexes == [
            (index["IndexName"], index["KeySchema"]) for index in expected.get("LocalSecondaryIndexes", [])
        ]
        global_indexes = [(index["IndexName"], index["KeySchema"]) for index in table.get("GlobalSecondaryIndexes", [])]
        assert global_indexes == [
            (index["IndexName"], index["KeySchema"]) for index in expected.get("GlobalSecondaryIndexes", [])
        ]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table.get("SSEDescription", {}).get("SSEType") != "KMS"
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
            'aws_dynamodb_table.this["catalog"]',
            'aws_dynamodb_table.this["idempotency"]',
            'aws_dynamodb_table.this["jobs"]',
            'aws_dynamodb_table.this["rate_limit"]',
        ]
        assert client("lambda", emulator).list_functions()["Functions"] == []
        assert terraform.outputs().get("api_url") is None

        plan = terraform.apply(*whole_stack)
        outputs = terraform.outputs()
        assert_no_cdn_outside_the_aws_workspace(terraform, outputs)
        assert planned_values(plan, "aws_lambda_function.worker[0]")["reserved_concurrent_executions"] == -1
        assert_tables(emulator, outputs["dynamodb_table_names"])
        assert_bucket(emulator, outputs["images_bucket"])
        assert_functions(emulator, outputs)
        assert_worker_async_config(emulator, outputs)
        assert_webhook_retry_queue(emulator, outputs)
        assert_api(emulator, outputs, plan)
        assert_alarms(emulator, outputs)
        assert_dashboard(emulator, outputs)
        assert_tracing_and_access_logs(emulator, outputs)
        assert_roles(emulator, outputs)
        assert_second_apply_changes_nothing(terraform, whole_stack)
    finally:
        terraform.destroy(*whole_stack)
    assert client("dynamodb", emulator).list_tables()["TableNames"] == []
    assert client("lambda", emulator).list_functions()["Functions"] == []
    assert client("apigateway", emulator).get_rest_apis()["items"] == []
    assert client("s3", emulator).list_buckets()["Buckets"] == []


def assert_no_cdn_outside_the_aws_workspace(terraform: Terraform, outputs: dict[str, Any]) -> None:
    """The emulators have no CloudFront: enable_cdn is off by default, and image links stay the API's own."""
    assert not [line for line in terraform.run("state", "list").stdout.split() if "cloudfront" in line]
    assert outputs.get("cdn_domain_name") is None  # Terraform keeps no null output


def assert_second_apply_changes_nothing(terraform: Terraform, variables: tuple[str, ...]) -> None:
    """`make deploy` twice changes nothing."""
    assert _planned_changes(terraform, variables) == {}


def assert_bucket(endpoint: str, bucket: str) -> None:
    """Private, SSE-S3 (no KMS), TLS only, owner-enforced, and staged or uploaded originals expire."""
    s3 = client("s3", endpoint)
    assert bucket.startswith("product-image-processor-images-")
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
    assert ownership == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (statement,) = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(_as_list(statement["Resource"])) == [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    rules = {rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    for rule_id, prefix in (("expire-staged-originals", ".staging/"), ("expire-direct-uploads", ".uploads/")):
        assert rules[rule_id]["Status"] == "Enabled"
        assert rules[rule_id]["Filter"]["Prefix"] == prefix
        assert rules[rule_id]["Expiration"]["Days"] == 1
    assert "POST" in s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedMethods"]


def assert_functions(endpoint: str, outputs: dict[str, Any]) -> None:
    """Audit issue 10, defect 2: the functions got a read-only PROCESSED_IMAGES_DIR; storage is S3 now."""
    lambda_ = client("lambda", endpoint)
    tables = outputs["dynamodb_table_names"]
    environments = {}
    for role, name in (("api", outputs["api_function_name"]), ("worker", outputs["worker_function_name"])):
        config = lambda_.get_function_configuration(FunctionName=name)
        assert config["Runtime"] == "python3.12"
        assert config["Handler"] == "app.handler"
        assert config.get("Layers", []) == []  # self-contained zips: layers are paid-only on LocalStack
        assert config.get("VpcConfig", {}).get("SubnetIds", []) == []
        assert config.get("FileSystemConfigs", []) == []
        assert config["MemorySize"] >= 1024
        environment = config["Environment"]["Variables"]
        assert environment["STORAGE_BACKEND"] == "s3"
        assert environment["S3_BUCKET"] == outputs["images_bucket"]
        assert environment["WORKER_FUNCTION_NAME"] == outputs["worker_function_name"]
        assert environment["RATE_LIMIT_TABLE"] == tables["rate_limit"]
        assert environment["JOBS_TABLE"] == tables["jobs"]
        assert environment["IDEMPOTENCY_TABLE"] == tables["idempotency"]
        assert environment["CATALOG_TABLE"] == tables["catalog"]
        assert environment["JOB_DEADLINE_SECONDS"] == "900"
        assert environment["LOG_LEVEL"] == "INFO"
        assert "PROCESSED_IMAGES_DIR" not in environment
        assert "PUBLIC_IMAGE_BASE_URL" not in environment  # no CDN on an emulator
        environments[role] = environment
    assert environments["api"]["DISPATCHER"] == "lambda"
    assert environments["api"]["IMAGE_DELIVERY"] == "redirect"
    # Manual crop is limited by default in the Lambda stack (issue: manual crop open and unlimited).
    assert environments["api"]["MANUAL_CROP_RATE_LIMIT_REQUESTS"] == "120"
    assert environments["api"]["MANUAL_CROP_RATE_LIMIT_WINDOW_SECONDS"] == "3600"
    assert {"PRESIGNED_URL_TTL_SECONDS", "UPLOAD_TTL_SECONDS"} <= set(environments["api"])
    # ...and every name the functions read is a setting the service knows.
    # Metrics leave as EMF lines, in one namespace (Powertools' variable, which Settings reads too).
    assert environments["api"]["METRICS_BACKEND"] == environments["worker"]["METRICS_BACKEND"] == "emf"
    assert environments["api"]["POWERTOOLS_METRICS_NAMESPACE"] == "ProductImageProcessor"
    settings = {name.upper() for name in Settings.model_fields} | {"POWERTOOLS_SERVICE_NAME"}
    contract = {"STORAGE_BACKEND", "S3_BUCKET", "IMAGE_DELIVERY", "PRESIGNED_URL_TTL_SECONDS", "UPLOAD_TTL_SECONDS"}
    assert set(environments["api"]) | set(environments["worker"]) <= settings | contract
    # Wiring (issue 19): the origins the API allows, the AI the worker calls, and the timeout of every AWS call.
    assert environments["api"]["CORS_ALLOWED_ORIGINS"] == ""  # the default ["*"] opens the bucket's CORS only
    assert environments["worker"]["AI_BACKEND"] == "mock"
    assert environments["api"]["AWS_TIMEOUT_SECONDS"] == environments["worker"]["AWS_TIMEOUT_SECONDS"] == "2"
    # Both functions may end a job, so both queue its webhook's retries; webhooks stay off without prefixes.
    queue_name = outputs["webhook_retry_queue_url"].rsplit("/", 1)[-1]
    assert (
        environments["api"]["WEBHOOK_RETRY_QUEUE_NAME"]
        == environments["worker"]["WEBHOOK_RETRY_QUEUE_NAME"]
        == queue_name
    )
    assert "WEBHOOK_URL_PREFIXES" not in environments["api"] and "WEBHOOK_SECRET" not in environments["worker"]
    assert outputs["ai_backend"].startswith("mock: no AI service is configured")
    # Deployable on a new account: the default reserves no concurrency (issue 19, defect 2).
    worker = lambda_.get_function(FunctionName=outputs["worker_function_name"])
    assert worker.get("Concurrency", {}).get("ReservedConcurrentExecutions") is None
    assert worker["Configuration"]["Timeout"] >= 60
    # The API function ends before API Gateway's 29 s, so a slow call ends as the service's own error.
    api = lambda_.get_function_configuration(FunctionName=outputs["api_function_name"])
    assert api["Timeout"] < 29


def assert_worker_async_config(endpoint: str, outputs: dict[str, Any]) -> None:
    """The event's maximum age is the job deadline minus the worker's timeout: no run outlives its job."""
    queue_arn = client("sqs", endpoint).get_queue_attributes(
        QueueUrl=outputs["worker_dead_letter_queue_url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    lambda_ = client("lambda", endpoint)
    config = lambda_.get_function_event_invoke_config(FunctionName=outputs["worker_function_name"])
    environment = lambda_.get_function_configuration(FunctionName=outputs["worker_function_name"])["Environment"][
        "Variables"
    ]
    deadline, timeout = int(environment["JOB_DEADLINE_SECONDS"]), int(environment["WORKER_TIMEOUT_SECONDS"])
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == deadline - timeout == 900 - 120
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn


def assert_webhook_retry_queue(endpoint: str, outputs: dict[str, Any]) -> None:
    """Issue 21: retries wait in an encrypted queue (dead-lettered after 5 receives) that feeds the worker."""
    sqs = client("sqs", endpoint)
    attributes = sqs.get_queue_attributes(QueueUrl=outputs["webhook_retry_queue_url"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert attributes["SqsManagedSseEnabled"] == "true"
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 5
    dead_letters = sqs.get_queue_attributes(
        QueueUrl=sqs.get_queue_url(QueueName=redrive["deadLetterTargetArn"].rsplit(":", 1)[1])["QueueUrl"],
        AttributeNames=["All"],
    )["Attributes"]
    assert dead_letters["SqsManagedSseEnabled"] == "true"
    assert int(attributes["VisibilityTimeout"]) == 6 * 120  # six times the worker's timeout, as AWS advises
    lambda_ = client("lambda", endpoint)
    worker_arn = lambda_.get_function(FunctionName=outputs["worker_function_name"])["Configuration"]["FunctionArn"]
    (mapping,) = lambda_.list_event_source_mappings(EventSourceArn=attributes["QueueArn"])["EventSourceMappings"]
    assert mapping["FunctionArn"] == worker_arn
    assert mapping["BatchSize"] == 10
    assert mapping.get("FunctionResponseTypes") == ["ReportBatchItemFailures"]


def assert_api(endpoint: str, outputs: dict[str, Any], plan: dict[str, Any]) -> None:
    api_id = outputs["api_rest_api_id"]
    # LocalStack's host form keeps the stage first in the path, as on AWS, so the API's links resolve.
    port = endpoint.rsplit(":", 1)[1]
    assert outputs["api_url"] == f"http://{api_id}.execute-api.localhost.localstack.cloud:{port}/v1"
    apigateway = client("apigateway", endpoint)
    # Explicit types: LocalStack ignores */*.
    assert sorted(apigateway.get_rest_api(restApiId=api_id)["binaryMediaTypes"]) == [
        "application/octet-stream",
        "image/*",
        "image/jpeg",
        "multipart/form-data",
    ]
    resources = {item["path"]: item for item in apigateway.get_resources(restApiId=api_id)["items"]}
    assert set(resources) == {"/", "/{proxy+}"}
    api_arn = client("lambda", endpoint).get_function(FunctionName=outputs["api_function_name"])["Configuration"][
        "FunctionArn"
    ]
    for resource in resources.values():
        method = apigateway.get_method(restApiId=api_id, resourceId=resource["id"], httpMethod="ANY")
        assert method["apiKeyRequired"] is False
        integration = apigateway.get_integration(restApiId=api_id, resourceId=resource["id"], httpMethod="ANY")
        assert integration["type"] == "AWS_PROXY"
        assert api_arn in integration["uri"]
    assert apigateway.get_stage(restApiId=api_id, stageName="v1")["deploymentId"]
    settings = planned_values(plan, "aws_api_gateway_method_settings.all[0]")["settings"][0]
    assert (settings["throttling_rate_limit"], settings["throttling_burst_limit"]) == (50, 100)
    assert_gateway_responses(apigateway, api_id)
    permission = planned_values(plan, "aws_lambda_permission.api_gateway[0]")
    assert permission["principal"] == "apigateway.amazonaws.com"
    assert permission["function_name"] == outputs["api_function_name"]


def assert_gateway_responses(apigateway: Any, api_id: str) -> None:
    """What API Gateway answers by itself (a body over 6 MB, throttling, its own 5xx) is the service's JSON shape."""
    responses = {item["responseType"]: item for item in apigateway.get_gateway_responses(restApiId=api_id)["items"]}
    assert {"REQUEST_TOO_LARGE", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    assert responses["REQUEST_TOO_LARGE"]["statusCode"] == "413"
    for response_type in ("REQUEST_TOO_LARGE", "THROTTLED", "DEFAULT_4XX", "DEFAULT_5XX"):
        template = responses[response_type]["responseTemplates"]["application/json"]
        # $context.error.messageString is a quoted JSON string; substitute one to check the shape.
        body = json.loads(template.replace("$context.error.messageString", json.dumps("Too Many Requests")))
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message"}
        assert re.fullmatch(r"[a-z_]+", body["error"]["code"])
        assert responses[response_type]["responseParameters"] == {
            "gatewayresponse.header.Content-Type": "'application/json'"
        }
    too_large = json.loads(responses["REQUEST_TOO_LARGE"]["responseTemplates"]["application/json"])
    assert too_large["error"]["code"] == "payload_too_large"
    assert "/uploads" in too_large["error"]["message"]


def assert_alarms(endpoint: str, outputs: dict[str, Any]) -> None:
    """Alarms that mean something: no alarm on worker Errors (each one is a by-design retry)."""
    cloudwatch = client("cloudwatch", endpoint)
    alarms = {
        alarm["AlarmName"].removeprefix("product-image-processor-"): alarm
        for alarm in cloudwatch.describe_alarms(AlarmNames=outputs["alarm_names"])["MetricAlarms"]
    }
    api, worker = outputs["api_function_name"], outputs["worker_function_name"]
    queue_name = outputs["worker_dead_letter_queue_url"].rsplit("/", 1)[1]
    watched = {
        name: (
            alarm["Namespace"],
            alarm["MetricName"],
            dict(sorted((d["Name"], d["Value"]) for d in alarm["Dimensions"])),
        )
        for name, alarm in alarms.items()
        if "MetricName" in alarm
    }
    assert watched == {
        "failed-jobs": (
            "ProductImageProcessor",
            "Crops",
            {"kind": "smart", "outcome": "failed", "service": "product-image-processor"},
        ),
        "dead-letters": ("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue_name}),
        "worker-event-age": ("AWS/Lambda", "AsyncEventAge", {"FunctionName": worker}),
        "worker-events-dropped": ("AWS/Lambda", "AsyncEventsDropped", {"FunctionName": worker}),
        "api-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": api}),
        "worker-throttles": ("AWS/Lambda", "Throttles", {"FunctionName": worker}),
        "api-duration-p99": ("AWS/Lambda", "Duration", {"FunctionName": api}),
        "worker-duration-p99": ("AWS/Lambda", "Duration", {"FunctionName": worker}),
        "api-5xx-rate": ("AWS/ApiGateway", "5XXError", {"ApiName": "product-image-processor", "Stage": "v1"}),
    }
    assert ("AWS/Lambda", "Errors", {"FunctionName": worker}) not in watched.values()
    # Thresholds that sit near the limit they warn of: 80 % of the event age (ms) and of the API's timeout.
    assert alarms["worker-event-age"]["Threshold"] == (900 - 120) * 1000 * 0.8
    environment = client("lambda", endpoint).get_function_configuration(FunctionName=api)
    assert alarms["api-duration-p99"]["ExtendedStatistic"] == "p99"
    assert alarms["api-duration-p99"]["Threshold"] == environment["Timeout"] * 1000 * 0.8
    assert (alarms["api-5xx-rate"]["Statistic"], alarms["api-5xx-rate"]["Threshold"]) == ("Average", 0.05)
    # DynamoDB throttling: read and write throttle events of each table, summed.
    tables = outputs["dynamodb_table_names"]
    for role, table in tables.items():
        queries = alarms[f"dynamodb-throttles-{role.replace('_', '-')}"]["Metrics"]
        stats = {query["Id"]: query["MetricStat"]["Metric"] for query in queries if "MetricStat" in query}
        assert {stat["MetricName"] for stat in stats.values()} == {"ReadThrottleEvents", "WriteThrottleEvents"}
        assert all(stat["Dimensions"] == [{"Name": "TableName", "Value": table}] for stat in stats.values())
        assert [query["Expression"] for query in queries if "Expression" in query] == ["reads + writes"]
    assert len(alarms) == len(watched) + len(tables)
    # Everyone is notified through the stack's topic (no e-mail subscription unless alarm_email is given).
    topic = outputs["alarm_topic_arn"]
    assert topic.endswith(":product-image-processor-alarms")
    assert all(alarm["AlarmActions"] == alarm["OKActions"] == [topic] for alarm in alarms.values())
    assert client("sns", endpoint).list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def assert_dashboard(endpoint: str, outputs: dict[str, Any]) -> None:
    body = json.loads(
        client("cloudwatch", endpoint).get_dashboard(DashboardName=outputs["dashboard_name"])["DashboardBody"]
    )
    metric_names = {
        line[1] for widget in body["widgets"] if widget["type"] == "metric" for line in widget["properties"]["metrics"]
    }
    service_metrics = {"Crops", "JobDuration", "AiCallDuration", "AiCallFailures", "RateLimitRefusals", "ColdStart"}
    assert service_metrics | {"RenditionRequests", "AsyncEventAge", "5XXError", "WriteThrottleEvents"} <= metric_names
    (alarm_widget,) = [widget for widget in body["widgets"] if widget["type"] == "alarm"]
    assert len(alarm_widget["properties"]["alarms"]) == len(outputs["alarm_names"])


def assert_tracing_and_access_logs(endpoint: str, outputs: dict[str, Any]) -> None:
    """X-Ray on both functions and the stage; JSON access logs with the request id and status, kept as long
    as the functions' logs; the account's API Gateway CloudWatch role that they need."""
    lambda_ = client("lambda", endpoint)
    for name in (outputs["api_function_name"], outputs["worker_function_name"]):
        assert lambda_.get_function_configuration(FunctionName=name)["TracingConfig"] == {"Mode": "Active"}
    apigateway = client("apigateway", endpoint)
    stage = apigateway.get_stage(restApiId=outputs["api_rest_api_id"], stageName="v1")
    assert stage["tracingEnabled"] is True
    group = outputs["api_access_log_group"]
    (log_group,) = client("logs", endpoint).describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert log_group["retentionInDays"] == 30
    assert stage["accessLogSettings"]["destinationArn"].removesuffix(":*") == log_group["arn"].removesuffix(":*")
    line = json.loads(stage["accessLogSettings"]["format"])
    assert {"requestId": "$context.requestId", "status": "$context.status"}.items() <= line.items()
    role = apigateway.get_account()["cloudwatchRoleArn"]
    assert role.endswith(":role/product-image-processor-apigateway-cloudwatch")


def assert_roles(endpoint: str, outputs: dict[str, Any]) -> None:
    """Audit issue 10, defect 1: the rate limiter calls UpdateItem, which the API role was not granted.

    Every statement as deployed: the exact actions on the exact tables, function, queue and key prefixes.
    """
    iam = client("iam", endpoint)
    lambda_ = client("lambda", endpoint)
    worker_arn = lambda_.get_function(FunctionName=outputs["worker_function_name"])["Configuration"]["FunctionArn"]
    tables = {
        role: client("dynamodb", endpoint).describe_table(TableName=name)["Table"]["TableArn"]
        for role, name in outputs["dynamodb_table_names"].items()
    }
    bucket = f"arn:aws:s3:::{outputs['images_bucket']}"
    renditions = sorted(f"{bucket}/*/*/*.{fmt}" for fmt in ("jpg", "webp", "avif"))
    log_groups = {
        role: client("logs", endpoint)
        .describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"][0]["arn"]
        .removesuffix(":*")
        for role, name in (("api", outputs["api_function_name"]), ("worker", outputs["worker_function_name"]))
    }
    traces = (["xray:PutTelemetryRecords", "xray:PutTraceSegments"], ["*"])
    retry_queue = client("sqs", endpoint).get_queue_attributes(
        QueueUrl=outputs["webhook_retry_queue_url"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert _statements(iam, f"{outputs['api_function_name']}-role") == {
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_groups['api']}:*"]),
        "WriteTraces": traces,
        # The limiter checks (GetItem), then acquires (UpdateItem) or prunes (PutItem).
        "RateLimitState": (["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"], [tables["rate_limit"]]),
        # The Idempotency-Key store (image_processor.admission.idempotency_keys).
        "IdempotencyKeys": (
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [tables["idempotency"]],
        ),
        "JobRecords": (
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [tables["jobs"]],
        ),
        "CatalogEntries": (
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [tables["catalog"]],
        ),
        "ListCatalog": (["dynamodb:Query"], [f"{tables['catalog']}/index/newest_first"]),
        "DeleteImages": (["s3:DeleteObject"], sorted([f"{bucket}/*/*.jpg", f"{bucket}/*/*/*"])),
        "ListRenditionsOfDeletedImages": (["s3:ListBucket"], [bucket]),
        "QueueSmartCropJobs": (["lambda:InvokeFunction"], [worker_arn]),
        # A job the API ends (deadline, DELETE) has its webhook's retries queued.
        "QueueWebhookRetries": (["sqs:GetQueueUrl", "sqs:SendMessage"], [retry_queue]),
        # A poll past the deadline removes the result (issue 19: no role could delete a result image).
        "StoreAndLinkResults": (["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], [f"{bucket}/*/*.jpg"]),
        # S3 answers a missing key 404 only with it; 403 is then always a misconfiguration.
        "TellMissingKeys": (["s3:ListBucket"], [bucket]),
        "MakeAndLinkRenditions": (["s3:GetObject", "s3:PutObject"], renditions),
        "StageSmartCropOriginals": (["s3:DeleteObject", "s3:PutObject"], [f"{bucket}/.staging/*"]),
        "DirectUploads": (["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], [f"{bucket}/.uploads/*"]),
    }
    assert _statements(iam, f"{outputs['worker_function_name']}-role") == {
        "WriteOwnLogs": (["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_groups['worker']}:*"]),
        "WriteTraces": traces,
        "JobRecords": (["dynamodb:GetItem", "dynamodb:UpdateItem"], [tables["jobs"]]),
        "CatalogEntries": (["dynamodb:UpdateItem"], [tables["catalog"]]),
        "IdempotencyRecords": (
            ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            [tables["idempotency"]],
        ),
        "ConsumeStagedOriginals": (["s3:DeleteObject", "s3:GetObject"], [f"{bucket}/.staging/*"]),
        # Removed again when the job fails for good or its result comes too late.
        "StoreResults": (["s3:DeleteObject", "s3:PutObject"], [f"{bucket}/*/*.jpg"]),
        "TellMissingKeys": (["s3:ListBucket"], [bucket]),
        "StoreEagerRenditions": (["s3:DeleteObject", "s3:PutObject"], renditions),
        "QueueWebhookRetries": (["sqs:GetQueueUrl", "sqs:SendMessage"], [retry_queue]),
        # The event source mapping polls with the worker's role.
        "ReceiveWebhookRetries": (
            ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],
            [retry_queue],
        ),
    }
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


def _planned_changes(terraform: Terraform, variables: tuple[str, ...]) -> dict[str, str]:
    streamed = terraform.run("plan", "-input=false", "-json", *(f"-var={v}" for v in variables)).stdout
    return {
        message["change"]["resource"]["addr"]: message["change"]["action"]
        for message in map(json.loads, streamed.splitlines())
        if message.get("type") == "planned_change"
    }


@pytest.mark.slow
def test_enable_api_keys_requires_a_key_on_every_method(
    terraform: Terraform, emulator: str, packages: list[str]
) -> None:
    variables = (f"aws_endpoint_url={emulator}", *packages, "enable_api_keys=true")
    terraform.run("plan", "-input=false", "-out=keys.tfplan", *(f"-var={v}" for v in variables))
    plan = json.loads(terraform.run("show", "-json", "keys.tfplan").stdout)

    assert planned_values(plan, 'aws_api_gateway_method.any["root"]')["api_key_required"] is True
    assert planned_values(plan, 'aws_api_gateway_method.any["proxy"]')["api_key_required"] is True
    assert planned_values(plan, "aws_api_gateway_usage_plan_key.this[0]")["key_type"] == "API_KEY"
    usage_plan = planned_values(plan, "aws_api_gateway_usage_plan.this[0]")
    assert usage_plan["quota_settings"][0]["period"] == "DAY"
    assert planned_values(plan, "aws_api_gateway_api_key.this[0]")["enabled"] is True


REFUSED_PLANS = {
    "a job deadline that leaves Lambda under a minute of event age": (
        ("job_deadline_seconds=150", "worker_timeout_seconds=120"),
        "the difference is the worker's maximum event age, which Lambda allows from 60 to 21600 seconds",
    ),
    "arm64, for which no wheels are built": (("lambda_architecture=arm64",), "Only x86_64 is supported"),
    "a presigned URL outliving the role's session": (
        ("presigned_url_ttl_seconds=7200",),
        "stops working when they expire: 1 to 3600 seconds",
    ),
    "a presigned POST outliving the role's session": (
        ("upload_ttl_seconds=3601",),
        "stops working when they expire: 10 to 3600 seconds",
    ),
    "an API timeout at API Gateway's": (("api_timeout_seconds=29",), "before API Gateway's 29-second"),
    "AWS calls that could outlast the API function": (
        ("aws_timeout_seconds=10",),
        "must end within api_timeout_seconds",
    ),
    "no concurrency reserved as zero": (("worker_reserved_concurrency=0",), "0 would stop the worker"),
    "webhooks without a secret to sign them": (
        ('webhook_url_prefixes=["https://hooks.example.com/"]',),
        "webhook_url_prefixes needs webhook_secret",
    ),
    "a webhook secret that is not whsec_": (("webhook_secret=plain",), "must start with whsec_"),
}


@pytest.mark.parametrize("case", list(REFUSED_PLANS))
def test_plan_refuses_a_combination_that_cannot_work(
    terraform: Terraform, emulator: str, packages: list[str], case: str
) -> None:
    given, message = REFUSED_PLANS[case]
    variables = (f"aws_endpoint_url={emulator}", *packages, *given)
    assert TERRAFORM is not None
    result = subprocess.run(
        [
            TERRAFORM,
            f"-chdir={terraform.workdir}",
            "plan",
            "-input=false",
            "-no-color",
            *(f"-var={v}" for v in variables),
        ],
        env=terraform.env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert result.returncode != 0
    assert message in " ".join(result.stderr.split()), result.stderr


@pytest.mark.slow
def test_webhook_variables_become_the_functions_settings_and_the_secret_stays_hidden(
    terraform: Terraform, emulator: str, packages: list[str]
) -> None:
    secret = "whsec_" + "a" * 32
    variables = (
        f"aws_endpoint_url={emulator}",
        *packages,
        'webhook_url_prefixes=["https://hooks.example.com/a/","https://hooks.example.com/b/"]',
        f"webhook_secret={secret}",
    )
    terraform.run("plan", "-input=false", "-out=webhooks.tfplan", *(f"-var={v}" for v in variables))
    shown = terraform.run("show", "-no-color", "webhooks.tfplan").stdout
    assert secret not in shown  # the plan never prints it
    assert TERRAFORM is not None
    console = subprocess.run(
        [TERRAFORM, f"-chdir={terraform.workdir}", "console", *(f"-var={v}" for v in variables)],
        # What main.tf merges into both functions' environments (which stay unknown until the stack exists).
        input='jsonencode([nonsensitive(local.webhook_environment["WEBHOOK_URL_PREFIXES"]),'
        f' nonsensitive(local.webhook_environment["WEBHOOK_SECRET"]) == "{secret}"])\n',
        env=terraform.env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert console.returncode == 0, console.stderr
    assert json.loads(json.loads(console.stdout)) == ["https://hooks.example.com/a/,https://hooks.example.com/b/", True]
