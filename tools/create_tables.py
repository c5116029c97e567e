"""`python -m tools.create_tables`: create the service's DynamoDB tables at AWS_ENDPOINT_URL unless they exist.

docker compose runs it once before the API starts (its `tables` service). The names are the settings the
API reads (RATE_LIMIT_TABLE, JOBS_TABLE, IDEMPOTENCY_TABLE,
CATALOG_TABLE); the schemas are those of tools/local_tables.py.
"""

from image_processor.aws import clients as aws
from image_processor.settings import Settings
from tools.local_tables import create_missing_tables, default_table_names


def main() -> None:
    settings = Settings()
    client = aws.client("dynamodb", settings)
    create_missing_tables(client)
    names = list(default_table_names().values())
    waiter = client.get_waiter("table_exists")
    for name in names:
        waiter.wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    print(f"DynamoDB tables ready at {settings.aws_endpoint_url or 'AWS'}: {', '.join(names)}")


if __name__ == "__main__":
    main()
