"""`make run`: the service on uvicorn, with local AWS (tables included) ready before it starts.

If nothing answers at AWS_ENDPOINT_URL, an emulator (moto's server) is started there and stopped
again on exit; if LocalStack or another `make run` already answers, it is shared, so rate-limit
state is shared too. The tables are provisioned with the project's Terraform (tables only), or
with boto3 from the same schema when Terraform is not installed.
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import boto3
import httpx

from tools.local_tables import create_missing_tables
from tools.processes import child_process, wait_until_up

REPO_ROOT = Path(__file__).resolve().parents[1]
TERRAFORM_DIR = REPO_ROOT / "terraform"


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1.0)
    except httpx.TransportError:
        return False
    return True


def provision_with_terraform(endpoint: str, plugin_dir: str | None) -> None:
    terraform = shutil.which("terraform")
    assert terraform is not None
    init = [terraform, f"-chdir={TERRAFORM_DIR}", "init", "-input=false", "-no-color"]
    if plugin_dir:
        init.append(f"-plugin-dir={plugin_dir}")
    env = {**os.environ, "TF_WORKSPACE": "local-run", "TF_IN_AUTOMATION": "1"}
    subprocess.run(init, check=True, env=env | {"TF_WORKSPACE": "default"}, stdout=subprocess.DEVNULL)  # noqa: S603
    subprocess.run(  # noqa: S603
        [terraform, f"-chdir={TERRAFORM_DIR}", "workspace", "select", "-or-create", "local-run"],
        check=True,
        env={key: value for key, value in env.items() if key != "TF_WORKSPACE"},
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(  # noqa: S603
        [
            terraform,
            f"-chdir={TERRAFORM_DIR}",
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "-var=create_functions=false",
            f"-var=aws_endpoint_url={endpoint}",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def provision_with_boto3(endpoint: str) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=os.environ["AWS_DEFAULT_REGION"])
    create_missing_tables(client)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    parser.add_argument("--aws-endpoint", default="http://127.0.0.1:4566")
    parser.add_argument("--tables", choices=["auto", "terraform", "boto3"], default="auto")
    parser.add_argument("--tf-plugin-dir", default="")
    args = parser.parse_args()

    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    os.environ["AWS_ENDPOINT_URL"] = args.aws_endpoint
    os.environ.setdefault("PROCESSED_IMAGES_DIR", str(REPO_ROOT / "processed_images"))

    with contextlib.ExitStack() as stack:
        if not answers(args.aws_endpoint):
            stack.enter_context(start_emulator(args.aws_endpoint))
        if args.tables == "terraform" or (args.tables == "auto" and shutil.which("terraform")):
            print("Provisioning the tables with Terraform", file=sys.stderr)
            provision_with_terraform(args.aws_endpoint, args.tf_plugin_dir or None)
        else:
            reason = "as asked" if args.tables == "boto3" else "Terraform is not installed"
            print(f"Creating the tables with boto3 ({reason})", file=sys.stderr)
            provision_with_boto3(args.aws_endpoint)
        os.environ["HOST"], os.environ["PORT"] = args.host, str(args.port)
        from local_server import main as serve

        serve()


@contextlib.contextmanager
def start_emulator(url: str) -> Iterator[None]:
    print(f"Starting a local AWS emulator at {url}", file=sys.stderr)
    endpoint = urlparse(url)
    log = REPO_ROOT / ".run" / "aws-emulator.log"
    log.parent.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "tools.aws_emulator", "--host", endpoint.hostname or "127.0.0.1"]
    command += ["--port", str(endpoint.port or 4566)]
    with child_process(command, log=log) as process:
        wait_until_up(url, process=process)
        yield


if __name__ == "__main__":
    main()
