"""Which Terraform workspace `make deploy` and `make destroy` use, from AWS_ENDPOINT_URL.

Each endpoint kind keeps its own state, so LocalStack and AWS never share one:

- empty AWS_ENDPOINT_URL: real AWS, workspace `aws`;
- LocalStack (it answers `/_localstack/health`): workspace `localstack`; it runs the functions;
- any other emulator, such as the moto server `make run` starts: workspace `emulator`. It stores the
  tables, bucket, roles, queue and API, but cannot run a function, so the API URL would answer
  errors; this is said before anything is deployed.

Prints the workspace on stdout and any warning on stderr; exits non-zero if nothing answers.
"""

import argparse
import sys
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Target:
    workspace: str
    runs_functions: bool
    warning: str | None = None


def localstack_services(endpoint: str) -> dict[str, str] | None:
    """LocalStack's service states from its health endpoint, or None if the endpoint is not LocalStack."""
    try:
        response = httpx.get(f"{endpoint.rstrip('/')}/_localstack/health", timeout=3.0)
        body = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    services = body.get("services") if isinstance(body, dict) else None
    return services if isinstance(services, dict) else None


def answers(endpoint: str) -> bool:
    try:
        httpx.get(endpoint, timeout=3.0)
    except httpx.HTTPError:
        return False
    return True


def deploy_target(endpoint: str) -> Target:
    if not endpoint:
        return Target("aws", runs_functions=True)
    services = localstack_services(endpoint)
    if services is not None:
        missing = sorted(name for name in ("lambda", "s3", "apigateway") if services.get(name) in (None, "disabled"))
        if missing:
            return Target(
                "localstack",
                runs_functions=False,
                warning=f"LocalStack at {endpoint} does not run {', '.join(missing)}: add them to SERVICES "
                "(docker-compose.yml lists what the stack needs).",
            )
        return Target("localstack", runs_functions=True)
    if not answers(endpoint):
        raise SystemExit(
            f"Nothing answers at {endpoint}: start LocalStack first (`make up`),"
            " or set AWS_ENDPOINT_URL= to deploy to AWS."
        )
    return Target(
        "emulator",
        runs_functions=False,
        warning=f"{endpoint} is not LocalStack (no /_localstack/health), so it cannot run Lambda functions: "
        "the tables, bucket, roles, queue and API are deployed, but the API URL will answer errors. "
        "Run `make up` and deploy to LocalStack to invoke them.",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("endpoint", help="AWS_ENDPOINT_URL; empty for AWS")
    parser.add_argument("--quiet", action="store_true", help="print the workspace only, no warning")
    args = parser.parse_args()
    target = deploy_target(args.endpoint)
    if target.warning and not args.quiet:
        print(f"Note: {target.warning}", file=sys.stderr)
    print(target.workspace)


if __name__ == "__main__":
    main()
