"""The Makefile reports failure: a missing tool stops it with one sentence, a failing step fails `make`.

Docker and Terraform are replaced by small scripts (or left off PATH), so nothing here builds,
starts or deploys anything.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.processes import REPO_ROOT, SERVER_ALLOCATOR_ENV

MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

WORKFLOW_TARGETS = ["help", "install", "run", "test", "test-fast", "lint", "fmt", "build", "up", "down", "logs"]
WORKFLOW_TARGETS += ["deploy", "destroy", "bench", "clean"]


def run_make(*arguments: str, path: str | None = None, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAKE", "LOCALSTACK_"))}
    env.update(environment)
    if path is not None:
        env["PATH"] = path
    assert MAKE is not None
    return subprocess.run(
        [MAKE, "--no-print-directory", "-C", str(REPO_ROOT), *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def fake_tool(folder: Path, name: str, script: str) -> Path:
    """An executable `name` in `folder` that logs its arguments to `name`.log, then runs `script`."""
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f'#!/bin/sh\necho "$*" >> "{folder / name}.log"\n{script}\n')
    tool.chmod(0o755)
    return tool


def calls(tool: Path) -> list[str]:
    log = tool.with_name(tool.name + ".log")
    return log.read_text().splitlines() if log.exists() else []


def own_messages(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr without make's own `make: *** ... Error` lines."""
    return [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("make")]


def bare_path(folder: Path) -> str:
    """A PATH with the shell and what the Makefile itself runs while reading, and no docker or terraform."""
    folder.mkdir(exist_ok=True)
    for tool in ("bash", "find"):
        found = shutil.which(tool)
        assert found is not None
        (folder / tool).symlink_to(found)
    return str(folder)


def test_help_lists_every_target_of_the_developer_workflow() -> None:
    result = run_make("help")
    listed = {re.sub(r"\x1b\[[0-9;]*m", "", line).split()[0] for line in result.stdout.splitlines() if line.strip()}

    assert result.returncode == 0
    assert set(WORKFLOW_TARGETS) <= listed, set(WORKFLOW_TARGETS) - listed


def test_help_is_the_default_goal() -> None:
    assert run_make().stdout == run_make("help").stdout


def test_build_without_docker_stops_with_one_sentence_saying_what_to_install(tmp_path: Path) -> None:
    """Audit 26: a missing tool stops make with one sentence saying what to install."""
    result = run_make("build", path=bare_path(tmp_path / "bin"))

    assert result.returncode != 0
    assert own_messages(result) == [
        "Docker is not installed: get Docker Engine or Docker Desktop from https://docs.docker.com/get-docker/ "
        "(or set DOCKER=/path/to/docker)."
    ]


def test_build_fails_when_the_docker_on_path_fails(tmp_path: Path) -> None:
    """Audit 26: the prototype Makefile did not report failure reliably."""
    docker = fake_tool(tmp_path / "bin", "docker", "exit 3")

    result = run_make("build", path=f"{docker.parent}:{os.environ['PATH']}")

    assert result.returncode != 0
    assert calls(docker) == ["build --tag product-image-processor:local ."]


def test_compose_targets_without_the_compose_plugin_stop_with_one_sentence(tmp_path: Path) -> None:
    docker = fake_tool(tmp_path / "bin", "docker", "exit 1")

    for target in ("up", "down", "logs"):
        result = run_make(target, DOCKER=str(docker), LOCALSTACK_AUTH_TOKEN="unused")

        assert result.returncode != 0
        assert own_messages(result) == [
            "Docker Compose v2 is not installed: add the compose plugin, see https://docs.docker.com/compose/install/."
        ]
    assert set(calls(docker)) == {"compose version"}


def test_up_without_a_localstack_token_stops_before_starting_anything(tmp_path: Path) -> None:
    docker = fake_tool(tmp_path / "bin", "docker", "exit 0")

    result = run_make("up", DOCKER=str(docker))

    assert result.returncode != 0
    (message,) = own_messages(result)
    assert message.startswith("LOCALSTACK_AUTH_TOKEN is not set:")
    assert "make run" in message
    assert calls(docker) == ["compose version"]


def test_up_fails_when_compose_fails(tmp_path: Path) -> None:
    docker = fake_tool(tmp_path / "bin", "docker", '[ "$1 $2" = "compose version" ] || exit 1')

    result = run_make("up", DOCKER=str(docker), LOCALSTACK_AUTH_TOKEN="unused")

    assert result.returncode != 0
    assert calls(docker) == ["compose version", "compose up --detach --build --wait"]
    assert "API:" not in result.stdout


def test_deploy_without_terraform_stops_with_one_sentence_before_building_anything(tmp_path: Path) -> None:
    result = run_make("deploy", TERRAFORM=str(tmp_path / "no-terraform"))

    assert result.returncode != 0
    assert own_messages(result) == [
        "Terraform is not installed: get it from https://developer.hashicorp.com/terraform/install "
        "(or set TERRAFORM=/path/to/terraform)."
    ]


def test_deploy_fails_when_terraform_fails(tmp_path: Path) -> None:
    """Audit 26: a failing step makes make exit non-zero."""
    terraform = fake_tool(tmp_path / "bin", "terraform", "exit 1")

    # -o: take the Lambda zips as built, so the test needs neither pip nor the network.
    result = run_make("deploy", "-o", "package", TERRAFORM=str(terraform), AWS_ENDPOINT_URL="")

    assert result.returncode != 0
    assert [call.split()[1] for call in calls(terraform)] == ["init"]
    assert "API URL" not in result.stdout


def test_destroy_fails_when_terraform_fails(tmp_path: Path) -> None:
    terraform = fake_tool(tmp_path / "bin", "terraform", "exit 1")

    result = run_make("destroy", TERRAFORM=str(terraform), AWS_ENDPOINT_URL="")

    assert result.returncode != 0
    assert [call.split()[1] for call in calls(terraform)] == ["init"]


def test_tf_plugin_dir_may_name_the_mirror_or_a_folder_inside_it(tmp_path: Path) -> None:
    """Issue 12: `terraform init` gets the mirror's root whichever of its folders TF_PLUGIN_DIR names."""
    root = tmp_path / "mirror"
    provider = root / "registry.terraform.io" / "hashicorp" / "aws"
    provider.mkdir(parents=True)
    for given in (root, root / "registry.terraform.io", provider):
        result = run_make("-n", "destroy", f"TF_PLUGIN_DIR={given}", "TERRAFORM=terraform")
        assert result.returncode == 0, result.stderr
        assert f"init -input=false -plugin-dir={root.resolve()}\n" in result.stdout


def test_a_wrong_tf_plugin_dir_says_which_folder_is_meant(tmp_path: Path) -> None:
    result = run_make("-n", "destroy", f"TF_PLUGIN_DIR={tmp_path}", "TERRAFORM=terraform")
    assert result.returncode != 0
    assert "the folder that holds registry.terraform.io/hashicorp/aws" in result.stderr


def test_deploy_to_aws_uses_its_own_workspace(tmp_path: Path) -> None:
    """Issue 10: LocalStack and AWS shared the `default` workspace, so one state."""
    terraform = fake_tool(tmp_path / "bin", "terraform", 'case "$*" in *output*) echo https://api.example;; esac')

    result = run_make("deploy", "-o", "package", TERRAFORM=str(terraform), AWS_ENDPOINT_URL="")

    assert result.returncode == 0, result.stderr
    assert [call.split()[1:4] for call in calls(terraform)][1:] == [
        ["workspace", "select", "-or-create"],
        ["apply", "-auto-approve", "-input=false"],
        ["output", "-raw", "api_url"],
    ]
    assert calls(terraform)[1].endswith("-or-create aws")
    assert "API URL: https://api.example" in result.stdout


def test_deploy_to_an_endpoint_where_nothing_answers_stops_before_terraform(tmp_path: Path) -> None:
    terraform = fake_tool(tmp_path / "bin", "terraform", "exit 0")

    result = run_make("deploy", "-o", "package", TERRAFORM=str(terraform), AWS_ENDPOINT_URL="http://127.0.0.1:9")

    assert result.returncode != 0
    assert calls(terraform) == []
    assert own_messages(result)[-1].startswith("Nothing answers at http://127.0.0.1:9:")


def test_make_run_gives_the_server_the_containers_allocator_setting() -> None:
    """Issue 11: the 50-upload memory figure is measured with the allocator setting the image sets."""
    result = run_make("--dry-run", "run")
    (command,) = [line for line in result.stdout.splitlines() if "tools.dev_server" in line]

    for name, value in SERVER_ALLOCATOR_ENV.items():
        assert f"{name}={value} " in command


def test_make_bench_hands_the_provider_mirror_to_the_cold_start_phase(tmp_path: Path) -> None:
    """The bench deploys the functions with Terraform; offline it needs the mirror `make test` gets too."""
    mirror = tmp_path / "mirror"
    (mirror / "registry.terraform.io").mkdir(parents=True)
    result = run_make("--dry-run", "bench", f"TF_PLUGIN_DIR={mirror}")
    (command,) = [line for line in result.stdout.splitlines() if "-m bench" in line]

    assert f'TF_PLUGIN_DIR="{mirror}"' in command


def pytest_command(target: str) -> tuple[list[str], str]:
    """What `make <target>` would run (dry run), and its one pytest command."""
    lines = run_make("--dry-run", target).stdout.splitlines()
    (command,) = [line for line in lines if " -m pytest" in line]
    return lines, command


def test_make_test_runs_the_whole_suite_and_names_the_slowest_tests() -> None:
    """Issue 20: the whole suite stays one command, and says where its time goes."""
    lines, command = pytest_command("test")

    assert "--durations=15" in command
    assert "-m " not in command.split(" -m pytest", 1)[1]  # no marker selection: every test runs
    assert " -n " not in command  # one process: the Lambda harness deploys once per session
    assert any("ruff check" in line for line in lines) and any("mypy" in line for line in lines)


def test_make_test_fast_lints_then_leaves_out_the_slow_tests() -> None:
    """Issue 20: a fast loop (lint, unit and API tests) beside the whole suite."""
    lines, command = pytest_command("test-fast")

    assert '-m "not slow"' in command
    assert "-n auto" in command  # on every core
    assert any("ruff check" in line for line in lines) and any("mypy" in line for line in lines)
