"""Terraform on a private copy of terraform/, applied to an emulator (shared by the Terraform and Lambda tests).

The copy gets its own data dir and state, so a test never touches a developer's `.terraform` or
state. The copy's parent also links to the repository's build/, so the configuration's default
package paths (`<repository>/build/...`) find the zips `make package` made.
"""

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tools.plugin_dir import mirror_root
from tools.processes import REPO_ROOT

TERRAFORM = shutil.which("terraform")
TERRAFORM_DIR = REPO_ROOT / "terraform"
REGION = "us-east-1"


@dataclass(frozen=True)
class Terraform:
    workdir: Path
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 240, hint: str = "") -> subprocess.CompletedProcess[str]:
        assert TERRAFORM is not None
        result = subprocess.run(
            [TERRAFORM, f"-chdir={self.workdir}", *args, "-no-color"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, (
            f"terraform {args[0]} failed{hint}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
        return result

    def apply(self, *variables: str) -> dict[str, Any]:
        """Plan, apply that plan, and return the plan as JSON (what Terraform sent, before any read-back)."""
        self.run("plan", "-input=false", "-out=tfplan", *(f"-var={v}" for v in variables))
        plan: dict[str, Any] = json.loads(self.run("show", "-json", "tfplan").stdout)
        self.run("apply", "-input=false", "tfplan")
        return plan

    def destroy(self, *variables: str) -> None:
        self.run("destroy", "-auto-approve", "-input=false", "-refresh=false", *(f"-var={v}" for v in variables))

    def outputs(self) -> dict[str, Any]:
        return {name: value["value"] for name, value in json.loads(self.run("output", "-json").stdout).items()}

    def declares_variable(self, name: str) -> bool:
        return any(f'variable "{name}"' in path.read_text() for path in self.workdir.glob("*.tf"))


def _environment(data_dir: Path) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "TF_")) or name in ("TF_CLI_CONFIG_FILE", "TF_PLUGIN_CACHE_DIR")
    }
    return {
        **inherited,
        "TF_DATA_DIR": str(data_dir),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
    }


def initialised(root: Path) -> Terraform:
    """`terraform init` on a copy of terraform/ under `root` (offline provider mirror from TF_PLUGIN_DIR, if set)."""
    workdir = root / "terraform"
    shutil.copytree(TERRAFORM_DIR, workdir, ignore=shutil.ignore_patterns(".terraform", "terraform.tfstate*"))
    (root / "build").symlink_to(REPO_ROOT / "build", target_is_directory=True)
    tf = Terraform(workdir=workdir, env=_environment(root / "data"))
    plugin_dir = os.environ.get("TF_PLUGIN_DIR")
    offline_hint = "" if plugin_dir else " (without registry access, set TF_PLUGIN_DIR to a provider mirror)"
    tf.run(
        "init",
        "-input=false",
        *([f"-plugin-dir={mirror_root(plugin_dir)}"] if plugin_dir else []),
        hint=offline_hint,
    )
    return tf


def client(service: Any, endpoint: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )
