"""What one process's runs reuse instead of computing again: the figures every run on the same data shares, and
the last model built with its traced step functions (a study worker trains run after run)."""

from __future__ import annotations

import json

import numpy as np

from colorgan.base.config import Config
from colorgan.data import datasets
from colorgan.model import gan


class SameEveryRun:
    """What every run of a study on the same data computes alike (the gray image's scores on the eval split and
    its curve subset, the a*b* prior), computed once per process: a study worker's runs then skip ~7 CPU-seconds
    each of start-up. Keyed by the data set's fingerprint (names and sizes) and every setting the value reads."""

    def __init__(self, size: int = 8):
        self.size, self.values = size, {}

    def get(self, key: tuple, compute):
        if key not in self.values:
            if len(self.values) >= self.size:
                self.values.pop(next(iter(self.values)))
            self.values[key] = compute()
        return self.values[key]


SAME_EVERY_RUN = SameEveryRun()


def memo_key(cfg: Config, bundle: datasets.DataBundle) -> tuple:
    """The data a run reads, as a memo key: the files (fingerprint) and how they are split, filtered and sized."""
    return (bundle.info["data_dir"], bundle.info["fingerprint"], cfg.eval_fraction, cfg.test_fraction,
            cfg.grey_threshold, cfg.image_size, cfg.color_space)


RATES_AND_NAMES = ("lr_g", "lr_d", "seed", "run_name")  # what no traced step reads: the rates are variables


class ReusableModel:
    """The last model built in this process, kept with its traced step functions: a run whose config differs from
    it only in RATES_AND_NAMES (a study's trials of one graph, each configuration's repeats) takes it over, set to
    a freshly built model's state (gan.ColorGAN.take_state_of), instead of tracing its steps again (~18 CPU-seconds
    of a 64x64 trial). A fresh model is still built for its initial weights, so a run's numbers do not depend on
    what ran before it in the process (tests/training/test_train.py holds the two equal)."""

    def __init__(self):
        self.key, self.model = None, None

    def get(self, cfg: Config, recon_weights) -> gan.ColorGAN:
        fresh = gan.build_colorgan(cfg, recon_weights=recon_weights)
        graph = {k: v for k, v in cfg.to_dict().items() if k not in RATES_AND_NAMES}
        key = (json.dumps(graph, sort_keys=True, default=str),
               None if recon_weights is None else np.asarray(recon_weights, np.float32).tobytes())
        if key != self.key or self.model is None:
            self.key, self.model = key, fresh
            return fresh
        self.model.take_state_of(fresh)
        return self.model


REUSABLE_MODEL = ReusableModel()
