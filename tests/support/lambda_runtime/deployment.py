"""Build the Lambda artifacts with the Makefile, apply terraform/ to the emulator, and read back what it deployed."""

import base64
import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.terraform import Terraform, client
from tools.processes import REPO_ROOT

from .sandbox import DeployedFunction


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    template: str | None


@dataclass(frozen=True)
class Deployment:
    endpoint: str
    outputs: dict[str, Any]
    api: DeployedFunction
    worker: DeployedFunction
    stage: str
    binary_media_types: tuple[str, ...]
    gateway_responses: dict[str, GatewayResponse]
    # Retries Lambda makes of a worker invocation that raised (its event invoke config).
    worker_retries: int


def build_artifacts() -> None:
    """`make package`, as a deploy does."""
    result = subprocess.run(
        ["make", "--no-print-directory", "package"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"make package failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def deploy(terraform: Terraform, endpoint: str) -> Deployment:
    """Apply the whole stack with its defaults (the package paths under build/) and read it back."""
    # moto's Lambda without Docker accepts invocations without running them; the harness runs them instead.
    httpx.post(f"{endpoint}/moto-api/config", json={"lambda": {"use_docker": False}}).raise_for_status()
    variables = [f"aws_endpoint_url={endpoint}"]
    if terraform.declares_variable("mock_ai_latency_seconds"):
        variables.append("mock_ai_latency_seconds=0")
    plan = terraform.apply(*variables)
    outputs = terraform.outputs()
    lift_tls_only_bucket_policies(endpoint)
    rest_api = _one(plan["planned_values"]["root_module"]["resources"], "aws_api_gateway_rest_api")
    rest_api_id = outputs.get("api_rest_api_id") or client("apigateway", endpoint).get_rest_apis()["items"][0]["id"]
    stages = client("apigateway", endpoint).get_stages(restApiId=rest_api_id)["item"]
    assert len(stages) == 1, f"expected one stage, found {stages}"
    artifacts = _artifacts()
    return Deployment(
        endpoint=endpoint,
        outputs=outputs,
        api=read_function(endpoint, outputs["api_function_name"], artifacts),
        worker=read_function(endpoint, outputs["worker_function_name"], artifacts),
        stage=stages[0]["stageName"],
        # moto keeps no binary media types, so they are read from what Terraform sent.
        binary_media_types=tuple(rest_api.get("binary_media_types") or ()),
        gateway_responses=_gateway_responses(endpoint, rest_api_id),
        worker_retries=client("lambda", endpoint).get_function_event_invoke_config(
            FunctionName=outputs["worker_function_name"]
        )["MaximumRetryAttempts"],
    )


def read_function(endpoint: str, name: str, artifacts: dict[str, Path]) -> DeployedFunction:
    """The configuration the emulator holds, and the built zips whose hashes it recorded for the code and layers."""
    lambda_ = client("lambda", endpoint)
    config = lambda_.get_function_configuration(FunctionName=name)
    layer_hashes = []
    for layer in config.get("Layers", []):
        *_, layer_name, version = layer["Arn"].split(":")
        content = lambda_.get_layer_version(LayerName=layer_name, VersionNumber=int(version))["Content"]
        layer_hashes.append(content["CodeSha256"])
    missing = [digest for digest in (config["CodeSha256"], *layer_hashes) if digest not in artifacts]
    assert not missing, f"{name}: no zip under build/ has the deployed hash {missing}"
    return DeployedFunction(
        name=name,
        arn=config["FunctionArn"],
        handler=config["Handler"],
        role_arn=config["Role"],
        timeout_seconds=config["Timeout"],
        memory_mb=config["MemorySize"],
        environment=dict(config.get("Environment", {}).get("Variables", {})),
        code_zip=artifacts[config["CodeSha256"]],
        layer_zips=tuple(artifacts[digest] for digest in layer_hashes),
    )


def _artifacts() -> dict[str, Path]:
    """The zips `make` built, by the base64 SHA-256 Lambda reports as CodeSha256."""
    return {_sha256(path): path for path in sorted((REPO_ROOT / "build").glob("*/*.zip"))}


def lift_tls_only_bucket_policies(endpoint: str) -> None:
    """moto applies a bucket policy's Deny without its Condition, so a TLS-only policy would refuse every
    request; the functions talk HTTPS to S3, where it never applies. Each policy is checked to deny
    nothing but plain-HTTP requests, then removed from the emulator."""
    s3 = client("s3", endpoint)
    for bucket in s3.list_buckets()["Buckets"]:
        try:
            policy = json.loads(s3.get_bucket_policy(Bucket=bucket["Name"])["Policy"])
        except s3.exceptions.ClientError:
            continue
        statements = policy["Statement"] if isinstance(policy["Statement"], list) else [policy["Statement"]]
        for statement in statements:
            assert statement["Effect"] == "Deny", f"{bucket['Name']}: a bucket policy that allows {statement}"
            condition = statement.get("Condition", {})
            assert list(condition) == ["Bool"] and list(condition["Bool"]) == ["aws:SecureTransport"], statement
            assert str(condition["Bool"]["aws:SecureTransport"]).strip("[]\"' ").lower() == "false", statement
        s3.delete_bucket_policy(Bucket=bucket["Name"])


def _gateway_responses(endpoint: str, rest_api_id: str) -> dict[str, GatewayResponse]:
    items = client("apigateway", endpoint).get_gateway_responses(restApiId=rest_api_id).get("items", [])
    return {
        item["responseType"]: GatewayResponse(
            status=int(item.get("statusCode") or 0),
            template=(item.get("responseTemplates") or {}).get("application/json"),
        )
        for item in items
    }


def _one(resources: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    matches = [r["values"] for r in resources if r["type"] == kind and r["mode"] == "managed"]
    assert len(matches) == 1, f"expected one {kind}, found {len(matches)}"
    values: dict[str, Any] = matches[0]
    return values


def _sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()
