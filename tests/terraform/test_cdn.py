"""terraform/cdn.tf: the `aws` workspace plans CloudFront in front of the private bucket; the emulators' do not.

Plans only (moto stands in for AWS's read calls; nothing is created): the distribution cannot be made on
an emulator, and its wiring is what matters here. The apply to moto (test_terraform.py) runs without it.
"""

import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.terraform import TERRAFORM, Terraform, initialised
from tests.terraform.test_cdn_function import rendered
from tools.processes import running_emulator

# Each plan loads the provider and reads through the emulator: tens of seconds.
pytestmark = [
    pytest.mark.skipif(TERRAFORM is None, reason="Terraform is not installed, so terraform/ cannot be checked"),
    pytest.mark.slow,
]


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    return initialised(tmp_path_factory.mktemp("terraform-cdn"))


@pytest.fixture(scope="module")
def variables(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ...]]:
    """An emulator to answer the plan's reads, and stand-in zips (a plan uploads nothing)."""
    package = tmp_path_factory.mktemp("packages") / "function.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "")
    with running_emulator() as url:
        yield (f"aws_endpoint_url={url}", f"api_package_path={package}", f"worker_package_path={package}")


def plan_in(terraform: Terraform, workspace: str, variables: tuple[str, ...]) -> dict[str, Any]:
    terraform.run("workspace", "select", "-or-create", workspace)
    try:
        out = f"{workspace}.tfplan"
        terraform.run("plan", "-input=false", f"-out={out}", *(f"-var={v}" for v in variables))
        plan: dict[str, Any] = json.loads(terraform.run("show", "-json", out).stdout)
    finally:
        terraform.run("workspace", "select", "default")
    return plan


@pytest.fixture(scope="module")
def aws_plan(terraform: Terraform, variables: tuple[str, ...]) -> dict[str, Any]:
    return plan_in(terraform, "aws", variables)


def change(plan: dict[str, Any], address: str) -> dict[str, Any]:
    for resource in plan["resource_changes"]:
        if resource["address"] == address:
            return dict(resource["change"])
    raise AssertionError(f"{address} is not in the plan")


def test_the_aws_workspace_puts_cloudfront_in_front_of_the_bucket_and_the_api(aws_plan: dict[str, Any]) -> None:
    distribution = change(aws_plan, "aws_cloudfront_distribution.images[0]")
    assert distribution["actions"] == ["create"]
    planned = distribution["after"]
    origins = {origin["origin_id"]: origin for origin in planned["origin"]}
    assert set(origins) == {"images-bucket", "images-api"}
    # The bucket through Origin Access Control (no public read, no legacy identity)...
    assert distribution["after_unknown"]["origin"][[*origins].index("images-bucket")]["origin_access_control_id"]
    assert origins["images-bucket"]["s3_origin_config"] == []
    assert origins["images-bucket"]["origin_path"] == ""
    # ...then the API's stage, over https, for what the bucket does not hold yet.
    assert origins["images-api"]["origin_path"] == "/v1/images"
    (custom,) = origins["images-api"]["custom_origin_config"]
    assert (custom["origin_protocol_policy"], custom["origin_ssl_protocols"]) == ("https-only", ["TLSv1.2"])
    (group,) = planned["origin_group"]
    assert [member["origin_id"] for member in group["member"]] == ["images-bucket", "images-api"]
    assert group["failover_criteria"] == [{"status_codes": [403, 404]}]
    (behaviour,) = planned["default_cache_behavior"]
    assert behaviour["target_origin_id"] == group["origin_id"]
    assert behaviour["allowed_methods"] == behaviour["cached_methods"] == ["GET", "HEAD"]  # failover: GET/HEAD only
    assert behaviour["viewer_protocol_policy"] == "redirect-to-https"
    assert sorted(f["event_type"] for f in behaviour["function_association"]) == ["viewer-request", "viewer-response"]

    access_control = change(aws_plan, "aws_cloudfront_origin_access_control.images[0]")["after"]
    assert access_control["origin_access_control_origin_type"] == "s3"
    assert (access_control["signing_behavior"], access_control["signing_protocol"]) == ("always", "sigv4")


def test_the_cache_key_is_the_path_alone_and_the_origin_decides_how_long(aws_plan: dict[str, Any]) -> None:
    policy = change(aws_plan, "aws_cloudfront_cache_policy.images[0]")["after"]
    assert policy["min_ttl"] == 0  # the API's no-store redirects are never kept
    (key,) = policy["parameters_in_cache_key_and_forwarded_to_origin"]
    assert key["headers_config"][0]["header_behavior"] == "none"  # Accept is folded into the path
    assert key["cookies_config"][0]["cookie_behavior"] == "none"
    assert key["query_strings_config"][0]["query_string_behavior"] == "none"  # no parameter asks for a size


def test_the_function_deployed_is_the_one_the_node_tests_run(aws_plan: dict[str, Any]) -> None:
    function = change(aws_plan, "aws_cloudfront_function.images[0]")["after"]
    assert function["runtime"] == "cloudfront-js-2.0"
    assert function["publish"] is True
    assert function["code"] == rendered({})


def test_the_bucket_stays_private_and_only_the_distribution_may_read_images(aws_plan: dict[str, Any]) -> None:
    block = change(aws_plan, "aws_s3_bucket_public_access_block.images[0]")["after"]
    assert all(block[name] for name in ("block_public_acls", "block_public_policy", "ignore_public_acls"))
    assert block["restrict_public_buckets"] is True

    document = change(aws_plan, "data.aws_iam_policy_document.images_bucket[0]")
    statements = {statement["sid"]: statement for statement in document["after"]["statement"]}
    assert set(statements) == {"DenyInsecureTransport", "CloudFrontReadsImages"}
    reads = statements["CloudFrontReadsImages"]
    assert (reads["effect"], reads["actions"]) == ("Allow", ["s3:GetObject"])
    assert reads["principals"] == [{"type": "Service", "identifiers": ["cloudfront.amazonaws.com"]}]
    (condition,) = reads["condition"]
    assert (condition["test"], condition["variable"]) == ("StringEquals", "AWS:SourceArn")
    # One source: the distribution's ARN, known once it exists (the bucket's ARN in the resources likewise).
    index = [*statements].index("CloudFrontReadsImages")
    assert document["after_unknown"]["statement"][index]["condition"] == [{"values": [True]}]
    assert len(reads["resources"]) == 3  # results and renditions by extension: never .staging/ or .uploads/


def test_the_api_links_images_on_the_distribution(aws_plan: dict[str, Any]) -> None:
    """PUBLIC_IMAGE_BASE_URL comes from the distribution, so the API function waits for it: no cycle."""
    assert change(aws_plan, "aws_lambda_function.api[0]")["after_unknown"]["environment"] == [{"variables": True}]
    assert change(aws_plan, "aws_lambda_function.worker[0]")["after_unknown"].get("environment") != [
        {"variables": True}
    ]
    assert aws_plan["planned_values"]["outputs"]["cdn_domain_name"].get("value") is None
    assert "cdn_domain_name" in aws_plan["output_changes"]


def test_an_emulator_workspace_plans_no_cdn(terraform: Terraform, variables: tuple[str, ...]) -> None:
    """`localstack` (and `emulator`, the same rule): only the `aws` workspace defaults to the CDN."""
    plan = plan_in(terraform, "localstack", variables)
    addresses = [resource["address"] for resource in plan["resource_changes"]]
    assert not [address for address in addresses if "cloudfront" in address]
    environment = change(plan, "aws_lambda_function.api[0]")["after"]["environment"][0]["variables"]
    assert "PUBLIC_IMAGE_BASE_URL" not in environment
    statements = change(plan, "data.aws_iam_policy_document.images_bucket[0]")["after"]["statement"]
    assert [statement["sid"] for statement in statements] == ["DenyInsecureTransport"]


def test_enable_cdn_overrides_the_workspace_and_the_api_key_goes_to_the_api_origin(
    terraform: Terraform, variables: tuple[str, ...]
) -> None:
    """With enable_api_keys every API method needs the key, the image reads CloudFront makes included."""
    plan = plan_in(terraform, "localstack", (*variables, "enable_cdn=true", "enable_api_keys=true"))
    distribution = change(plan, "aws_cloudfront_distribution.images[0]")
    origins = {origin["origin_id"]: origin for origin in distribution["after"]["origin"]}
    assert origins["images-api"]["custom_header"] == [{"name": "x-api-key"}]  # its value: the key, sensitive
    assert origins["images-bucket"]["custom_header"] == []
