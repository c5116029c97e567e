"""The DynamoDB tables the service expects. terraform/dynamodb.tf defines the same; a test checks they agree."""

from typing import Any

from image_processor.settings import Settings

TABLE_SCHEMAS: dict[str, dict[str, Any]] = {
    "rate_limit": {"key": "ip_address", "ttl": "expires_at"},
    # A sparse global index of the jobs whose webhook waits for a retry (a restart reschedules them).
    "jobs": {"key": "image_id", "ttl": "expires_at", "sparse_index": ("pending_webhooks", "webhook_next_attempt_at")},
    "idempotency": {"key": "id", "ttl": "expiration"},
    # Keyed by product and image; the local secondary index lists a product's images newest first.
    "catalog": {
        "key": "product_id",
        "range": "image_id",
        "ttl": "expires_at",
        "time_index": ("newest_first", "created_at"),
    },
}


def create_tables(client: Any, names: dict[str, str]) -> None:
    for role, name in names.items():
        schema = TABLE_SCHEMAS[role]
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **key_schema(schema))
        client.update_time_to_live(
            TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": schema["ttl"]}
        )


def key_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """CreateTable's key arguments for one of TABLE_SCHEMAS."""
    keys = [{"AttributeName": schema["key"], "KeyType": "HASH"}]
    attributes = [{"AttributeName": schema["key"], "AttributeType": "S"}]
    if "range" in schema:
        keys.append({"AttributeName": schema["range"], "KeyType": "RANGE"})
        attributes.append({"AttributeName": schema["range"], "AttributeType": "S"})
    arguments: dict[str, Any] = {"KeySchema": keys, "AttributeDefinitions": attributes}
    if "time_index" in schema:
        index, sort = schema["time_index"]
        attributes.append({"AttributeName": sort, "AttributeType": "N"})
        arguments["LocalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": [keys[0], {"AttributeName": sort, "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    if "sparse_index" in schema:
        index, key = schema["sparse_index"]
        attributes.append({"AttributeName": key, "AttributeType": "N"})
        arguments["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index,
                "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ]
    return arguments


# Suffix of each table's name after the prefix (terraform/dynamodb.tf: "${var.name_prefix}-<suffix>").
TABLE_SUFFIXES = {"rate_limit": "rate-limits", "jobs": "jobs", "idempotency": "idempotency", "catalog": "catalog"}
TABLE_SETTINGS = {
    "rate_limit": "RATE_LIMIT_TABLE",
    "jobs": "JOBS_TABLE",
    "idempotency": "IDEMPOTENCY_TABLE",
    "catalog": "CATALOG_TABLE",
}
# `make run`'s tables. The service's defaults are the names `make deploy` gives its tables, so the two
# sets can live in one emulator without clashing.
LOCAL_NAME_PREFIX = "product-image-processor-local"


def table_names(prefix: str) -> dict[str, str]:
    return {role: f"{prefix}-{suffix}" for role, suffix in TABLE_SUFFIXES.items()}


def name_prefix_of(names: dict[str, str]) -> str | None:
    """The Terraform name_prefix that yields exactly `names`, or None if no prefix does."""
    prefix = names["rate_limit"].removesuffix(f"-{TABLE_SUFFIXES['rate_limit']}")
    return prefix if table_names(prefix) == names else None


def default_table_names() -> dict[str, str]:
    settings = Settings()
    return {
        "rate_limit": settings.rate_limit_table,
        "jobs": settings.jobs_table,
        "idempotency": settings.idempotency_table,
        "catalog": settings.catalog_table,
    }


def create_missing_tables(client: Any) -> None:
    # ListTables answers 100 names a page; an account (or a shared emulator) may hold more.
    existing = {name for page in client.get_paginator("list_tables").paginate() for name in page["TableNames"]}
    create_tables(client, {role: name for role, name in default_table_names().items() if name not in existing})
