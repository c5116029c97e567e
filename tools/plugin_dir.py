"""TF_PLUGIN_DIR, the offline Terraform provider mirror: its root, or any folder inside it, names the same mirror.

`terraform init -plugin-dir` wants the root: the folder that holds `registry.terraform.io/`. People
often point at `registry.terraform.io` itself, or at the provider's own folder; those are accepted too.
Run as a script (the Makefile does), it prints the root or exits with a sentence saying what is meant.
Standard library only: the Makefile runs it before the virtualenv exists.
"""

import sys
from pathlib import Path

MIRROR_HOST = "registry.terraform.io"


class NotAProviderMirror(ValueError):
    pass


def mirror_root(value: str | Path) -> Path:
    path = Path(value).expanduser().resolve()
    root = Path(*path.parts[: path.parts.index(MIRROR_HOST)]) if MIRROR_HOST in path.parts else path
    if not (root / MIRROR_HOST).is_dir():
        raise NotAProviderMirror(
            f"TF_PLUGIN_DIR={value} is not a Terraform provider mirror: no {MIRROR_HOST} folder in or above it. "
            f"Set it to the folder that holds {MIRROR_HOST}/hashicorp/aws/<version>/<os>_<arch>/ "
            f"(or to that {MIRROR_HOST} folder itself)."
        )
    return root


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: plugin_dir.py TF_PLUGIN_DIR", file=sys.stderr)
        return 2
    try:
        print(mirror_root(argv[0]))
    except NotAProviderMirror as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
