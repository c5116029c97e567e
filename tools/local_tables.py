"""The DynamoDB tables the service expects. terraform/dynamodb.tf defines the same; a test checks they agree."""

from typing import Any

from image_processor.settings import Settings

TABLE_SCHEMAS: dict[str, dict[str, Any]] = {
    "rate_limit": {"key": "ip_address", "ttl": "expires_at"},
    "jobs": {"key": "image_id", "ttl": "expires_at"},
    "idempotency": {"key": "id", "ttl": "expiration"},
}


def create_tables(client: Any, names: dict[str, str]) -> None:
    for role, name in names.items():
        schema = TABLE_SCHEMAS[role]
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": schema["key"], "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": schema["key"], "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema["ttl"]}
        )


def default_table_names() -> dict[str, str]:
    settings = Settings()
    return {
        "rate_limit": settings.rate_limit_table,
        "jobs": settings.jobs_table,
        "idempotency": settings.idempotency_table,
    }


def create_missing_tables(client: Any) -> None:
    # ListTables answers 100 names a page; an account (or a shared emulator) may hold more.
    existing = {name for page in client.get_paginator("list_tables").paginate() for name in page["TableNames"]}
    create_tables(client, {role: name for role, name in default_table_names().items() if name not in existing})
