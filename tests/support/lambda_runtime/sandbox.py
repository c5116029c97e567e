"""A Lambda execution environment for a packaged function: its zips unpacked into a task root and a
layer root, run by a Python 3.12 interpreter that sees nothing else but the runtime's own boto3 (behind
the task root, so the SDK the zip ships is the one that runs)."""

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import botocore

DRIVER = Path(__file__).with_name("driver.py")
# What the python3.12 runtime provides beside the standard library (in /var/lang/lib/python3.12/site-packages),
# after the task root on sys.path; here the development copies stand in for the runtime's.
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
# Layers unpack under /opt; these are the folders of it the python runtime puts on sys.path.
LAYER_PATHS = ("python/lib/python3.12/site-packages", "python")
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "test"}


@dataclass(frozen=True)
class DeployedFunction:
    """A function as the emulator holds it, with the zips Terraform uploaded for it."""

    name: str
    arn: str
    handler: str
    role_arn: str
    timeout_seconds: int
    memory_mb: int
    environment: dict[str, str]
    code_zip: Path
    layer_zips: tuple[Path, ...]


@dataclass(frozen=True)
class Invocation:
    result: dict[str, Any] | None
    error: str | None
    message: str
    duration_ms: float
    calls: list[dict[str, Any]]
    max_rss_mb: float = 0.0


@dataclass
class ExecutionEnvironment:
    """One warm execution environment: a process that has imported the handler and serves events in turn."""

    function: DeployedFunction
    process: subprocess.Popen[str]
    log: Path
    task_root: Path
    tmp: Path
    environment: dict[str, str]
    import_ms: float
    # Where each module imported by the cold start came from (None: built in), and the interpreter's own path.
    origins: dict[str, str | None]
    base_path: tuple[str, ...]
    invocations: list[Invocation] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> Invocation:
        reply = self._exchange(event)
        invocation = Invocation(
            result=reply.get("result"),
            error=reply.get("error"),
            message=reply.get("message", "") + reply.get("trace", ""),
            duration_ms=reply["duration_ms"],
            calls=reply["calls"],
            max_rss_mb=reply["max_rss_mb"],
        )
        self.invocations.append(invocation)
        return invocation

    def probe_write(self, path: Path) -> dict[str, int]:
        """errno of writing a file at `path` and of making the folder `path`.d (0 when it worked)."""
        reply: dict[str, int] = self._exchange({"__probe__": str(path)})
        return reply

    @property
    def modules(self) -> frozenset[str]:
        return frozenset(self.origins)

    def calls(self) -> list[dict[str, Any]]:
        return [call for invocation in self.invocations for call in invocation.calls]

    def _exchange(self, message: dict[str, Any]) -> Any:
        stdin, stdout = _pipes(self.process)
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"{self.function.name} exited; its log:\n{self.log_tail()}")
        return json.loads(line)

    def log_tail(self, size: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-size:]


def unpack(function: DeployedFunction, root: Path) -> tuple[Path, Path]:
    """The function zip into `root`/task and its layers, in order, into `root`/opt (as Lambda does)."""
    task_root, layer_root = root / "task", root / "opt"
    task_root.mkdir(parents=True)
    layer_root.mkdir()
    with zipfile.ZipFile(function.code_zip) as archive:
        archive.extractall(task_root)
    for layer in function.layer_zips:
        with zipfile.ZipFile(layer) as archive:
            archive.extractall(layer_root)
    return task_root, layer_root


def runtime_dir(root: Path) -> Path:
    """A folder holding (links to) exactly the packages the Lambda runtime provides."""
    site_packages = Path(botocore.__file__).resolve().parents[1]
    runtime = root / "runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    for name in RUNTIME_PACKAGES:
        link = runtime / name
        if not link.exists():
            link.symlink_to(site_packages / name)
    return runtime


def lambda_environment(
    function: DeployedFunction, *, task_root: Path, runtime: Path, tmp: Path, endpoint: str, xray_daemon: str
) -> dict[str, str]:
    """The deployed variables, then what the runtime sets itself, aimed at the emulator with dummy credentials."""
    return {
        **function.environment,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "TMPDIR": str(tmp),
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "_HANDLER": function.handler,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/30/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        # Where the X-Ray SDK sends segments (Lambda's own daemon); _X_AMZN_TRACE_ID is set per invocation.
        "AWS_XRAY_DAEMON_ADDRESS": xray_daemon,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        # No shared config or credentials files, as in Lambda: the role's (here dummy) keys come from the environment.
        "AWS_CONFIG_FILE": str(task_root / ".no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(task_root / ".no-aws-credentials"),
        **DUMMY_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
    }


@contextmanager
def execution_environment(
    function: DeployedFunction, root: Path, *, endpoint: str, xray_daemon: str = "127.0.0.1:2000"
) -> Iterator[ExecutionEnvironment]:
    """A cold start of `function` under `root`: unpack, start the interpreter, import the handler. Its
    X-Ray segments go to `xray_daemon` (UDP; nothing needs to listen)."""
    if sys.version_info[:2] != (3, 12):
        raise RuntimeError("the Lambda runtime is Python 3.12: run the tests with the interpreter `make install` made")
    task_root, layer_root = unpack(function, root)
    tmp = root / "tmp"
    tmp.mkdir()
    environment = lambda_environment(
        function, task_root=task_root, runtime=runtime_dir(root), tmp=tmp, endpoint=endpoint, xray_daemon=xray_daemon
    )
    settings = {
        "layer_paths": [str(layer_root / path) for path in LAYER_PATHS],
        "function_arn": function.arn,
        "timeout_seconds": function.timeout_seconds,
    }
    log = root / "function.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(DRIVER), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            env=environment,
            cwd=task_root,
            text=True,
        )
    try:
        ready = json.loads(_pipes(process)[1].readline() or '{"ready": false, "error": "no answer"}')
        if not ready["ready"]:
            raise RuntimeError(f"{function.name} failed to start: {ready['error']}\n{log.read_text()[-4000:]}")
        yield ExecutionEnvironment(
            function=function,
            process=process,
            log=log,
            task_root=task_root,
            tmp=tmp,
            environment=environment,
            import_ms=ready["import_ms"],
            origins=ready["origins"],
            base_path=tuple(ready["base_path"]),
        )
    finally:
        _pipes(process)[0].close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def _pipes(process: subprocess.Popen[str]) -> tuple[IO[str], IO[str]]:
    assert process.stdin is not None and process.stdout is not None
    return process.stdin, process.stdout
