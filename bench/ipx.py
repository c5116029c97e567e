"""IPX (the unjs image server on sharp/libvips) as a peer, started with npx on loopback when npx is there."""

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from tools.processes import child_process, free_port, wait_until_up

from .phases import say

# Pinned, so that two runs compare the same peer; npx fetches it from the npm registry on first use.
IPX_PACKAGE = "ipx@3.1.1"
# The first start may download the package (and sharp's prebuilt libvips).
_START_TIMEOUT_SECONDS = 300.0


@contextlib.contextmanager
def running_ipx(image_dir: Path, log: Path) -> Iterator[str | None]:
    """IPX serving `image_dir` read from disk, or None (and a line saying so) when npx is not installed."""
    npx = shutil.which("npx")
    if npx is None:
        say("npx is not installed: the IPX peer is skipped")
        yield None
        return
    port = free_port()
    command = [npx, "--yes", IPX_PACKAGE, "serve", "--dir", str(image_dir), "--host", "127.0.0.1"]
    with child_process(command, env={"PORT": str(port)}, log=log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(url, timeout=_START_TIMEOUT_SECONDS, process=process)
        say(f"IPX ({IPX_PACKAGE}) serving {image_dir} at {url}")
        yield url


def ipx_path(modifiers: str, relative_image: str) -> str:
    """IPX's URL form: `/<modifiers>/<path of the source under its folder>`."""
    return f"/{modifiers}/{relative_image}"
