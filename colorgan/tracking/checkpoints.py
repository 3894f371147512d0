"""A run's checkpoint in two slots, so that a process killed at any moment leaves a whole one behind.

Each epoch writes into the slot that does not hold the newest whole checkpoint (``checkpoint/a``, ``checkpoint/b``):
the old contents of that slot are deleted, the data files logged, then ``state.json`` (the epoch, its metrics, each
file's size and sha256) last, as the commit mark; the listed sizes are checked before the save counts. The other
slot is never touched meanwhile. Only MLflow's artifact API is used (no rename, which a tracking server does not
offer), so the local store and a server behave alike. Reading takes the newest slot whose files match its
state.json; a run saved before the slots keeps one checkpoint directly in ``checkpoint/`` (no sizes or hashes: a
damaged one is found when TensorFlow reads it, see ``newest_whole``'s ``accept``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from colorgan.base import heartbeat
from colorgan.tracking.store import RunError

FOLDER = "checkpoint"
STATE_FILE = "state.json"
SLOTS = ("a", "b")
PREFIX = "ckpt"  # tf.train.Checkpoint's file prefix inside a slot
TMP_PREFIX = "colorgan-ckpt-"  # + this machine's pid space (hashed) and the pid: a save's temporary folder


class CheckpointDamaged(RunError):
    """No whole checkpoint to resume from: the message names the run, the damaged file and what to do."""


@dataclass
class Candidate:
    """One saved checkpoint: its artifact folder and, once read, its state or what is wrong with it."""

    folder: str  # checkpoint/a, checkpoint/b, or checkpoint (before the slots)
    state: dict | None = None
    problem: str | None = None  # why it is not whole, naming the file
    prefix: str | None = None  # the downloaded copy, for tf.train.Checkpoint.read

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"]) if self.state else -1

    @property
    def slot(self) -> str | None:
        return self.folder.rpartition("/")[2] if "/" in self.folder else None


def _names(client: MlflowClient, run_id: str, folder: str) -> dict[str, int | None]:
    return {f.path.rpartition("/")[2]: f.file_size for f in client.list_artifacts(run_id, folder) if not f.is_dir}


def folders(client: MlflowClient, run_id: str) -> list[str]:
    """The checkpoint folders of a run that hold a state.json (whole or not)."""
    found = [f"{FOLDER}/{slot}" for slot in SLOTS if STATE_FILE in _names(client, run_id, f"{FOLDER}/{slot}")]
    return found + ([FOLDER] if STATE_FILE in _names(client, run_id, FOLDER) else [])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_state(client: MlflowClient, run_id: str, folder: str, dest: Path) -> Candidate:
    cand = Candidate(folder)
    try:
        local = client.download_artifacts(run_id, f"{folder}/{STATE_FILE}", str(dest))
        cand.state = json.loads(Path(local).read_text())
        int(cand.state["epoch"])
    except (OSError, ValueError, KeyError, TypeError, mlflow.exceptions.MlflowException) as exc:
        cand.state, cand.problem = None, f"{folder}/{STATE_FILE} unreadable ({type(exc).__name__}: {exc})"
    return cand


def _fetch(client: MlflowClient, run_id: str, cand: Candidate, dest: Path) -> None:
    """Download a candidate's files and check them against its state.json (sizes and sha256)."""
    local = Path(client.download_artifacts(run_id, cand.folder, str(dest)))
    cand.prefix = str(local / PREFIX)
    for name, meta in cand.state.get("files", {}).items():
        path = local / name
        if not path.is_file():
            cand.problem = f"{cand.folder}/{name} is missing"
        elif path.stat().st_size != meta["size"]:
            cand.problem = f"{cand.folder}/{name} is {path.stat().st_size} bytes, not {meta['size']}"
        elif _sha256(path) != meta["sha256"]:
            cand.problem = f"{cand.folder}/{name} does not match its sha256"
        if cand.problem:
            return


def newest_whole(client: MlflowClient, run_id: str, dest: Path,
                 accept: Callable[[str], str | None] | None = None) -> tuple[Candidate | None, list[Candidate]]:
    """(the newest whole checkpoint or None, the damaged ones newer than it), the files downloaded under ``dest``.

    ``accept(prefix)`` reads a candidate (TensorFlow, in training.train) and returns which of its files is wrong and
    how ("ckpt.index is unreadable (...)"), or None."""
    cands = [_read_state(client, run_id, folder, dest / str(i)) for i, folder in enumerate(folders(client, run_id))]
    damaged = []
    for cand in sorted(cands, key=lambda c: c.epoch, reverse=True):
        if cand.problem is None:
            _fetch(client, run_id, cand, dest / f"{cand.folder.replace('/', '_')}")
        if cand.problem is None and accept is not None:
            problem = accept(cand.prefix)  # names a file of the folder
            cand.problem = f"{cand.folder}/{problem}" if problem else None
        if cand.problem is None:
            return cand, damaged
        damaged.append(cand)
    return None, damaged


def other_slot(slot: str | None) -> str:
    """The slot to write next: never the one holding the checkpoint just read or written."""
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


def _delete(client: MlflowClient, run_id: str, folder: str) -> None:
    """Best effort: a store that cannot delete leaves old files, which the sizes and hashes then tell apart."""
    with contextlib.suppress(OSError, NotImplementedError, mlflow.exceptions.MlflowException):
        get_artifact_repository(client.get_run(run_id).info.artifact_uri).delete_artifacts(folder)


def _tmp_prefix(pid: int) -> str:
    return f"{TMP_PREFIX}{zlib.crc32(heartbeat.pid_space().encode()):08x}-{pid}-"


def sweep_temporary() -> int:
    """Delete the temporary folders of saves whose process died (SIGKILL leaves a whole checkpoint's size behind),
    only those of this pid space: a live process elsewhere that shares the folder is never touched."""
    swept, mine = 0, _tmp_prefix(0).rsplit("-", 2)[0] + "-"
    for path in Path(tempfile.gettempdir()).glob(f"{mine}*"):
        pid = path.name.removeprefix(mine).split("-")[0]
        if pid.isdigit() and heartbeat.process_gone(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            swept += 1
    return swept


def save(client: MlflowClient, run_id: str, slot: str, write_fn: Callable[[str], None], epoch: int,
         epoch_metrics: dict[str, float]) -> None:
    """Write the training state (``write_fn(prefix)``) and its state.json into ``slot``, and check what arrived.
    A failed save deletes what it wrote, so no half-written slot is left (the other slot still holds the last one)."""
    folder = f"{FOLDER}/{slot}"
    sweep_temporary()
    with tempfile.TemporaryDirectory(prefix=_tmp_prefix(os.getpid())) as tmp:
        files, marker = Path(tmp) / "files", Path(tmp) / STATE_FILE
        files.mkdir()
        write_fn(str(files / PREFIX))
        written = sorted(p for p in files.iterdir() if p.is_file())
        manifest = {p.name: {"size": p.stat().st_size, "sha256": _sha256(p)} for p in written}
        marker.write_text(json.dumps({"epoch": epoch, "metrics": epoch_metrics, "files": manifest}))
        _delete(client, run_id, folder)
        try:
            for path in written:
                client.log_artifact(run_id, str(path), folder)
            client.log_artifact(run_id, str(marker), folder)  # last: the commit mark
            listed = _names(client, run_id, folder)
            wrong = [n for n, meta in manifest.items() if listed.get(n) not in (meta["size"], None)
                     or n not in listed]
            if wrong or STATE_FILE not in listed:
                raise RunError(f"run {run_id}: the checkpoint of epoch {epoch} did not arrive whole in {folder} "
                               f"({', '.join(wrong) or STATE_FILE})")
        except BaseException:
            _delete(client, run_id, folder)
            raise
