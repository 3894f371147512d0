"""What a run has spent: images seen and CPU time, carried across --resume, and the CPU-time budget.

CPU time (the whole process's, all threads, from the run's start: data loading and model building count too;
several runs in one process, as a study's trials, each count their own) rather than wall time, so a budget buys
the same work on a busy machine as on an idle one: comparisons "at the same compute" stay fair when other jobs
share the CPU. On an idle machine it is about cores x wall time.
"""

from __future__ import annotations

import time

import keras

from colorgan.base.config import Config

IMAGES_KEY, CPU_KEY = "images_seen", "cpu_seconds"  # what the run has spent, logged cumulatively with each epoch

class Spend(keras.callbacks.Callback):
    """Counts images and CPU seconds over the whole run; stops training at the first batch past the budget.

    ``images`` and ``cpu_seconds`` start from what a resumed run had already spent (its checkpoint's metrics).
    """

    def __init__(self, cfg: Config, n_train: int, images: float = 0.0, cpu_seconds: float = 0.0,
                 cpu_start: float = 0.0):
        super().__init__()
        self.cpu_start = cpu_start  # time.process_time() when the run started
        self.limit = cfg.max_cpu_minutes * 60.0
        self.batch_size, self.n_train = cfg.batch_size, n_train
        self.images_before, self.cpu_before = images, cpu_seconds
        self.exhausted = False
        self._epoch_batches = 0

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_before + time.process_time() - self.cpu_start

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._epoch_batches += 1
        if self.limit and self.cpu_seconds >= self.limit:
            self.exhausted = True
            self.model.stop_training = True

    def epoch_images(self) -> int:
        """Images trained on in the current epoch (the last batch of a full epoch may be short)."""
        return min(self._epoch_batches * self.batch_size, self.n_train)

    def close_epoch(self) -> dict[str, float]:
        """The cumulative figures logged with the epoch."""
        self.images_before += self.epoch_images()
        return {IMAGES_KEY: float(self.images_before), CPU_KEY: self.cpu_seconds}
