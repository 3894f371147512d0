"""A training run's stores filling up: checked before each epoch's writes, and a write error turned into one line.

The stores are the MLflow database and artifacts (when local), the cache and the temporary folder a checkpoint is
written to first. Before an epoch's checkpoint, metrics and sample grid, each must have room for one checkpoint and
diskspace.RESERVE_BYTES; a write that fails for want of space anyway (the check only sees this process's
writes) becomes the same ``DiskFull`` line. Either way the run stops with what was kept: the last whole
checkpoint (tracking.checkpoints leaves no half-written one) and every metric logged until then.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from colorgan import tracking
from colorgan.base import diskspace, paths
from colorgan.base.diskspace import DiskFull
from colorgan.tracking import patience


def state_bytes(variables) -> int:
    """What a checkpoint of these variables takes, about: their values, before the first one says exactly."""
    def itemsize(dtype) -> int:
        name = getattr(dtype, "name", str(dtype))
        return 2 if "16" in name else 8 if "64" in name else 1 if "8" in name else 4

    return sum(int(np.prod(v.shape)) * itemsize(v.dtype) for v in variables)


class Guard:
    """The stores of one run and what it has kept so far (``kept``: the last checkpointed epoch)."""

    def __init__(self, root: Path, checkpoint_bytes: int, run_id: str | None = None):
        self.stores = {**tracking.local_stores(root), "the cache": paths.cache_dir(root)}
        if checkpoint_bytes:
            self.stores["the temporary folder"] = Path(tempfile.gettempdir())
        self.checkpoint_bytes, self.run_id = checkpoint_bytes, run_id
        self.kept: int | None = None  # the epoch of the last whole checkpoint
        self.logged = 0  # the last epoch whose metrics were logged

    def before_writes(self, epoch: int) -> None:
        """Raise DiskFull when a store lacks room for this epoch's writes (one checkpoint and the reserve)."""
        short = diskspace.short_of(self.stores, self.checkpoint_bytes)
        if short:
            name, path, free = short
            need = diskspace.show(self.checkpoint_bytes + diskspace.RESERVE_BYTES)
            raise DiskFull(self._line(f"{name} {path} has {diskspace.show(free)} free, under the {need} "
                                      f"epoch {epoch}'s writes need"))

    def failed(self, exc: BaseException) -> DiskFull:
        """The one line for a write that failed for want of space."""
        name, path, free = diskspace.fullest(self.stores)
        cause = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        return DiskFull(self._line(f"out of space ({cause}); the fullest store is {name} {path} with "
                                   f"{diskspace.show(free)} free"))

    def _line(self, what: str, fix: str = "free some space") -> str:
        run = f"run {self.run_id}" if self.run_id else "the run (not created)"
        kept = (f"the checkpoint of epoch {self.kept} (whole)" if self.kept else "no checkpoint") + (
            f" and the metrics of epochs 1..{self.logged}" if self.logged else "")
        resume = f"colorgan train --resume {self.run_id}" if self.run_id and self.kept else "train again"
        return f"{run} stopped: {what}; kept {kept}; {fix}, then {resume}"

    @contextmanager
    def converting(self) -> Iterator[None]:
        """Any error that says the disk is full leaves as this run's DiskFull line; a tracking server that stopped
        answering (tracking.patience) as the same kind of line, saying what was kept there."""
        try:
            yield
        except DiskFull:
            raise
        except patience.TrackingGone as exc:
            if not getattr(exc, "said", False):
                exc.args, exc.said = (self._line(str(exc), "once the server answers again"),), True
            raise
        except Exception as exc:
            if diskspace.is_full(exc):
                raise self.failed(exc) from exc
            raise
