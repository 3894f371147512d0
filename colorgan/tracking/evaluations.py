"""Evaluations in MLflow, where the report generator reads them.

A model's evaluation goes into its own training run. A non-learned baseline gets one run per (baseline, data
folder, image size) in the ``baselines`` experiment, and a shipped model (it has no training run here) one per
(its lineage, data folder) in ``shipped-models``, each found again by its tags, so evaluating it again updates that
run instead of adding a duplicate. Every evaluation is the same set of files under ``evaluation/<data key>/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from colorgan.tracking.store import connect, experiment_id, find_runs
from colorgan.tracking.tags import BASELINE_TAG, DATA_DIR_TAG, EVALUATED_PREFIX, IMAGE_SIZE_TAG, ROLE_TAG, SHIPPED_TAG
from colorgan.tracking.tracker import RunTracker

BASELINE_EXPERIMENT = "baselines"
SHIPPED_EXPERIMENT = "shipped-models"
ARTIFACT_DIR = "evaluation"


def baseline_run(root: Path, name: str, data_dir: str, size: int) -> str:
    """The run holding baseline ``name`` on ``data_dir`` at ``size`` px, created FINISHED when missing."""
    tags = {ROLE_TAG: "baseline", BASELINE_TAG: name, DATA_DIR_TAG: str(data_dir), IMAGE_SIZE_TAG: str(size)}
    return _keyed_run(root, BASELINE_EXPERIMENT, tags, f"{name}-{size}px")


def shipped_run(root: Path, lineage: str, data_dir: str, size: int) -> str:
    """The run holding a shipped model's (``lineage``: shipped:<folder>@<sha>) evaluation on ``data_dir``."""
    tags = {ROLE_TAG: "shipped", SHIPPED_TAG: lineage, DATA_DIR_TAG: str(data_dir), IMAGE_SIZE_TAG: str(size)}
    return _keyed_run(root, SHIPPED_EXPERIMENT, tags, f"{Path(lineage.split('@')[0]).name}-{size}px")


def _keyed_run(root: Path, experiment: str, tags: dict[str, str], name: str) -> str:
    client = connect(root)
    exp = experiment_id(experiment, root)
    found = find_runs(client, [exp], tags, order_by=("attributes.start_time ASC",))
    if found:
        return found[0].info.run_id
    run = client.create_run(exp, run_name=name, tags=tags)
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def log_evaluation(root: Path, run_id: str, key: str, headline: dict[str, float], tables: dict[str, str],
                   samples: np.ndarray, info: dict) -> str:
    """Headline figures as metrics ``<key>/<name>`` (step 0), CSV tables, the sample grid and what was evaluated
    (``info.json``) under ``evaluation/<key>/``. Returns that artifact folder."""
    run = RunTracker(connect(root), run_id)
    folder = f"{ARTIFACT_DIR}/{key}"
    run.log_metrics({f"{key}/{name}": value for name, value in headline.items()}, step=0)
    for name, text in tables.items():
        run.log_text(text, f"{folder}/{name}")
    run.log_image(samples, f"{folder}/samples.png")
    run.log_text(json.dumps(info, indent=1, sort_keys=True), f"{folder}/info.json")
    run.set_tags({f"{EVALUATED_PREFIX}{key}": f"{info.get('data_dir')} @ {info.get('image_size')}px"})
    return folder
