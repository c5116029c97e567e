"""Recorded AWS calls as IAM requests (action and resource ARN), checked against a role's policies.

Neither moto nor LocalStack scopes IAM by resource, so this evaluates the role's identity policies
itself: an explicit Deny wins, otherwise some Allow statement must match both the action and the
resource (`*` and `?` wildcards; actions case-insensitive). Conditions are not evaluated, so a
statement with one counts as matching: the check can only miss a denial, never invent one.

S3 tells a caller that a key is missing (404) only if it may list the bucket; to a role without
`s3:ListBucket` it answers 403, as for a refused read. So a GET or HEAD that the emulator answered
404 also needs `s3:ListBucket` on the bucket.
"""

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

# DynamoDB transactions are authorised per item, by the action each item stands for.
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# S3 operations whose IAM action is not s3:<Operation>.
_S3_ACTIONS = {
    "HeadObject": "GetObject",
    "GetObject": "GetObject",
    "PutObject": "PutObject",
    "PresignedPost": "PutObject",
    "DeleteObject": "DeleteObject",
    "DeleteObjects": "DeleteObject",
    "ListObjectsV2": "ListBucket",
    "ListObjects": "ListBucket",
    "HeadBucket": "ListBucket",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "AbortMultipartUpload": "AbortMultipartUpload",
    "GetObjectTagging": "GetObjectTagging",
    "PutObjectTagging": "PutObjectTagging",
}

_MISSING_KEY_NEEDS_LIST = frozenset({"GetObject", "HeadObject"})


@dataclass(frozen=True)
class Request:
    """One authorisation a call needs."""

    action: str
    resource: str
    call: str

    def __str__(self) -> str:
        return f"{self.call} needs {self.action} on {self.resource}"


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    sid: str
    policy: str

    def matches(self, request: Request) -> bool:
        return self.matches_action(request.action) and self.matches_resource(request.resource)

    def matches_action(self, action: str) -> bool:
        if self.not_actions:
            return not any(_wildcard(action.lower(), pattern.lower()) for pattern in self.not_actions)
        return any(_wildcard(action.lower(), pattern.lower()) for pattern in self.actions)

    def matches_resource(self, resource: str) -> bool:
        if self.not_resources:
            return not any(_wildcard(resource, pattern) for pattern in self.not_resources)
        return any(_wildcard(resource, pattern) for pattern in self.resources)

    def label(self) -> str:
        return f"{self.policy}/{self.sid or '(no Sid)'}"


@dataclass(frozen=True)
class Arns:
    """How names become ARNs in the deployed account and region."""

    partition: str
    region: str
    account: str

    def table(self, name: str) -> str:
        return (
            name
            if name.startswith("arn:")
            else f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{name}"
        )

    def function(self, name: str) -> str:
        if name.startswith("arn:"):
            return name
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{name}"

    def bucket(self, name: str) -> str:
        return f"arn:{self.partition}:s3:::{name}"

    def object(self, bucket: str, key: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket}/{key}"

    def queue(self, url_or_arn: str) -> str:
        if url_or_arn.startswith("arn:"):
            return url_or_arn
        name = url_or_arn.rstrip("/").rsplit("/", 1)[-1]
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{name}"


def requests_of(call: dict[str, Any], arns: Arns) -> list[Request]:
    """The IAM requests one recorded call makes; raises for a call this module cannot map yet."""
    service, operation, params = call["service"], call["operation"], call["params"]
    label = f"{service}:{operation}" + (" (presigned)" if call.get("presigned") else "")
    if service == "dynamodb":
        if operation == "TransactWriteItems" or operation == "TransactGetItems":
            return [
                Request(f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}", arns.table(body["TableName"]), label)
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [Request(f"dynamodb:{operation}", arns.table(name), label) for name in params["RequestItems"]]
        table = arns.table(params["TableName"])
        if operation in ("Query", "Scan") and "IndexName" in params:
            return [Request(f"dynamodb:{operation}", f"{table}/index/{params['IndexName']}", label)]
        return [Request(f"dynamodb:{operation}", table, label)]
    if service == "lambda" and operation in ("Invoke", "InvokeAsync"):
        return [Request("lambda:InvokeFunction", arns.function(params["FunctionName"]), label)]
    if service == "s3":
        if operation == "CopyObject":
            return [
                Request("s3:PutObject", arns.object(params["Bucket"], params["Key"]), label),
                Request("s3:GetObject", _copy_source(params["CopySource"], arns), label),
            ]
        action = _S3_ACTIONS.get(operation)
        if action is None:
            raise LookupError(f"no IAM mapping for s3:{operation}: add it to tests/support/lambda_runtime/iam.py")
        if operation == "DeleteObjects":
            bucket = params["Bucket"]
            return [Request(f"s3:{action}", arns.object(bucket, o["Key"]), label) for o in params["Delete"]["Objects"]]
        if "Key" in params:
            request = Request(f"s3:{action}", arns.object(params["Bucket"], params["Key"]), label)
            if operation in _MISSING_KEY_NEEDS_LIST and call.get("status") == 404:
                return [request, Request("s3:ListBucket", arns.bucket(params["Bucket"]), f"{label} (404)")]
            return [request]
        return [Request(f"s3:{action}", arns.bucket(params["Bucket"]), label)]
    if service == "sqs":
        return [Request(f"sqs:{operation}", arns.queue(params.get("QueueUrl") or params["QueueName"]), label)]
    raise LookupError(f"no IAM mapping for {label}: add it to tests/support/lambda_runtime/iam.py")


def _copy_source(source: Any, arns: Arns) -> str:
    if isinstance(source, dict):
        return arns.object(source["Bucket"], source["Key"])
    bucket, _, key = unquote(str(source)).lstrip("/").partition("/")
    return arns.object(bucket, key.split("?")[0])


def statements_of(document: Any, policy: str) -> list[Statement]:
    if isinstance(document, str):
        document = json.loads(unquote(document) if document.startswith("%7B") else document)
    raw = document.get("Statement", [])
    return [
        Statement(
            effect=item["Effect"],
            actions=_tuple(item.get("Action")),
            not_actions=_tuple(item.get("NotAction")),
            resources=_tuple(item.get("Resource")),
            not_resources=_tuple(item.get("NotResource")),
            sid=item.get("Sid", ""),
            policy=policy,
        )
        for item in ([raw] if isinstance(raw, dict) else raw)
    ]


def role_statements(iam: Any, role_name: str) -> list[Statement]:
    """Every statement of the role's inline and attached (default version) policies, as the emulator holds them."""
    statements: list[Statement] = []
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        statements += statements_of(document, name)
    for attached in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]:
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        version = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=policy["DefaultVersionId"])
        statements += statements_of(version["PolicyVersion"]["Document"], attached["PolicyName"])
    return statements


def denied(requests: Iterable[Request], statements: list[Statement]) -> list[Request]:
    """The requests the statements do not allow (implicitly or by an explicit Deny)."""
    return [request for request in requests if not _allowed(request, statements)]


def _allowed(request: Request, statements: list[Statement]) -> bool:
    if any(s.effect == "Deny" and s.matches(request) for s in statements):
        return False
    return any(s.effect == "Allow" and s.matches(request) for s in statements)


@dataclass(frozen=True)
class Grant:
    """One action on one resource pattern that an Allow statement grants."""

    action: str
    resource: str
    statement: str

    def __str__(self) -> str:
        return f"{self.action} on {self.resource} ({self.statement})"


def grants_of(statements: list[Statement]) -> list[Grant]:
    return [
        Grant(action, resource, s.label())
        for s in statements
        if s.effect == "Allow"
        for action in s.actions
        for resource in s.resources
    ]


def unused(grants: Iterable[Grant], requests: Iterable[Request]) -> list[Grant]:
    """The grants no request needed."""
    made = list(requests)
    return [
        grant
        for grant in grants
        if not any(
            _wildcard(r.action.lower(), grant.action.lower()) and _wildcard(r.resource, grant.resource) for r in made
        )
    ]


def _wildcard(value: str, pattern: str) -> bool:
    # IAM's wildcards are * (any run, across / and :) and ?; fnmatch's [] sets do not exist in IAM.
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _tuple(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)
