"""One MLflow run written through the client it was opened with: params, tags, metrics, artifacts, checkpoints and
the final generator. The training loop gets one from ``runs.open_run``; other writers from ``runs.tracker``.
"""

from __future__ import annotations

import functools
import tempfile
import time
from pathlib import Path

import mlflow
import numpy as np
from mlflow.entities import Metric, Param
from mlflow.tracking import MlflowClient

import colorgan.tracking.checkpoints as checkpoints
from colorgan.base import config as config_mod
from colorgan.base.errors import uninterrupted_write
from colorgan.tracking.store import MODEL_NAME, RESOLVED_CONFIG, patiently
from colorgan.tracking.tags import LAST_EPOCH_TAG, MODEL_URI_TAG

CRITIC_FOLDER = "critic"  # a run's pre-trained critic (log_critic), apart from its checkpoint's two slots
CRITIC_PREFIX = "critic"


def _whole(method):
    """A write to the store finished before a SIGTERM that arrives during it ends the run (base.errors)."""
    @functools.wraps(method)
    def write(*args, **kwargs):
        with uninterrupted_write():
            return method(*args, **kwargs)
    return write


class RunTracker:
    """One MLflow run, written through the client it was opened with: by the training loop (``open_run``), or
    from outside a run (a study's parent, a dead worker's run)."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client, self.run_id = client, run_id
        self.checkpoint_slot = "a"  # where the next checkpoint goes (a resumed run: the slot it did not read)

    @_whole
    def log_params(self, params: dict) -> None:
        self.client.log_batch(self.run_id, params=[Param(k, "" if v is None else str(v)) for k, v in params.items()])

    @_whole
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

    @_whole
    def log_metrics(self, values: dict[str, float], step: int) -> None:
        now = time.time_ns() // 1_000_000
        clean = [Metric(k, float(v), now, step) for k, v in values.items() if v is not None and np.isfinite(v)]
        self.client.log_batch(self.run_id, metrics=clean, synchronous=True)

    def metric_steps(self, key: str) -> list[int]:
        return [m.step for m in self.client.get_metric_history(self.run_id, key)]

    @_whole
    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    @_whole
    def log_image(self, image: np.ndarray, artifact_file: str) -> None:
        self.client.log_image(self.run_id, image, artifact_file=artifact_file)

    @_whole
    def log_config(self, cfg: config_mod.Config, source: Path | None) -> None:
        self.log_text(config_mod.to_toml(cfg), RESOLVED_CONFIG)
        if source is not None and Path(source).is_file():
            self.client.log_artifact(self.run_id, str(source), "config")

    @_whole
    def save_checkpoint(self, write_fn, epoch: int, epoch_metrics: dict[str, float]) -> None:
        """Write the training state (via ``write_fn(prefix)``) and the epoch it ends into the slot that does not hold
        the last one (tracking.checkpoints), so a crash during the write leaves the previous one whole."""
        checkpoints.save(self.client, self.run_id, self.checkpoint_slot, write_fn, epoch, epoch_metrics)
        self.checkpoint_slot = checkpoints.other_slot(self.checkpoint_slot)
        self.client.set_tag(self.run_id, LAST_EPOCH_TAG, str(epoch))

    @_whole
    def log_critic(self, write_fn) -> None:
        """The pre-trained critic (``write_fn(prefix)`` writes a tf.train.Checkpoint of it) as the run's
        ``critic/`` artifact: what a warm start from this run loads as its discriminator (training.warmstart)."""
        with tempfile.TemporaryDirectory() as tmp:
            write_fn(str(Path(tmp) / CRITIC_PREFIX))
            self.client.log_artifacts(self.run_id, tmp, CRITIC_FOLDER)

    def load_critic(self, dest: Path) -> str | None:
        """Download the run's pre-trained critic: the prefix for tf.train.Checkpoint.read, or None without one."""
        if not any(f.path == CRITIC_FOLDER for f in self.client.list_artifacts(self.run_id)):
            return None
        local = self.client.download_artifacts(self.run_id, CRITIC_FOLDER, str(dest))
        return str(Path(local) / CRITIC_PREFIX)

    def load_checkpoint(self, dest: Path) -> tuple[str, dict] | None:
        """Download the newest whole checkpoint: (prefix for tf.train.Checkpoint.read, state) or None if none."""
        found, _ = checkpoints.newest_whole(self.client, self.run_id, dest)
        return (found.prefix, found.state) if found else None

    def newest_whole(self, dest: Path, accept=None) -> tuple[checkpoints.Candidate | None, list[checkpoints.Candidate]]:
        """(the newest whole checkpoint or None, the damaged ones newer than it) (checkpoints.newest_whole)."""
        return checkpoints.newest_whole(self.client, self.run_id, dest, accept)

    @_whole
    def log_generator(self, generator, example: np.ndarray, requirements: list[str]) -> str:
        """The final generator as an MLflow Keras model with a signature, so it reloads and predicts anywhere.
        MLflow logs a model into the active run: ``open_run`` started this one after ``connect``."""
        active = mlflow.active_run()
        if active is None or active.info.run_id != self.run_id:
            raise RuntimeError(f"log_generator: run {self.run_id} is not the active run; open it with open_run")
        signature = mlflow.models.infer_signature(example, np.asarray(generator(example, training=False)))
        info = patiently(self.client, mlflow.keras.log_model, generator, name=MODEL_NAME, signature=signature,
                         pip_requirements=requirements)
        self.client.set_tag(self.run_id, MODEL_URI_TAG, info.model_uri)
        return info.model_uri

