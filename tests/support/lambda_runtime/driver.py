"""Runs inside the sandboxed interpreter: one Lambda execution environment serving many invocations.

Started as `python -I -S driver.py <settings JSON>` with a clean environment, so neither the
repository nor any site-packages is importable; the import path is built here the way the
python3.12 runtime builds it (task root, layers, the runtime's own boto3). Only the standard
library may be imported before the handler. The file system is read-only except TMPDIR, enforced
by an audit hook. Events arrive as JSON lines on stdin and results leave as JSON lines on stdout;
the handler's own stdout (its logs) is sent to stderr.
"""

import errno
import importlib
import json
import os
import resource
import sys
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {
    "os.mkdir": 1,
    "os.rmdir": 1,
    "os.remove": 1,
    "os.rename": 2,
    "os.link": 2,
    "os.symlink": 2,
    "os.truncate": 1,
    "os.chmod": 1,
    "os.chown": 1,
    "os.utime": 1,
    "shutil.copyfile": 2,
    "shutil.copymode": 2,
    "shutil.copystat": 2,
    "shutil.copytree": 2,
    "shutil.move": 2,
    "shutil.rmtree": 1,
    "shutil.make_archive": 1,
    "shutil.unpack_archive": 2,
}


def read_only_file_system(writable: str) -> None:
    """Refuse, as Lambda's read-only root does (EROFS), every write outside `writable`."""
    root = os.path.realpath(writable)

    def allowed(path: object) -> bool:
        if isinstance(path, int) or path is None:
            return True  # an open descriptor; its file was checked when it was opened
        text = os.fsdecode(path) if isinstance(path, bytes | os.PathLike) else str(path)
        resolved = os.path.realpath(text)
        return resolved == root or resolved.startswith(root + os.sep) or resolved.startswith("/dev/")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = args
            writing = bool(flags & _WRITE_FLAGS) if mode is None else any(c in str(mode) for c in "wax+")
            if writing and not allowed(path):
                raise OSError(errno.EROFS, "Read-only file system", path)
        elif event in _PATH_EVENTS:
            for path in args[: _PATH_EVENTS[event]]:
                if not allowed(path):
                    raise OSError(errno.EROFS, "Read-only file system", path)

    sys.addaudithook(hook)


class Context:
    """The LambdaContext the runtime passes to a handler."""

    def __init__(self, environ: dict[str, str], function_arn: str, timeout_seconds: float) -> None:
        self.function_name = environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = environ["AWS_LAMBDA_FUNCTION_VERSION"]
        self.memory_limit_in_mb = int(environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.invoked_function_arn = function_arn
        self.log_group_name = environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = environ["AWS_LAMBDA_LOG_STREAM_NAME"]
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


class Recorder:
    """Every AWS call the handler's botocore clients make (or presign), with its API parameters."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        # botocore resolves a presigned POST's endpoint through CreateBucket's model; that is no call.
        self._posting = threading.local()

    def install(self) -> None:
        import botocore.session
        import botocore.signers

        create_client = botocore.session.Session.create_client
        recorder = self

        def recording_create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = create_client(session, *args, **kwargs)
            client.meta.events.register("before-parameter-build", recorder.parameters)
            client.meta.events.register("after-call", recorder.answered)
            return client

        botocore.session.Session.create_client = recording_create_client  # type: ignore[method-assign,assignment]
        presign_post = botocore.signers.generate_presigned_post

        def recording_presign_post(client: Any, Bucket: str, Key: str, *args: Any, **kwargs: Any) -> Any:  # noqa: N803
            self.calls.append(
                {
                    "service": "s3",
                    "operation": "PresignedPost",
                    "params": {"Bucket": Bucket, "Key": Key},
                    "presigned": True,
                }
            )
            self._posting.active = True
            try:
                return presign_post(client, Bucket, Key, *args, **kwargs)
            finally:
                self._posting.active = False

        botocore.signers.generate_presigned_post = recording_presign_post  # type: ignore[assignment]

    def parameters(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if getattr(self._posting, "active", False):
            return
        call = {
            "service": model.service_model.signing_name,
            "operation": model.name,
            "params": _jsonable(params),
            "presigned": bool(context.get("is_presign_request")),
        }
        context["harness_call"] = call
        self.calls.append(call)

    def answered(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.get("harness_call")
        if call is not None:
            call["status"] = http_response.status_code
            call["error"] = parsed.get("Error", {}).get("Code")

    def take(self) -> list[dict[str, Any]]:
        taken, self.calls = self.calls, []
        return taken


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, bytes | bytearray):
        return {"__bytes__": bytes(value).decode("latin-1")}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def main() -> None:
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    settings = json.loads(sys.argv[1])
    environ = os.environ
    base_path = list(sys.path)
    read_only_file_system(environ["TMPDIR"])
    sys.path[:0] = [environ["LAMBDA_TASK_ROOT"], *settings["layer_paths"], environ["LAMBDA_RUNTIME_DIR"]]
    os.chdir(environ["LAMBDA_TASK_ROOT"])
    module_name, _, function_name = environ["_HANDLER"].rpartition(".")
    started = time.perf_counter()
    try:
        module = importlib.import_module(module_name)
        handler = getattr(module, function_name)
    except Exception:
        _send(protocol, {"ready": False, "error": traceback.format_exc()})
        return
    import_ms = (time.perf_counter() - started) * 1000
    recorder = Recorder()
    recorder.install()
    origins = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
    _send(protocol, {"ready": True, "import_ms": import_ms, "origins": origins, "base_path": base_path})
    for line in sys.stdin:
        event = json.loads(line)
        if "__probe__" in event:
            _send(protocol, _probe(event["__probe__"]))
            continue
        # The runtime gives each invocation its trace (sampled, as with active tracing when the rule samples it).
        environ["_X_AMZN_TRACE_ID"] = _trace_header()
        started = time.perf_counter()
        result = _invoke(handler, event, Context(dict(environ), settings["function_arn"], settings["timeout_seconds"]))
        result["duration_ms"] = (time.perf_counter() - started) * 1000
        result["calls"] = recorder.take()
        # The environment's peak resident memory so far, which Lambda holds under the function's MemorySize.
        result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        _send(protocol, result)


def _trace_header() -> str:
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=1"


def _invoke(handler: Any, event: dict[str, Any], context: Context) -> dict[str, Any]:
    try:
        answer = handler(event, context)
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc), "trace": traceback.format_exc()}
    try:
        return {"result": json.loads(json.dumps(answer))}
    except (TypeError, ValueError) as exc:  # what the runtime reports when it cannot serialise the answer
        return {"error": "Runtime.MarshalError", "message": str(exc), "trace": ""}


def _probe(path: str) -> dict[str, Any]:
    """Try to write a file and make a folder at `path` from inside the environment (the sandbox's own test)."""
    outcome: dict[str, Any] = {}
    for name, write in (("file", lambda: Path(path).write_text("probe")), ("folder", lambda: os.mkdir(f"{path}.d"))):
        try:
            write()
            outcome[name] = 0
        except OSError as exc:
            outcome[name] = exc.errno
    return outcome


def _send(protocol: Any, message: dict[str, Any]) -> None:
    protocol.write(json.dumps(message, default=repr) + "\n")
    protocol.flush()


if __name__ == "__main__":
    main()
