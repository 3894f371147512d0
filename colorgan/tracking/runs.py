"""Runs by their id: open one for training (heartbeat, end state), read what a run logged as plain values
(``RunRecord``), find runs by tags, mark and tag them from outside, and a study's parent run.
"""

from __future__ import annotations

import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

import colorgan.tracking.checkpoints as checkpoints
import colorgan.tracking.liveness as liveness
import colorgan.tracking.patience as patience
from colorgan.base import diskspace
from colorgan.base import heartbeat as heartbeat_mod
from colorgan.base.errors import interruption
from colorgan.tracking.store import RESOLVED_CONFIG, RunError, connect, end_run, experiment_id, find_runs, patiently
from colorgan.tracking.tags import (
    BEST_PARAM_PREFIX,
    BEST_RUN_TAG,
    BEST_TAG,
    BEST_TRIAL_TAG,
    ERROR_TAG,
    PARENT_RUN_TAG,
    ROLE_TAG,
    RUN_NAME_TAG,
    STUDY_TAG,
)
from colorgan.tracking.tracker import RunTracker

GRAY_PARAM = "gray_"  # params gray_NAME: the gray image's figures (metrics.QUALITY names) on the run's eval split
LEGACY_GRAY_METRIC = "baseline/gray_"  # how runs logged them before (a step-0 metric: a bar chart of its own each)
TRIAL_GROUP_ROLE = "trial_group"  # ROLE_TAG of a trial's own run (repeats > 1): its seeds' "trial" runs nest under it


def git_commit(repo_root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@contextmanager
def open_run(repo_root: Path, experiment: str, run_name: str, resume_run_id: str | None = None,
             parent_run_id: str | None = None, tags: dict | None = None,
             heartbeat: heartbeat_mod.Settings | None = None) -> Iterator[RunTracker]:
    """Start (or resume) a run; it ends FINISHED, KILLED on Ctrl-C or SIGTERM, or FAILED with the error as a tag.

    An exception type may carry ``run_status`` to choose the end state (a pruned trial's: "FINISHED", a normal
    outcome).
    While open, the run carries this process's heartbeat (``heartbeat``, default ``heartbeat.Settings()``), so
    other processes can tell it from a dead one; a run alive in another process is refused as ``resume_run_id``.
    A resumed run that ends FINISHED loses the error tag of the attempt before.
    """
    client = connect(repo_root)
    if resume_run_id:
        liveness.refuse_if_busy(client, resume_run_id)
        run = patiently(client, mlflow.start_run, run_id=resume_run_id)
    else:
        run = patiently(client, mlflow.start_run, experiment_id=experiment_id(experiment, repo_root),
                        run_name=run_name or None, parent_run_id=parent_run_id, nested=parent_run_id is not None,
                        tags={k: str(v) for k, v in (tags or {}).items()})  # a tracking server wants str
    tracker = RunTracker(client, run.info.run_id)
    try:
        with liveness.beating(client, tracker.run_id, heartbeat or heartbeat_mod.Settings()):
            yield tracker
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (base.errors.Terminated): KILLED at once, resumable
        tracker.set_tags({ERROR_TAG: interruption(exc)})
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        if getattr(exc, "run_id", None) is None:  # the innermost run, for the command's one line
            exc.run_id = tracker.run_id
        raise
    except patience.TrackingGone:
        with suppress(Exception):  # one try: the server is gone; the run stays RUNNING until --resume or close-stale
            mlflow.end_run("FAILED")  # pops the active run first, so this process can open another
        raise
    except BaseException as exc:
        status = getattr(exc, "run_status", "FAILED")
        try:
            tracker.set_tags({ERROR_TAG: f"{type(exc).__name__}: {exc}"[:5000]})
            end_run(client, tracker.run_id, status)
        except Exception as again:  # the database itself is full: say so in the one line, not in a traceback
            if not (isinstance(exc, diskspace.DiskFull) and diskspace.is_full(again)):
                raise
            exc.args = (f"{exc}; the run is left RUNNING (its database is full): the next colorgan train or "
                        "close-stale marks it FAILED",)
        raise
    else:
        if resume_run_id and ERROR_TAG in client.get_run(tracker.run_id).data.tags:
            client.delete_tag(tracker.run_id, ERROR_TAG)
        end_run(client, tracker.run_id, "FINISHED")


def run_tracker(repo_root: Path, run_id: str) -> RunTracker:
    """A writer and reader of an existing run, outside ``open_run`` (a resumed run's checks, a warm start)."""
    return RunTracker(connect(repo_root), run_id)


def check_resumable(repo_root: Path, run_id: str) -> None:
    """Refuse to resume a run that another live process is training (liveness.RunBusy)."""
    liveness.refuse_if_busy(connect(repo_root), run_id)


def experiment_and_config(run_id: str, repo_root: Path) -> tuple[str, dict]:
    """(experiment name, resolved config dict) of an existing run, for ``--resume``; RunError when there is no
    such run, or it is not a training run (it has no resolved config)."""
    client = connect(repo_root)
    run = liveness.get_run(client, run_id)
    try:
        values = resolved_config(client, run_id)
    except (mlflow.exceptions.MlflowException, OSError) as exc:
        raise RunError(f"run {run_id} ({run.info.run_name}) has no {RESOLVED_CONFIG}: not a training run") from exc
    return client.get_experiment(run.info.experiment_id).name, values


def resolved_config(client: MlflowClient, run_id: str) -> dict:
    """The resolved config dict a run was started with."""
    with tempfile.TemporaryDirectory() as tmp:
        return tomllib.loads(Path(client.download_artifacts(run_id, RESOLVED_CONFIG, tmp)).read_text())


def read_text(repo_root: Path, run_id: str, artifact_file: str) -> str | None:
    """A text artifact of a run (e.g. its per-image scores), None when the run did not log it."""
    client = connect(repo_root)
    folder = artifact_file.rsplit("/", 1)[0] if "/" in artifact_file else ""
    if artifact_file not in {f.path for f in client.list_artifacts(run_id, folder or None)}:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return Path(client.download_artifacts(run_id, artifact_file, tmp)).read_text()


def finished_runs(repo_root: Path, experiment: str, tags: dict | None = None, name: str = "",
                  most: int = 100) -> list[RunRecord]:
    """The FINISHED runs of ``experiment`` with these tags and, if given, this run name: the newest ``most``, newest
    first."""
    client = connect(repo_root)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    tags = {**(tags or {}), **({RUN_NAME_TAG: name} if name else {})}
    return [_record(run) for run in find_runs(client, [found.experiment_id], tags, status="FINISHED",
                                              order_by=("attributes.start_time DESC",), max_results=most)]


def find_finished_run(repo_root: Path, experiment: str, tags: dict | None = None, name: str = "") -> str | None:
    """The newest FINISHED run of ``experiment`` with these tags (a run trained once) and, if given, this run name
    (the l1_only baseline), or None."""
    runs = finished_runs(repo_root, experiment, tags, name, most=1)
    return runs[0].run_id if runs else None


def has_checkpoint(repo_root: Path, run_id: str) -> bool:
    """Whether a run saved a checkpoint (an epoch it can resume after)."""
    return bool(checkpoints.folders(connect(repo_root), run_id))


@dataclass(frozen=True)
class RunRecord:
    """What a run logged, as plain values: no MLflow type leaves this package."""

    run_id: str
    name: str
    experiment_id: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]  # the last value of each
    tags: dict[str, str]


def _record(run) -> RunRecord:
    return RunRecord(run.info.run_id, run.info.run_name or "", run.info.experiment_id, run.info.status,
                     dict(run.data.params), dict(run.data.metrics), dict(run.data.tags))


def run_data(repo_root: Path, run_id: str) -> RunRecord:
    """A run's id, name, status, params, metrics (the last of each) and tags."""
    return _record(connect(repo_root).get_run(run_id))


def gray_params(gray: dict[str, float]) -> dict[str, float]:
    """The gray image's split figures as params: one value per run, so the chart view leads with the eval curves."""
    return {f"{GRAY_PARAM}{name}": value for name, value in gray.items() if name != "images"}


def gray_figures(data) -> dict[str, float]:
    """The gray figures of a run (its ``run_data``), by QUALITY name; read from the metrics older runs logged."""
    found = {k.removeprefix(GRAY_PARAM): float(v) for k, v in data.params.items() if k.startswith(GRAY_PARAM)}
    return found or {k.removeprefix(LEGACY_GRAY_METRIC): float(v) for k, v in data.metrics.items()
                     if k.startswith(LEGACY_GRAY_METRIC)}


def run_status(repo_root: Path, run_id: str) -> str:
    return connect(repo_root).get_run(run_id).info.status


def mark_run(repo_root: Path, run_id: str, status: str, error: str | None = None, tags: dict | None = None) -> None:
    """Close a run from outside (e.g. a dead worker's run left RUNNING) and tag why."""
    client = connect(repo_root)
    RunTracker(client, run_id).set_tags({**(tags or {}), **({ERROR_TAG: error} if error else {})})
    if status != client.get_run(run_id).info.status:
        client.set_terminated(run_id, status)


def set_run_tags(repo_root: Path, run_id: str, tags: dict) -> None:
    RunTracker(connect(repo_root), run_id).set_tags(tags)


def find_or_create_parent(repo_root: Path, experiment: str, study: str, study_file: Path | None) -> str:
    """The one parent run of a study, found again by tag on resume; its study file is logged once."""
    client = connect(repo_root)
    exp_id = experiment_id(experiment, repo_root)
    found = find_runs(client, [exp_id], {STUDY_TAG: study, ROLE_TAG: "parent"},
                      order_by=("attributes.start_time ASC",))
    if found:
        return found[0].info.run_id
    run = client.create_run(exp_id, run_name=f"study-{study}",
                            tags={STUDY_TAG: study, ROLE_TAG: "parent"})
    if study_file is not None:
        client.log_artifact(run.info.run_id, str(study_file), "study")
    return run.info.run_id


def trial_runs(repo_root: Path, parent_run_id: str) -> list[RunRecord]:
    """The runs that trained a study's trials, one per seed: nested under the study's parent run, directly (one
    seed a trial, and every study stored before trials had runs of their own) or under their trial's own run
    (``TRIAL_GROUP_ROLE``, which is not one of them). Read in one search of the parent's experiment."""
    client = connect(repo_root)
    parent = client.get_run(parent_run_id)
    runs = find_runs(client, [parent.info.experiment_id], {}, max_results=10000)
    groups = {run.info.run_id for run in runs if run.data.tags.get(ROLE_TAG) == TRIAL_GROUP_ROLE
              and run.data.tags.get(PARENT_RUN_TAG) == parent_run_id}
    return [_record(run) for run in runs if run.data.tags.get(ROLE_TAG) != TRIAL_GROUP_ROLE
            and run.data.tags.get(PARENT_RUN_TAG) in {parent_run_id, *groups}]


def log_parent_progress(repo_root: Path, parent_run_id: str, best: dict, trial_number: int,
                        best_run_id: str | None) -> None:
    """Best-so-far objective(s) as metrics (step = trial number) and params as tags; the best child is tagged."""
    client = connect(repo_root)
    parent = RunTracker(client, parent_run_id)
    parent.log_metrics({f"best/{k}": float(v) for k, v in best["values"].items()}, step=trial_number)
    parent.set_tags({**{f"{BEST_PARAM_PREFIX}{key}": value for key, value in best["params"].items()},
                     BEST_TRIAL_TAG: best["number"]})
    if best_run_id:
        previous = client.get_run(parent_run_id).data.tags.get(BEST_RUN_TAG)
        if previous and previous != best_run_id:
            client.set_tag(previous, BEST_TAG, "false")
        client.set_tag(best_run_id, BEST_TAG, "true")
        client.set_tag(parent_run_id, BEST_RUN_TAG, best_run_id)


def log_table(repo_root: Path, run_id: str, csv_text: str, artifact_file: str) -> None:
    connect(repo_root).log_text(run_id, csv_text, artifact_file)

