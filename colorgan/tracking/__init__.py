"""Everything MLflow: where the store is, one run's params/metrics/artifacts, checkpoints and the final model.

Only this package (and the read-only report generator) knows MLflow; training hands it plain dicts and arrays.
Every call names its store: a function takes the project root and talks through the client ``connect`` returns
(a ``RunTracker`` keeps the client it was opened with); MLflow's module-level API, which reads a global store,
is only used right after ``connect`` (to start a run, log or load a model, register a version).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities import Metric, Param, RunStatus
from mlflow.tracking import MlflowClient

from colorgan import config as config_mod
from colorgan import diskspace, paths
from colorgan import heartbeat as heartbeat_mod
from colorgan.tracking import patience
from colorgan.tracking.patience import TrackingGone, gone  # noqa: F401  (the face: a server that went away)

RESOLVED_CONFIG = "config/resolved.toml"  # the run's full config, written once, read by --resume and models
MODEL_NAME = "generator"
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"  # lists the experiment under the UI's "Model training" (see ui.py)


class RunError(config_mod.UsageError):
    """A run id that names no run, or a run that cannot be resumed; the message says which and why."""


def store_uri(repo_root: Path) -> str:
    """MLFLOW_TRACKING_URI if set, else the local store MLflow 3 recommends: SQLite + an artifacts folder."""
    if not os.environ.get(paths.TRACKING_ENV):
        paths.mlruns_dir(repo_root).mkdir(parents=True, exist_ok=True)
    return paths.mlflow_uri(repo_root)


def local_artifact_root(repo_root: Path) -> str | None:
    """Artifacts of the embedded store live beside its database; a tracking server decides for itself."""
    uri = store_uri(repo_root)
    if uri.startswith("sqlite:///"):
        return paths.artifacts_beside(Path(uri.removeprefix("sqlite:///"))).resolve().as_uri()
    return None


def local_stores(repo_root: Path) -> dict[str, Path]:
    """The folders an embedded store writes (its SQLite database's and its artifacts'), by name, for the free-space
    checks; empty for a tracking server, whose disk is its own."""
    uri = store_uri(repo_root)
    if not uri.startswith("sqlite:///"):
        return {}
    db = Path(uri.removeprefix("sqlite:///"))
    return {"the MLflow database": db.parent, "the MLflow artifacts": paths.artifacts_beside(db)}


def connect(repo_root: Path) -> MlflowClient:
    """A client of this project's store, also made MLflow's current store for its module-level API.
    mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, which store_uri reads as the user's choice; it is put
    back as it was, so connecting to one project's store never pins every later connect (or subprocess) of this
    process to it. A tracking server's client waits for the server when it stops answering (patience)."""
    uri = store_uri(repo_root)
    if patience.is_server(uri):
        patience.quiet_mlflow_retries()
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
    return patience.Patient(MlflowClient(uri), uri) if patience.is_server(uri) else MlflowClient(uri)


def patiently(client, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` (MLflow's module-level API) with the patience of ``client`` when it is a server's."""
    if isinstance(client, patience.Patient):
        return patience.call(client.server, fn, *args, **kwargs)
    return fn(*args, **kwargs)


def _end_run(client, run_id: str, status: str) -> None:
    """End the active run. MLflow's end_run forgets the run before it tells the store, so it cannot be retried:
    a server's client (which waits) tells the server first."""
    if isinstance(client, patience.Patient):
        client.set_terminated(run_id, status)
        with suppress(Exception):
            mlflow.end_run(status)
    else:
        mlflow.end_run(status)


def experiment_id(name: str, repo_root: Path) -> str:
    """The id of an MLflow experiment, created (with the local artifact root) when missing."""
    client = connect(repo_root)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=local_artifact_root(repo_root),
                                        tags={EXPERIMENT_KIND_TAG: "custom_model_development"})
    except mlflow.exceptions.MlflowException:  # another worker created it first
        return client.get_experiment_by_name(name).experiment_id


def git_commit(repo_root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo_root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def find_runs(client: MlflowClient, experiment_ids: list[str], tags: dict, *, status: str | None = None,
              order_by: tuple[str, ...] = (), max_results: int = 1) -> list:
    """Runs whose tags equal ``tags`` (and whose status is ``status``), in ``order_by``: how this package finds runs.

    An MLflow filter takes a quoted value verbatim, with no escape, so a value holding a quote or a backslash is
    matched with LIKE (each of those characters a one-character wildcard) and every run found is checked here.
    """
    clauses = [_tag_clause(key, str(value)) for key, value in tags.items()]
    query = " and ".join(clauses + ([f"attributes.status = '{status}'"] if status else []))
    found, token = [], None
    while len(found) < max_results:
        page = client.search_runs(list(experiment_ids), query, order_by=list(order_by), max_results=max_results,
                                  page_token=token)
        found += [run for run in page if all(run.data.tags.get(k) == str(v) for k, v in tags.items())]
        token = page.token
        if not token:
            break
    return found[:max_results]


def _tag_clause(key: str, value: str) -> str:
    if any(c in value for c in "'\"\\"):
        return f"tags.`{key}` LIKE '" + "".join("_" if c in "'\"\\" else c for c in value) + "'"
    return f"tags.`{key}` = '{value}'"


class RunTracker:
    """One MLflow run, written through the client it was opened with: by the training loop (``open_run``), or
    from outside a run (a study's parent, a dead worker's run)."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client, self.run_id = client, run_id
        self.checkpoint_slot = "a"  # where the next checkpoint goes (a resumed run: the slot it did not read)

    def log_params(self, params: dict) -> None:
        self.client.log_batch(self.run_id, params=[Param(k, "" if v is None else str(v)) for k, v in params.items()])

    def set_tags(self, tags: dict) -> None:
        for key, value in tags.items():
            try:
                self.client.set_tag(self.run_id, key, str(value))
            except mlflow.exceptions.MlflowException as exc:
                # Two workers tagging the study's parent run at once: MLflow's SQL store looks the tag up, finds
                # none, and both insert it; the loser's UNIQUE error means the tag now exists, so write it again.
                if "UNIQUE constraint failed" not in str(exc):
                    raise
                self.client.set_tag(self.run_id, key, str(value))

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        now = time.time_ns() // 1_000_000
        clean = [Metric(k, float(v), now, step) for k, v in values.items() if v is not None and np.isfinite(v)]
        self.client.log_batch(self.run_id, metrics=clean, synchronous=True)

    def metric_steps(self, key: str) -> list[int]:
        return [m.step for m in self.client.get_metric_history(self.run_id, key)]

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_image(self, image: np.ndarray, artifact_file: str) -> None:
        self.client.log_image(self.run_id, image, artifact_file=artifact_file)

    def log_config(self, cfg: config_mod.Config, source: Path | None) -> None:
        self.log_text(config_mod.to_toml(cfg), RESOLVED_CONFIG)
        if source is not None and Path(source).is_file():
            self.client.log_artifact(self.run_id, str(source), "config")

    def save_checkpoint(self, write_fn, epoch: int, epoch_metrics: dict[str, float]) -> None:
        """Write the training state (via ``write_fn(prefix)``) and the epoch it ends into the slot that does not hold
        the last one (tracking.checkpoints), so a crash during the write leaves the previous one whole."""
        from colorgan.tracking import checkpoints

        checkpoints.save(self.client, self.run_id, self.checkpoint_slot, write_fn, epoch, epoch_metrics)
        self.checkpoint_slot = checkpoints.other_slot(self.checkpoint_slot)
        self.client.set_tag(self.run_id, "colorgan.last_epoch", str(epoch))

    def load_checkpoint(self, dest: Path) -> tuple[str, dict] | None:
        """Download the newest whole checkpoint: (prefix for tf.train.Checkpoint.read, state) or None if none."""
        from colorgan.tracking import checkpoints

        found, _ = checkpoints.newest_whole(self.client, self.run_id, dest)
        return (found.prefix, found.state) if found else None

    def log_generator(self, generator, example: np.ndarray, requirements: list[str]) -> str:
        """The final generator as an MLflow Keras model with a signature, so it reloads and predicts anywhere.
        MLflow logs a model into the active run: ``open_run`` started this one after ``connect``."""
        active = mlflow.active_run()
        if active is None or active.info.run_id != self.run_id:
            raise RuntimeError(f"log_generator: run {self.run_id} is not the active run; open it with open_run")
        signature = mlflow.models.infer_signature(example, np.asarray(generator(example, training=False)))
        info = patiently(self.client, mlflow.keras.log_model, generator, name=MODEL_NAME, signature=signature,
                         pip_requirements=requirements)
        self.client.set_tag(self.run_id, "colorgan.model_uri", info.model_uri)
        return info.model_uri


@contextmanager
def open_run(repo_root: Path, experiment: str, run_name: str, resume_run_id: str | None = None,
             parent_run_id: str | None = None, tags: dict | None = None,
             heartbeat: heartbeat_mod.Settings | None = None) -> Iterator[RunTracker]:
    """Start (or resume) a run; it ends FINISHED, KILLED on Ctrl-C, or FAILED with the error as a tag.

    An exception type may carry ``mlflow_status`` (e.g. "KILLED" for a pruned trial) to choose the end state.
    While open, the run carries this process's heartbeat (``heartbeat``, default ``heartbeat.Settings()``), so
    other processes can tell it from a dead one; a run alive in another process is refused as ``resume_run_id``.
    A resumed run that ends FINISHED loses the error tag of the attempt before.
    """
    from colorgan.tracking import liveness

    client = connect(repo_root)
    if resume_run_id:
        liveness.check_resumable(client, resume_run_id)
        run = patiently(client, mlflow.start_run, run_id=resume_run_id)
    else:
        run = patiently(client, mlflow.start_run, experiment_id=experiment_id(experiment, repo_root),
                        run_name=run_name or None, parent_run_id=parent_run_id, nested=parent_run_id is not None,
                        tags={k: str(v) for k, v in (tags or {}).items()})  # a tracking server wants str
    tracker = RunTracker(client, run.info.run_id)
    try:
        with liveness.beating(client, tracker.run_id, heartbeat or heartbeat_mod.Settings()):
            yield tracker
    except KeyboardInterrupt:
        tracker.set_tags({"colorgan.error": "interrupted (Ctrl-C)"})
        mlflow.end_run(RunStatus.to_string(RunStatus.KILLED))
        raise
    except patience.TrackingGone:
        with suppress(Exception):  # one try: the server is gone; the run stays RUNNING until --resume or close-stale
            mlflow.end_run("FAILED")  # pops the active run first, so this process can open another
        raise
    except BaseException as exc:
        status = getattr(exc, "mlflow_status", "FAILED")
        try:
            tracker.set_tags({"colorgan.error": f"{type(exc).__name__}: {exc}"[:5000]})
            _end_run(client, tracker.run_id, status)
        except Exception as again:  # the database itself is full: say so in the one line, not in a traceback
            if not (isinstance(exc, diskspace.DiskFull) and diskspace.is_full(again)):
                raise
            exc.args = (f"{exc}; the run is left RUNNING (its database is full): the next colorgan train or "
                        "close-stale marks it FAILED",)
        raise
    else:
        if resume_run_id and "colorgan.error" in client.get_run(tracker.run_id).data.tags:
            client.delete_tag(tracker.run_id, "colorgan.error")
        _end_run(client, tracker.run_id, "FINISHED")


def experiment_and_config(run_id: str, repo_root: Path) -> tuple[str, dict]:
    """(experiment name, resolved config dict) of an existing run, for ``--resume``; RunError when there is no
    such run, or it is not a training run (it has no resolved config)."""
    from colorgan.tracking import liveness

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


def find_finished_run(repo_root: Path, experiment: str, tags: dict) -> str | None:
    """The newest FINISHED run of ``experiment`` with these tags (e.g. a study's shared warm start), or None."""
    client = connect(repo_root)
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    runs = find_runs(client, [found.experiment_id], tags, status="FINISHED", order_by=("attributes.start_time DESC",))
    return runs[0].info.run_id if runs else None


def has_checkpoint(repo_root: Path, run_id: str) -> bool:
    """Whether a run saved a checkpoint (an epoch it can resume after)."""
    from colorgan.tracking import checkpoints

    return bool(checkpoints.folders(connect(repo_root), run_id))


def run_data(repo_root: Path, run_id: str):
    """A run's logged values: ``.params``, ``.metrics`` (the last of each) and ``.tags``, as plain dicts."""
    return connect(repo_root).get_run(run_id).data


GRAY_PARAM = "gray_"  # params gray_NAME: the gray image's figures (metrics.QUALITY names) on the run's eval split
LEGACY_GRAY_METRIC = "baseline/gray_"  # how runs logged them before (a step-0 metric: a bar chart of its own each)


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
    RunTracker(client, run_id).set_tags({**(tags or {}), **({"colorgan.error": error} if error else {})})
    if status != client.get_run(run_id).info.status:
        client.set_terminated(run_id, status)


def set_run_tags(repo_root: Path, run_id: str, tags: dict) -> None:
    RunTracker(connect(repo_root), run_id).set_tags(tags)


def find_or_create_parent(repo_root: Path, experiment: str, study: str, study_file: Path | None) -> str:
    """The one parent run of a study, found again by tag on resume; its study file is logged once."""
    client = connect(repo_root)
    exp_id = experiment_id(experiment, repo_root)
    found = find_runs(client, [exp_id], {"colorgan.study": study, "colorgan.role": "parent"},
                      order_by=("attributes.start_time ASC",))
    if found:
        return found[0].info.run_id
    run = client.create_run(exp_id, run_name=f"study-{study}",
                            tags={"colorgan.study": study, "colorgan.role": "parent"})
    if study_file is not None:
        client.log_artifact(run.info.run_id, str(study_file), "study")
    return run.info.run_id


def child_runs(repo_root: Path, parent_run_id: str) -> list:
    client = connect(repo_root)
    parent = client.get_run(parent_run_id)
    return find_runs(client, [parent.info.experiment_id], {"mlflow.parentRunId": parent_run_id}, max_results=10000)


def log_parent_progress(repo_root: Path, parent_run_id: str, best: dict, trial_number: int,
                        best_run_id: str | None) -> None:
    """Best-so-far objective(s) as metrics (step = trial number) and params as tags; the best child is tagged."""
    client = connect(repo_root)
    parent = RunTracker(client, parent_run_id)
    parent.log_metrics({f"best/{k}": float(v) for k, v in best["values"].items()}, step=trial_number)
    parent.set_tags({**{f"best.{key}": value for key, value in best["params"].items()}, "best.trial": best["number"]})
    if best_run_id:
        previous = client.get_run(parent_run_id).data.tags.get("best.run_id")
        if previous and previous != best_run_id:
            client.set_tag(previous, "colorgan.best", "false")
        client.set_tag(best_run_id, "colorgan.best", "true")
        client.set_tag(parent_run_id, "best.run_id", best_run_id)


def log_table(repo_root: Path, run_id: str, csv_text: str, artifact_file: str) -> None:
    connect(repo_root).log_text(run_id, csv_text, artifact_file)
