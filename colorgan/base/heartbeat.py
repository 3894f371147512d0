"""Whether a long job (a training run, a study trial, a study session) is still alive, seen from another process.

A job records its owner (``host:pid``, and the process-id space that pid belongs to) and beats: a background
thread writes the time every ``interval_s`` seconds. A thread rather than the training loop, because an
evaluation pass, a checkpoint upload, saving the model or tracing the first step can each take minutes on a
small CPU, and none of them is death. Any other process judges the job by those values alone
(``stale_reason``): it is stale when its process is gone (on the same machine, checked at once), or when its
last beat is older than ``grace_s``. MLflow runs keep the values as tags (colorgan.tracking.liveness); a study's
trials record their owner in Optuna, whose own heartbeat uses the same interval and grace (colorgan.studies).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """How often a job beats and how long others wait before calling it dead (a study's ``[trials]`` sets both)."""

    interval_s: float = 30.0
    grace_s: float = 120.0


def owner() -> str:
    """This process, for people: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def pid_space() -> str:
    """This process's pid space: host, boot and pid namespace. A pid is checked only within the same space, so a
    container that shares a host name, or a reboot, never makes a live job look dead."""
    parts = [socket.gethostname()]
    for read in (lambda: Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
                 lambda: str(os.stat("/proc/self/ns/pid").st_ino)):
        try:
            parts.append(read())
        except OSError:
            parts.append("")
    return "/".join(parts)


def process_gone(pid: int) -> bool:
    """Whether no process ``pid`` runs here (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # someone else's process: alive
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def stale_reason(who: str, space: str | None, last_beat: float | None, grace_s: float,
                 now: float | None = None) -> str | None:
    """Why a job owned by ``who`` (``host:pid``) is dead, or None while it may be alive.

    Dead when ``space`` is this machine's pid space and that pid runs no more, or when ``last_beat`` (Unix time;
    None: unknown) is more than ``grace_s`` old.
    """
    pid = who.rpartition(":")[2]
    if space == pid_space() and pid.isdigit() and process_gone(int(pid)):
        return f"its process {who} is gone"
    if last_beat is not None:
        age = (time.time() if now is None else now) - last_beat
        if age > grace_s:
            return f"no heartbeat from {who} for {age:.0f} s (grace {grace_s:.0f} s)"
    return None


class Beating:
    """``with Beating(beat, interval_s):`` calls ``beat(unix_time)`` once on entry, then every ``interval_s`` from a
    daemon thread until the block ends. A beat that fails is retried at the next interval, never raised: only a
    lapse longer than the grace period makes the job look dead."""

    def __init__(self, beat: Callable[[float], None], interval_s: float):
        self.beat, self.interval_s = beat, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="colorgan-heartbeat", daemon=True)

    def __enter__(self) -> Beating:
        self.beat(time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=max(1.0, self.interval_s))

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception):  # a missed beat is what the grace period is for
                self.beat(time.time())
