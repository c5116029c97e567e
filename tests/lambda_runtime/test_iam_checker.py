"""The IAM checker itself, on policies written here: it must catch what the deployed-role proof relies on."""

from tests.support.lambda_runtime.iam import Arns, Request, denied, grants_of, requests_of, statements_of, unused

ARNS = Arns(partition="aws", region="us-east-1", account="123456789012")
RATE_LIMITS = "arn:aws:dynamodb:us-east-1:123456789012:table/product-image-processor-rate-limits"


def policy(*statements: dict[str, object]) -> dict[str, object]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def call(service: str, operation: str, **params: object) -> dict[str, object]:
    return {"service": service, "operation": operation, "params": params}


def test_the_rate_limiters_update_is_refused_by_a_policy_granting_only_get_and_put() -> None:
    """Issue defect 1, as terraform/iam.tf had it: the checker names the call the role does not allow."""
    granted = statements_of(
        policy(
            {
                "Sid": "RateLimitState",
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                "Resource": RATE_LIMITS,
            }
        ),
        "least-privilege",
    )
    update = requests_of(call("dynamodb", "UpdateItem", TableName="product-image-processor-rate-limits"), ARNS)
    assert [str(r) for r in denied(update, granted)] == [
        f"dynamodb:UpdateItem needs dynamodb:UpdateItem on {RATE_LIMITS}"
    ]
    # ...and the reverse check reports the two grants that call never needed.
    assert {g.action for g in unused(grants_of(granted), update)} == {"dynamodb:GetItem", "dynamodb:PutItem"}


def test_resources_are_matched_by_arn_with_wildcards() -> None:
    granted = statements_of(
        policy(
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"},
            {"Effect": "Allow", "Action": "dynamodb:*Item", "Resource": "arn:aws:dynamodb:*:*:table/jobs"},
        ),
        "p",
    )
    allowed = [
        *requests_of(call("s3", "HeadObject", Bucket="bucket", Key="P-1/a.jpg"), ARNS),
        *requests_of(call("dynamodb", "GetItem", TableName="jobs"), ARNS),
    ]
    assert denied(allowed, granted) == []
    refused = [
        *requests_of(call("s3", "GetObject", Bucket="other", Key="P-1/a.jpg"), ARNS),
        *requests_of(call("s3", "ListObjectsV2", Bucket="bucket"), ARNS),
        *requests_of(call("dynamodb", "GetItem", TableName="jobs-archive"), ARNS),
        *requests_of(call("dynamodb", "Query", TableName="jobs"), ARNS),
    ]
    assert denied(refused, granted) == refused


def test_an_explicit_deny_wins_and_not_action_is_honoured() -> None:
    granted = statements_of(
        policy(
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "arn:aws:s3:::bucket/*"},
        ),
        "p",
    )
    get = requests_of(call("s3", "GetObject", Bucket="bucket", Key="k"), ARNS)
    delete = requests_of(call("s3", "DeleteObject", Bucket="bucket", Key="k"), ARNS)
    assert denied(get, granted) == []
    assert denied(delete, granted) == delete


def test_calls_map_to_the_actions_iam_checks() -> None:
    transaction = call(
        "dynamodb",
        "TransactWriteItems",
        TransactItems=[{"Put": {"TableName": "jobs"}}, {"ConditionCheck": {"TableName": "uploads"}}],
    )
    assert [(r.action, r.resource.rsplit("/", 1)[-1]) for r in requests_of(transaction, ARNS)] == [
        ("dynamodb:PutItem", "jobs"),
        ("dynamodb:ConditionCheckItem", "uploads"),
    ]
    invoke = requests_of(call("lambda", "Invoke", FunctionName="worker", InvocationType="Event"), ARNS)
    assert invoke == [
        Request("lambda:InvokeFunction", "arn:aws:lambda:us-east-1:123456789012:function:worker", "lambda:Invoke")
    ]
    presigned = requests_of({**call("s3", "PresignedPost", Bucket="b", Key=".uploads/u1"), "presigned": True}, ARNS)
    assert [(r.action, r.resource) for r in presigned] == [("s3:PutObject", "arn:aws:s3:::b/.uploads/u1")]
    copy = requests_of(
        call("s3", "CopyObject", Bucket="b", Key="P/x.jpg", CopySource={"Bucket": "b", "Key": ".staging/x"}), ARNS
    )
    assert {(r.action, r.resource) for r in copy} == {
        ("s3:PutObject", "arn:aws:s3:::b/P/x.jpg"),
        ("s3:GetObject", "arn:aws:s3:::b/.staging/x"),
    }


def test_a_missing_key_answered_404_needs_list_bucket() -> None:
    """S3 answers 404 only to a role that may list the bucket (403 otherwise, which the store reports as a
    misconfiguration): a GET or HEAD the emulator answered 404 needs s3:ListBucket too."""
    head = {**call("s3", "HeadObject", Bucket="b", Key="P/missing.jpg"), "status": 404}
    found = {**call("s3", "HeadObject", Bucket="b", Key="P/x.jpg"), "status": 200}
    assert [(r.action, r.resource) for r in requests_of(head, ARNS)] == [
        ("s3:GetObject", "arn:aws:s3:::b/P/missing.jpg"),
        ("s3:ListBucket", "arn:aws:s3:::b"),
    ]
    assert [r.action for r in requests_of(found, ARNS)] == ["s3:GetObject"]
