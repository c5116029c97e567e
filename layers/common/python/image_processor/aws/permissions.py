"""Permission errors from AWS are a misconfiguration (an IAM role or a bucket policy), never "not found".

Every client `clients.py` makes logs each refused call once, with the action and the resource it was
refused on, so an IAM regression shows in the logs as what it is; the stores answer it with a 503.
"""

from typing import Any

from aws_lambda_powertools import Logger

from ..observability import SERVICE_NAME

logger = Logger(service=SERVICE_NAME, child=True)

# Error codes AWS answers a caller its policies do not allow (S3 answers a HEAD with a bare 403).
PERMISSION_ERROR_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "Forbidden", "403", "AllAccessDisabled", "UnauthorizedOperation"}
)
# IAM actions that are not <service>:<operation>.
_ACTIONS = {
    "s3:HeadObject": "s3:GetObject",
    "s3:ListObjectsV2": "s3:ListBucket",
    "lambda:Invoke": "lambda:InvokeFunction",
}
_PARAMETERS = "image_processor.parameters"


def log_refused_calls(client: Any) -> None:
    """Register, on a boto3 client, a log line for every call its role or a resource policy refused."""
    events = client.meta.events
    events.register("before-parameter-build", _remember_parameters)
    events.register("after-call", _log_if_refused)


def _remember_parameters(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMETERS] = params


def _log_if_refused(parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    code = str(parsed.get("Error", {}).get("Code", ""))
    if code not in PERMISSION_ERROR_CODES:
        return
    service = model.service_model.signing_name
    call = f"{service}:{model.name}"
    logger.error(
        "AWS refused a call: misconfigured permissions (IAM role or resource policy)",
        extra={"action": _ACTIONS.get(call, call), "resource": _resource(context.get(_PARAMETERS) or {}), "code": code},
    )


def _resource(params: dict[str, Any]) -> str:
    if "Bucket" in params:
        return f"arn:aws:s3:::{params['Bucket']}" + (f"/{params['Key']}" if "Key" in params else "")
    if "TableName" in params:
        return f"table/{params['TableName']}"
    if "FunctionName" in params:
        return f"function:{params['FunctionName']}"
    return "unknown"
