"""Who holds a job: an identity for this process, and whether the process behind an identity is gone.

An identity is `host/boot id/pid/start time`. The boot id tells a reboot apart, and the start time
tells a recycled pid apart (a restarted container is pid 1 again), so a process found under that
pid with the same start time is the same process. Only a process on this host and this boot can be
judged dead; anything else is presumed alive, which is always the safe answer.
"""

import functools
import os
import socket
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_EXITED_STATES = frozenset({"Z", "X", "x"})


@dataclass(frozen=True)
class ProcessIdentity:
    host: str
    boot_id: str
    pid: int
    started: str

    def __str__(self) -> str:
        return f"{self.host}/{self.boot_id}/{self.pid}/{self.started}"

    @classmethod
    def parse(cls, text: str) -> "ProcessIdentity | None":
        parts = text.rsplit("/", 3)
        if len(parts) != 4 or not parts[2].isdigit():
            return None
        return cls(host=parts[0], boot_id=parts[1], pid=int(parts[2]), started=parts[3])


@functools.cache
def current() -> ProcessIdentity:
    return ProcessIdentity(
        host=socket.gethostname(), boot_id=_boot_id(), pid=os.getpid(), started=_start_time(os.getpid()) or "?"
    )


def is_dead_here(owner: str | None, *, me: ProcessIdentity | None = None) -> bool:
    """True only when `owner` names a process of this host and boot that no longer runs."""
    identity = ProcessIdentity.parse(owner or "")
    me = me or current()
    if identity is None or not me.boot_id or (identity.host, identity.boot_id) != (me.host, me.boot_id):
        return False
    if identity == me:
        return False
    started = _start_time(identity.pid)
    return started is None or started != identity.started


def _boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or None if it is gone.

    A process that has exited but not been reaped (state Z, zombie, or X, dying) keeps its /proc entry, with
    the same start time, until its parent waits for it, which may be never (a container whose PID 1 does not
    reap). It runs no code any more, so it counts as gone.
    """
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its closing one.
    fields = stat[stat.rfind(")") + 2 :].split()
    if len(fields) <= 19 or fields[0] in _EXITED_STATES:
        return None
    return fields[19]
