"""`make run`: the service on uvicorn, with local AWS (tables included) ready before it starts.

If nothing answers at AWS_ENDPOINT_URL, an emulator (moto's server) is started there and stopped
again on exit; if LocalStack or another `make run` already answers, it is shared, so rate-limit
state is shared too. The tables are provisioned with the project's Terraform (tables only), or
with boto3 from the same schema when Terraform is not installed.
"""

import argparse
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import boto3
import httpx

from image_processor.settings import Settings
from tools.local_tables import (
    LOCAL_NAME_PREFIX,
    TABLE_SETTINGS,
    create_missing_tables,
    default_table_names,
    name_prefix_of,
    table_names,
)
from tools.plugin_dir import NotAProviderMirror, mirror_root
from tools.processes import child_process, wait_until_up

REPO_ROOT = Path(__file__).resolve().parents[1]
TERRAFORM_DIR = REPO_ROOT / "terraform"


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=1.0)
    except httpx.TransportError:
        return False
    return True


class ProvisioningFailed(Exception):
    """A Terraform command failed; the message is its own last words."""


def run_terraform(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise ProvisioningFailed(f"`terraform {args[2]}` failed: {first_error(result.stderr, result.returncode)}")


def first_error(stderr: str, returncode: int) -> str:
    """Terraform's first `Error:` paragraph, on one line."""
    lines = [line.strip() for line in stderr.splitlines()]
    starts = [index for index, line in enumerate(lines) if line.startswith("Error:")]
    if not starts:
        return " ".join(" ".join(lines).split())[-300:] or f"exit status {returncode}"
    paragraph: list[str] = []
    for line in lines[starts[0] :]:
        if not line and paragraph[1:]:
            break
        paragraph.append(line)
    return " ".join(" ".join(paragraph).split())[:400]


def use_local_table_names() -> None:
    """Name `make run`'s tables apart from `make deploy`'s (the service's defaults), unless set already."""
    for role, name in table_names(LOCAL_NAME_PREFIX).items():
        os.environ.setdefault(TABLE_SETTINGS[role], name)


def provision_with_terraform(endpoint: str, plugin_dir: str | None) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        raise ProvisioningFailed("Terraform is not installed")
    prefix = name_prefix_of(default_table_names())
    if prefix is None:
        raise ProvisioningFailed("the table names set in the environment do not share one Terraform name_prefix")
    chdir = f"-chdir={TERRAFORM_DIR}"
    env = {key: value for key, value in os.environ.items() if key != "TF_WORKSPACE"} | {"TF_IN_AUTOMATION": "1"}
    init = [terraform, chdir, "init", "-input=false", "-no-color"]
    if plugin_dir:
        try:
            init.append(f"-plugin-dir={mirror_root(plugin_dir)}")
        except NotAProviderMirror as exc:
            raise ProvisioningFailed(str(exc)) from exc
    run_terraform(init, env)
    run_terraform([terraform, chdir, "workspace", "select", "-or-create", "local-run"], env)
    apply = [terraform, chdir, "apply", "-auto-approve", "-input=false", "-no-color", "-var=create_functions=false"]
    apply.append(f"-var=name_prefix={prefix}")
    run_terraform([*apply, f"-var=aws_endpoint_url={endpoint}"], env | {"TF_WORKSPACE": "local-run"})


def provision_with_boto3(endpoint: str) -> None:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name=os.environ["AWS_DEFAULT_REGION"])
    create_missing_tables(client)


def provision_tables(mode: str, endpoint: str, plugin_dir: str | None) -> str:
    """Create the tables the service needs; returns how. `auto` falls back to boto3 when Terraform cannot."""
    if mode == "boto3" or (mode == "auto" and shutil.which("terraform") is None):
        provision_with_boto3(endpoint)
        return "boto3"
    try:
        provision_with_terraform(endpoint, plugin_dir)
    except ProvisioningFailed as exc:
        if mode == "terraform":
            raise SystemExit(f"Could not provision the tables with Terraform: {exc}") from None
        print(
            f"Terraform could not provision the tables ({exc}); creating them with boto3 from the same schema."
            " Set TF_PLUGIN_DIR to an offline provider mirror, or LOCAL_TABLES=terraform to insist.",
            file=sys.stderr,
        )
        provision_with_boto3(endpoint)
        return "boto3"
    return "terraform"


def provision_bucket(endpoint: str) -> str | None:
    """With STORAGE_BACKEND=s3, the S3_BUCKET the service stores into, created if missing."""
    settings = Settings()
    if settings.storage_backend != "s3" or settings.s3_bucket is None:
        return None
    client = boto3.client("s3", endpoint_url=endpoint, region_name=os.environ["AWS_DEFAULT_REGION"])
    try:
        client.head_bucket(Bucket=settings.s3_bucket)
    except client.exceptions.ClientError:
        client.create_bucket(Bucket=settings.s3_bucket)
    return settings.s3_bucket


def development_api_key() -> str | None:
    """Without API_KEYS (or API_KEYS_FILE), generate a key and turn keys on with it, so that DELETE (which
    always needs one) works locally; returns it to be printed. With keys set already, None."""
    if os.environ.get("API_KEYS") or os.environ.get("API_KEYS_FILE"):
        return None
    key = secrets.token_urlsafe(24)  # 32 characters
    os.environ["API_KEYS"] = key
    return key


def exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM ends the program like Ctrl-C does: by unwinding, so the emulator started here is stopped.

    uvicorn catches SIGTERM while it serves, shuts down, then raises the signal again; by then this
    handler is back in place, so the re-raised signal unwinds too instead of killing the process."""
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
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
    use_local_table_names()
    os.environ.setdefault("PROCESSED_IMAGES_DIR", str(REPO_ROOT / "processed_images"))

    with contextlib.ExitStack() as stack:
        if not answers(args.aws_endpoint):
            stack.enter_context(start_emulator(args.aws_endpoint))
        print(f"Provisioning the tables at {args.aws_endpoint} ({args.tables})", file=sys.stderr)
        how = provision_tables(args.tables, args.aws_endpoint, args.tf_plugin_dir or None)
        print(f"Tables ready (provisioned with {how})", file=sys.stderr)
        if bucket := provision_bucket(args.aws_endpoint):
            print(f"Storing images in the bucket {bucket} at {args.aws_endpoint}", file=sys.stderr)
        if key := development_api_key():
            print(f"Development API key (send it as X-API-Key, or paste it into the studio): {key}", file=sys.stderr)
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
