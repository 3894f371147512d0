"""Runs trained once: found again by a key of their resolved config and the data they learn from, else trained now.

`make reproduce` (training.reproduce, tag REPRODUCE_KEY_TAG) and a study's shared warm start (studies.pretrain, tag
PRETRAIN_KEY_TAG) both ask here. The data is part of the key: the same config on another data set (COLORGAN_DATA,
the built-in samples) is another run, whose eval split the first one's comparisons could not join.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from colorgan import tracking
from colorgan.base.config import Config
from colorgan.data import datasets
from colorgan.training import train


@dataclass(frozen=True)
class Once:
    run_id: str
    result: train.RunResult | None  # None: found again, not trained now

    @property
    def trained(self) -> bool:
        return self.result is not None


def data_of(cfg: Config, root: Path) -> dict[str, str]:
    """The data ``cfg`` learns from: the directory it resolves to and its fingerprint (datasets.split_dataset)."""
    info = datasets.split_dataset(cfg, root)[3]
    return {"data_dir": info["data_dir"], "fingerprint": info["fingerprint"]}


def key(cfg: Config, data: dict[str, str]) -> str:
    """16 hex digits of sha256 over the resolved config, its data directory resolved and that data's fingerprint
    (the key studies.pretrain has stored since the data joined it)."""
    resolved = {**cfg.to_dict(), "data_dir": data["data_dir"], "data_fingerprint": data["fingerprint"]}
    return _digest(resolved)


def config_key(cfg: Config) -> str:
    """The key of the config alone: how `make reproduce` keyed its runs before the data joined the key."""
    return _digest(cfg.to_dict())


def _digest(values: dict) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def find(cfg: Config, root: Path, tags: dict, key_tag: str, data: dict[str, str] | None = None) -> str | None:
    """The newest FINISHED run of ``cfg.experiment`` with these ``tags`` and ``key_tag`` = key(cfg, its data), else
    one keyed by its config alone (config_key: runs `make reproduce` trained before) whose logged data directory and
    fingerprint are this data's; None when neither is there."""
    data = data or data_of(cfg, root)
    found = tracking.find_finished_run(root, cfg.experiment, {**tags, key_tag: key(cfg, data)})
    if found:
        return found
    for run in tracking.finished_runs(root, cfg.experiment, {**tags, key_tag: config_key(cfg)}):
        if all(run.params.get(name) == value for name, value in data.items()):
            return run.run_id
    return None


def train_once(cfg: Config, root: Path, tags: dict, key_tag: str, *, announce: Callable[[], None] = lambda: None,
               new_tags: dict | None = None, **training) -> Once:
    """The run ``find`` finds, else ``announce()`` and a new run trained by ``train.run_training(cfg, root=root,
    **training)``, tagged ``tags``, the key under ``key_tag`` and ``new_tags`` (not searched for: the study that
    trained a shared warm start)."""
    data = data_of(cfg, root)
    found = find(cfg, root, tags, key_tag, data)
    if found:
        return Once(found, None)
    announce()
    result = train.run_training(cfg, tags={**tags, key_tag: key(cfg, data), **(new_tags or {})}, root=root,
                                **training)
    return Once(result.run_id, result)
