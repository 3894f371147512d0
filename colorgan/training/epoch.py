"""One epoch of a run, start and end, as a named sequence: ``end_epoch`` reads top to bottom.

An epoch starts with its learning rates and a clock (``start_epoch``); it ends (``end_epoch``) with, in this
order: the figures (train losses, the whole eval split, time, rates, what was spent), the stores checked for
room, the checkpoint, the metrics and the sample grid logged, the epoch's line printed, and last the caller's
hook (``OnEpochEnd``: a study's pruner), which so always sees an epoch that is checkpointed and logged.
``EpochBoundary`` is the only Keras glue: fit() calls it, it calls these functions.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from colorgan import tracking
from colorgan.base.config import Config
from colorgan.base.errors import UsageError
from colorgan.data import color, datasets
from colorgan.model import gan
from colorgan.scoring import grids, metrics
from colorgan.training import budget, fullstore, schedule

# metrics.QUALITY names on the epoch line
EPOCH_LINE = ("psnr", "ssim", "colorfulness", "colorfulness_gap", "colorfulness_delta")
EPOCH_KEY = "epoch_seconds"  # logged at every epoch's end, whether or not it evaluated the whole eval split
SPEED_KEY, EVAL_TIME_KEY = "images_per_sec", "eval_seconds"  # logged at every epoch's end too

OnEpochEnd = Callable[[int, dict[str, float]], None]
"""The caller's hook: ``hook(step, values)`` with the epoch's step (1-based) and the metrics just logged (``eval/``
figures only when the whole split was evaluated), after its checkpoint, logging and line. It may raise to stop
the run (a study's pruner raises Pruned); what it raises leaves fit() and the run as any error does."""


class NonFiniteLoss(UsageError):
    """A loss became NaN or infinite: the run is marked FAILED rather than training on garbage. An expected
    failure (the CLI prints one line): the fix is in the config (lower rates or lambda_recon)."""


def evaluate_split(model: gan.ColorGAN, dataset: tf.data.Dataset,
                   step_fn=None) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(figures, per-image scores): inference-mode losses and image quality over a whole split, batch by batch
    through ``model.test_step`` (the losses weighted by batch size); ``step_fn`` is that step as a tf.function,
    reused epoch after epoch. The per-image scores are in the split's order (what paired comparisons read)."""
    step_fn = step_fn or tf.function(model.test_step, reduce_retracing=True)
    acc = metrics.QualityAccumulator()
    sums: dict[str, float] = {}
    count = 0
    for l_in, target in dataset:
        batch = step_fn((l_in, target))
        n = int(l_in.shape[0])
        for key, value in batch["losses"].items():
            sums[key] = sums.get(key, 0.0) + float(value) * n
        acc.update(batch["scores"])
        count += n
    if count == 0:
        raise datasets.DataError("the evaluation split is empty: lower grey_threshold or raise eval_fraction")
    out = {key: total / count for key, total in sums.items()}
    per_image = acc.per_image()
    out.update(metrics.summarise(per_image))
    return out, per_image


def epoch_line(step: int, epochs: int, phase: str, values: dict[str, float], gray: dict[str, float],
               seconds: float) -> str:
    """The line printed after each epoch: its phase, train losses, then EPOCH_LINE's eval figures next to the
    gray image's."""
    train_part = f"train g_total {values['train/g_total']:.3f}" + (
        f"  d_loss {values['train/d_loss']:.3f}" if "train/d_loss" in values else "")
    quality = "  ".join(f"{m.label} {m.show(values['eval/' + m.name])} (gray {gray[m.name]:.{m.digits}f})"
                        for m in (metrics.QUALITY[name] for name in EPOCH_LINE)) if "eval/psnr" in values else \
        "the whole split after the last epoch (full_eval = last_epoch)"
    if "eval/critic_auc" in values:  # the critic's held-out skill: is this GAN phase a game at all
        quality += (f"  critic AUC {values['eval/critic_auc']:.3f} [{values['eval/critic_auc_low']:.3f}, "
                    f"{values['eval/critic_auc_high']:.3f}]")
    return (f"epoch {step}/{epochs} ({phase})  {train_part}  | eval {quality}"
            f"  | {values[SPEED_KEY]:.1f} img/s  {seconds:.0f}s")


def objective_keys() -> set[str]:
    """The figures every epoch of a GAN run logs when it evaluates the whole eval split (end_epoch): the keys a
    study's objective may name (studies.runner.check_objective)."""
    return ({f"eval/{m}" for m in (*metrics.QUALITY, *metrics.GAINS, *metrics.CRITIC)}
            | {f"{where}/{loss}" for where in ("train", "eval") for loss in gan.ADVERSARIAL_LOSSES}
            | {SPEED_KEY, EPOCH_KEY, EVAL_TIME_KEY, budget.IMAGES_KEY, budget.CPU_KEY})


@dataclass
class RunEpochs:
    """What every epoch's end of one run uses, and what the last one left (``step``, ``last``, ``per_image``)."""

    cfg: Config
    bundle: datasets.DataBundle
    tracker: tracking.RunTracker
    checkpoint: tf.train.Checkpoint  # the run's state (resume.checkpoint_of)
    gray: dict[str, float]  # the gray image's figures on the eval split
    spend: budget.Spend
    guard: fullstore.Guard  # stops the run with one line when a store cannot take this epoch's writes
    print_lines: bool = True  # one line per epoch (a study's trial prints one line per trial instead)
    on_epoch_end: OnEpochEnd | None = None
    step: int = 0  # the last logged epoch (1-based)
    last: dict[str, float] = field(default_factory=dict)  # its logged metrics
    per_image: dict[str, np.ndarray] = field(default_factory=dict)  # the last whole-split evaluation's scores
    eval_cpu: float = 0.0  # CPU seconds of this session's whole-split evaluations
    started: float = 0.0  # perf_counter() at the epoch's start

    def __post_init__(self):
        self.sample_l, _ = color.encode(tf.constant(self.bundle.eval_rgb_sample), self.cfg.color_space)


def start_epoch(run: RunEpochs, model: gan.ColorGAN, epoch: int) -> None:
    """Both networks' learning rates from the epoch (schedule.learning_rates: a resumed run never keeps a stale
    rate restored with the optimizer's state), and the epoch's clock."""
    lr_g, lr_d = schedule.learning_rates(run.cfg, epoch)
    model.g_optimizer.learning_rate = lr_g
    if model.d_optimizer is not None:
        model.d_optimizer.learning_rate = lr_d
    run.started = time.perf_counter()


def check_finite(batch: int, logs: dict) -> None:
    """NonFiniteLoss at the first batch whose running losses are NaN or infinite."""
    bad = {k: float(v) for k, v in (logs or {}).items() if not math.isfinite(float(v))}
    if bad:
        raise NonFiniteLoss(f"non-finite loss in batch {batch + 1}: {bad}")


def end_epoch(run: RunEpochs, model: gan.ColorGAN, epoch: int, logs: dict) -> dict[str, float]:
    """The end of epoch ``epoch`` (0-based), in order; returns the metrics it logged."""
    seconds = time.perf_counter() - run.started
    step = epoch + 1
    values = {f"train/{name}": float(logs[name]) for name in model.loss_names}
    if evaluates_whole_split(run, model, step):
        values.update(evaluate_whole_split(run, model))
    values[SPEED_KEY] = run.spend.epoch_images() / seconds
    values[EPOCH_KEY] = seconds
    values[EVAL_TIME_KEY] = time.perf_counter() - run.started - seconds
    values.update(schedule_values(run.cfg, model, epoch))
    values.update(run.spend.close_epoch())
    run.guard.before_writes(step)  # the stores have room, or DiskFull before anything is written
    if run.cfg.checkpoint:
        run.tracker.save_checkpoint(run.checkpoint.write, step, values)
        run.guard.kept = step
    run.tracker.log_metrics(values, step=step)
    run.guard.logged = step
    run.tracker.log_image(sample_grid(run, model), f"samples/epoch_{step:03d}.png")
    run.last, run.step = values, step
    if run.print_lines:
        print(epoch_line(step, schedule.total_epochs(run.cfg), schedule.phase_at(run.cfg, epoch).name, values,
                         run.gray, seconds), flush=True)
    if run.on_epoch_end is not None:
        run.on_epoch_end(step, values)
    return values


def evaluates_whole_split(run: RunEpochs, model: gan.ColorGAN, step: int) -> bool:
    """Every epoch, or with ``full_eval = "last_epoch"`` only the run's last (planned, or the one the CPU budget
    stopped in): the curve points' fixed subset follows training in between."""
    return (run.cfg.full_eval == "every_epoch" or step >= schedule.total_epochs(run.cfg)
            or run.spend.exhausted or bool(model.stop_training))


def evaluate_whole_split(run: RunEpochs, model: gan.ColorGAN) -> dict[str, float]:
    """The eval split's losses and scores (``eval/``), its PSNR gain over gray and the CPU the evaluations took."""
    cpu = time.process_time()
    evaluated, run.per_image = evaluate_split(model, run.bundle.eval, model.eval_step())
    run.eval_cpu += time.process_time() - cpu
    values = {"eval_cpu_seconds": run.eval_cpu}  # the run's whole-split evaluations so far
    values.update({f"eval/{k}": v for k, v in evaluated.items() if k != "images"})
    values["eval/psnr_gain"] = values["eval/psnr"] - run.gray["psnr"]
    return values


def schedule_values(cfg: Config, model: gan.ColorGAN, epoch: int) -> dict[str, float]:
    """The epoch's phase and the learning rates it trained with (``lr/d`` only when D was trained)."""
    out = {"phase": float(schedule.phase_at(cfg, epoch).index),
           "lr/g": float(keras.ops.convert_to_numpy(model.g_optimizer.learning_rate))}
    if model.adversarial_now:
        out["lr/d"] = float(keras.ops.convert_to_numpy(model.d_optimizer.learning_rate))
    return out


def sample_grid(run: RunEpochs, model: gan.ColorGAN) -> np.ndarray:
    """gray | prediction | original of the eval split's fixed sample."""
    pred = model.inference_generator(run.sample_l, training=False)
    return grids.sample_grid([
        np.asarray(color.gray_rgb(run.sample_l)),
        np.asarray(color.decode(run.sample_l, pred, run.cfg.color_space)),
        run.bundle.eval_rgb_sample,
    ])


class EpochBoundary(keras.callbacks.Callback):
    """fit()'s hooks into this module: start_epoch, check_finite after each batch, end_epoch. The eval figures are
    also written into ``logs``, for Keras' own callbacks (the progress bar, History)."""

    def __init__(self, run: RunEpochs):
        super().__init__()
        self.run = run

    def on_epoch_begin(self, epoch, logs=None):
        start_epoch(self.run, self.model, epoch)

    def on_train_batch_end(self, batch, logs=None):
        check_finite(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs.update(end_epoch(self.run, self.model, epoch, logs))
