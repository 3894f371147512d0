"""Loss and eval curves inside an epoch: ``curve_points`` points per epoch, so a study trial of 2 epochs draws a
curve of 8 points rather than two dots (the original report compared runs by their loss-vs-epoch graphs).

At each point the train losses are the mean over the batches since the previous point (Keras hands running
means since the epoch began; the interval's mean is recovered from two of them), and the generator and critic
are scored in inference mode on a fixed eval subset (the first ``curve_eval_images`` eval images, the same at
every point of every run of a config). Every key starts with ``curve/``; ``curve/epoch`` is the fractional
epoch of each point (the x of every curve), the step is the global batch number.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

PREFIX = "curve/"
EPOCH_KEY = "curve/epoch"
CPU_KEY = "curve/eval_cpu_seconds"  # the CPU seconds the run's curve evaluations took so far
RUN_CPU_KEY = "curve/cpu_seconds"  # the run's CPU seconds at each point: the x of a curve against CPU time
# eval figures of each point; the critic's (colorgan.scoring.critic) only where a critic scored the subset (a GAN phase)
SCORES = ("psnr", "psnr_gain", "color_auc", "color_auc_rebal", "colorfulness_gap", "colorfulness_delta", "critic_auc",
          "critic_gap")


def boundaries(steps_per_epoch: int, points: int) -> tuple[int, ...]:
    """The 1-based batch numbers within an epoch after which a point is logged: ``points`` evenly spread, the
    last at the epoch's end (fewer when an epoch has fewer batches)."""
    if points <= 0 or steps_per_epoch <= 0:
        return ()
    return tuple(sorted({max(1, round(k * steps_per_epoch / points)) for k in range(1, points + 1)}))


def take_images(dataset: tf.data.Dataset, count: int, batch_size: int) -> tf.data.Dataset:
    """The first ``count`` examples of a batched (L, target) dataset, held in memory and batched again: the same
    images at every point without re-reading files."""
    ls, targets, have = [], [], 0
    for l_in, target in dataset:
        ls.append(l_in.numpy())
        targets.append(target.numpy())
        have += int(l_in.shape[0])
        if have >= count:
            break
    if not ls:
        raise ValueError("the eval split is empty: no curve subset to score")
    subset = (np.concatenate(ls)[:count], np.concatenate(targets)[:count])
    return tf.data.Dataset.from_tensor_slices(subset).batch(batch_size)


class CurvePoints(keras.callbacks.Callback):
    """Logs the train losses' interval means and the eval subset's losses and SCORES at each boundary.

    ``evaluate(model, subset, step_fn)`` scores the subset (epoch.evaluate_split: losses and metrics.QUALITY
    names) with the phase's ``model.eval_step()`` (the epoch's whole-split evaluation shares it); ``gray`` holds
    the gray image's figures on the same subset, for the PSNR gain; ``log(values, step)`` writes them."""

    def __init__(self, steps_per_epoch: int, points: int, subset: tf.data.Dataset, evaluate: Callable,
                 gray: dict[str, float], log: Callable[[dict[str, float], int], None],
                 logged: set[int] = frozenset(), run_cpu: Callable[[], float] | None = None):
        super().__init__()
        self.run_cpu = run_cpu  # the run's CPU seconds so far (budget.Spend), logged at each point when given
        self.logged = logged  # steps logged before (a resumed run training an epoch again): not logged twice
        self.steps_per_epoch = steps_per_epoch
        self.at = boundaries(steps_per_epoch, points)
        self.subset, self.evaluate, self.gray, self.log = subset, evaluate, gray, log
        self._epoch = 0
        self._previous: tuple[int, dict[str, float]] = (0, {})
        self.eval_cpu = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._previous = (0, {})

    def on_train_batch_end(self, batch, logs=None):
        done = batch + 1
        if done not in self.at:
            return
        names = self.model.loss_names
        running = {k: float(v) for k, v in (logs or {}).items() if k in names}
        before, means = self._previous
        values = {f"{PREFIX}train/{k}": (v * done - means.get(k, 0.0) * before) / (done - before)
                  for k, v in running.items()}
        self._previous = (done, running)
        if self._epoch * self.steps_per_epoch + done in self.logged:
            return
        cpu = time.process_time()
        figures, _ = self.evaluate(self.model, self.subset, self.model.eval_step())
        self.eval_cpu += time.process_time() - cpu
        figures["psnr_gain"] = figures["psnr"] - self.gray["psnr"]
        values.update({f"{PREFIX}eval/{k}": figures[k] for k in (*names, *SCORES) if k in figures})
        step = self._epoch * self.steps_per_epoch + done
        values[EPOCH_KEY] = step / self.steps_per_epoch
        values[CPU_KEY] = self.eval_cpu
        if self.run_cpu is not None:
            values[RUN_CPU_KEY] = self.run_cpu()
        self.log(values, step)
