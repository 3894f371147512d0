"""A run's training state and ``--resume``: what a checkpoint holds, the newest whole one read back, the guard
that refuses a run that cannot continue, and the config a resumed run keeps."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import tensorflow as tf

from colorgan import tracking
from colorgan.base import config as config_mod
from colorgan.base import paths
from colorgan.base.config import Config
from colorgan.model import gan
from colorgan.tracking import checkpoints
from colorgan.training.epoch import EPOCH_KEY


def checkpoint_of(model: gan.ColorGAN) -> tf.train.Checkpoint:
    """The run's state as one tf.train.Checkpoint: the networks (EMA shadow included), optimizers, weight table."""
    # Build the optimizers' slots first so a restore fills them instead of being deferred and lost.
    model.g_optimizer.build(model.generator.trainable_variables)
    parts = {"generator": model.generator, "g_optimizer": model.g_optimizer}
    if model.ema_generator is not None:
        parts["ema_generator"] = model.ema_generator
    if model.discriminator is not None:
        model.d_optimizer.build(model.discriminator.trainable_variables)
        parts.update(discriminator=model.discriminator, d_optimizer=model.d_optimizer)
    if model.recon_weights is not None:
        parts["recon_weights"] = model.recon_weights
    return tf.train.Checkpoint(**parts)


def state_variables(model: gan.ColorGAN) -> list:
    """What a checkpoint holds (checkpoint_of): the networks' weights and the optimizers' state."""
    optimizers = [model.g_optimizer] + ([model.d_optimizer] if model.discriminator is not None else [])
    return [*model.weights, *(v for opt in optimizers for v in opt.variables)]


def check_resume(run_id: str, root: Path) -> None:
    """Refuse, before any work, to resume a run that another process is training (liveness.RunBusy), or one with
    no checkpoint that already logged epochs: it would train them again from epoch 0 and log each step twice.
    A run stopped before its first epoch ended (nothing logged) starts over in the same run."""
    tracking.check_resumable(root, run_id)
    if tracking.has_checkpoint(root, run_id):
        return
    steps = tracking.run_tracker(root, run_id).metric_steps(EPOCH_KEY)
    if steps:
        why = " (it trained with checkpoint = false, as study trials do)" if tracking.run_data(
            root, run_id).params.get("checkpoint") == "False" else ""
        raise tracking.RunError(f"run {run_id} has no checkpoint to resume from{why} and logged epochs "
                                f"{min(steps)}..{max(steps)}: start a new run instead")


def restore(run_id: str, root: Path, checkpoint: tf.train.Checkpoint) -> checkpoints.Candidate | None:
    """Read the run's newest whole checkpoint into ``checkpoint`` (None: the run saved none). A damaged newer one is
    named in one line and passed over; with no whole one left, CheckpointDamaged, and the run is not touched."""
    with tempfile.TemporaryDirectory() as tmp:
        found, damaged = tracking.run_tracker(root, run_id).newest_whole(
            Path(tmp), lambda prefix: _unreadable(checkpoint, prefix))
    if damaged and found is None:
        older = f" (and {len(damaged) - 1} older one{'s' * (len(damaged) > 2)} too)" if len(damaged) > 1 else ""
        raise checkpoints.CheckpointDamaged(
            f"run {run_id} cannot resume: checkpoint {damaged[0].problem}{older}, and there is no earlier whole "
            "checkpoint: put a good copy of that file back, or start a new run (this run was left unchanged)")
    if damaged:
        logged = tracking.run_tracker(root, run_id).metric_steps(EPOCH_KEY)
        again = [s for s in logged if s > found.epoch]
        print(f"colorgan: warning: run {run_id}: checkpoint {damaged[0].problem}; resuming from the previous whole "
              f"checkpoint ({found.folder}, epoch {found.epoch}), which the next save no longer overwrites"
              + (f"; epochs {min(again)}..{max(again)} are trained and logged again" if again else ""),
              file=sys.stderr, flush=True)
    return found


def _unreadable(checkpoint: tf.train.Checkpoint, prefix: str) -> str | None:
    """None when TensorFlow reads the checkpoint at ``prefix`` whole, else which file is damaged and how."""
    try:
        checkpoint.read(prefix).assert_existing_objects_matched()
        return None
    except Exception as exc:  # a cut file gives IndexError, DataLossError, OutOfRangeError... all mean the same
        why = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ''}"
    try:
        tf.train.load_checkpoint(prefix)  # reads the index alone
        name = ", ".join(sorted(p.name for p in Path(prefix).parent.glob(f"{Path(prefix).name}.data-*")))
    except Exception:
        name = f"{Path(prefix).name}.index"
    return f"{name} is unreadable ({why})"


def continue_after(tracker: tracking.RunTracker, restored: checkpoints.Candidate) -> tuple[int, dict[str, float]]:
    """The restored epoch and its metrics (what the run had spent: images_seen, cpu_seconds); that epoch's metrics
    are logged when the interruption lost them, and the next save goes to the other slot."""
    epoch, metrics_ = restored.epoch, dict(restored.state["metrics"])
    tracker.checkpoint_slot = checkpoints.other_slot(restored.slot)
    if epoch not in tracker.metric_steps(EPOCH_KEY):
        tracker.log_metrics(metrics_, step=epoch)
    print(f"resuming run {tracker.run_id} after epoch {epoch}", flush=True)
    return epoch, metrics_


def resume_config(run_id: str, overrides: dict, root: Path | None = None) -> Config:
    """The config a run was started with; only ``epochs`` may change (to extend a finished run)."""
    _, values = tracking.experiment_and_config(run_id, root or paths.repo_root())
    extra = set(overrides) - {"epochs"}
    if extra:
        raise config_mod.ConfigError(f"--resume keeps the run's config; only epochs may be set, not {sorted(extra)}")
    return config_mod.build({**values, **overrides})
