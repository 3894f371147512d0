"""The shared warm start of a study with [pretrain]: one run every trial starts from, trained once and found again
by its resolved config.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from colorgan import tracking
from colorgan.data import datasets
from colorgan.studies.spec import StudySpec
from colorgan.tracking.tags import PRETRAIN_KEY_TAG, PRETRAIN_RUN_TAG, ROLE_TAG, STUDY_TAG
from colorgan.training import train


def pretrain(spec: StudySpec, root: Path, parent: str) -> str:
    """The [pretrain] run every trial warm-starts from: found again by its resolved config (FINISHED, same key,
    in the one PRETRAIN_EXPERIMENT, whichever study trained it), else trained now, once, before any trial; ""
    without [pretrain]. The parent run links to it; the study's user attributes keep the CPU-seconds it cost
    this study (0 when found again)."""
    cfg = spec.pretrain_config()
    if cfg is None:
        return ""
    # the data it learnt from is part of the key: the same config on another data set (COLORGAN_DATA, the built-in
    # samples) is another warm start, whose eval split the trials' paired comparisons could not join
    _, _, _, data_info = datasets.split_dataset(cfg, root)
    resolved = {**cfg.to_dict(), "data_dir": data_info["data_dir"], "data_fingerprint": data_info["fingerprint"]}
    key = hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:16]
    tags = {ROLE_TAG: "pretrain", PRETRAIN_KEY_TAG: key}
    found = tracking.find_finished_run(root, cfg.experiment, tags)
    if found is None:
        print(f"study {spec.name}: training the shared warm start ([pretrain], {cfg.pretrain_epochs} + "
              f"{cfg.epochs} epochs) once", flush=True)
        found = train.run_training(cfg, spec.path, tags={**tags, STUDY_TAG: spec.name}, root=root,
                                   verbose=0).run_id
    else:
        print(f"study {spec.name}: the shared warm start ([pretrain]) is run {found}, trained before", flush=True)
    tracking.set_run_tags(root, parent, {PRETRAIN_RUN_TAG: found})
    return found
