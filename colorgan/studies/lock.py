"""One study step at a time across processes: an flock on a file beside the study's SQLite database.

SQLite has no row locks, so two ``colorgan study`` processes started at once on one database would each find no
MLflow parent run and create one, each train the shared warm start, each run the base experiment's values as
their first trial, and each see room in the budget for one more trial. The lock is held while a study is prepared
(Optuna study, parent run, warm start) and while a worker decides on its next trial, until that trial exists in
the storage as RUNNING (the objective releases it first thing), so the next decision sees it. flock is released by
the kernel when its process dies, so a killed worker never leaves the study locked. A server storage
(PostgreSQL) takes no lock here: nullcontext-like, one process's word.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

SUFFIX = ".lock"


def path_for(url: str) -> Path | None:
    """The lock file of an Optuna storage URL: ``<database>.lock`` beside a SQLite file, None for other storages."""
    if not url.startswith("sqlite:///"):
        return None
    db = Path(url.removeprefix("sqlite:///"))
    return db.with_name(db.name + SUFFIX)


class StudyLock:
    """``with lock:`` or ``acquire()`` / ``release()`` (idempotent), for the sections the module docstring names."""

    def __init__(self, url: str):
        self.path = path_for(url)
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None or self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
