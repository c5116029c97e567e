import uuid
from typing import Any

import pytest

from tools.create_tables import main
from tools.local_tables import TABLE_SCHEMAS, key_schema

SETTING_FOR_ROLE = {
    "rate_limit": "RATE_LIMIT_TABLE",
    "jobs": "JOBS_TABLE",
    "idempotency": "IDEMPOTENCY_TABLE",
    "catalog": "CATALOG_TABLE",
}


def test_creates_the_tables_the_settings_name_and_a_second_run_changes_nothing(
    aws_endpoint: str, dynamodb: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    suffix = uuid.uuid4().hex[:8]
    names = {role: f"compose-{role}-{suffix}" for role in SETTING_FOR_ROLE}
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    for role, setting in SETTING_FOR_ROLE.items():
        monkeypatch.setenv(setting, names[role])

    main()
    main()

    for role, name in names.items():
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["TableStatus"] == "ACTIVE"
        assert table["KeySchema"] == key_schema(TABLE_SCHEMAS[role])["KeySchema"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": TABLE_SCHEMAS[role]["ttl"]}
    assert capsys.readouterr().out.count("DynamoDB tables ready") == 2
