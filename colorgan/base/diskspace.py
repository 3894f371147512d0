"""A full disk, said plainly: free space before a job's writes, and a write error recognised as "out of space".

A full store shows up in many guises: OSError ENOSPC (or EDQUOT) from a file write, SQLite's "database or disk is
full" wrapped by SQLAlchemy and again by MLflow or Optuna, TensorFlow's own file layer. ``is_full`` finds any of
them anywhere in an exception's chain, so each command can stop with one line (``DiskFull``) naming the path,
its free space and what was kept, instead of a traceback from three libraries deep.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from colorgan.base.errors import UsageError, causes

FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")
RESERVE_BYTES = 4 * 1024 * 1024  # beyond a write's own size: a sample grid, metric rows, SQLite's journal


class DiskFull(UsageError):
    """A store ran out of space: the message names the path, its free space and what was kept."""


def free_bytes(path: Path) -> int:
    """Free space (for this user) on the filesystem holding ``path``, or its nearest existing parent."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def show(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def is_full(exc: BaseException | None) -> bool:
    """Whether an exception, or any it was raised from or during, says the disk (or a quota) is full."""
    return any((isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT))
               or any(text in str(e).lower() for text in FULL_TEXTS) for e in causes(exc))


def fullest(stores: dict[str, Path]) -> tuple[str, Path, int]:
    """(name, path, free bytes) of the store with the least free space: the one a write error most likely hit."""
    return min(((name, Path(p), free_bytes(p)) for name, p in stores.items()), key=lambda item: item[2])


def short_of(stores: dict[str, Path], need: int) -> tuple[str, Path, int] | None:
    """The first store with less than ``need`` + RESERVE_BYTES free, or None when all have room."""
    for name, path in stores.items():
        free = free_bytes(path)
        if free < need + RESERVE_BYTES:
            return name, Path(path), free
    return None
