"""The shared warm start of a study with [pretrain]: one run every trial starts from, trained once and found again
by its resolved config and data (training.once).
"""

from __future__ import annotations

from pathlib import Path

from colorgan import tracking
from colorgan.studies.spec import StudySpec
from colorgan.tracking.tags import PRETRAIN_KEY_TAG, PRETRAIN_RUN_TAG, ROLE_TAG, STUDY_TAG
from colorgan.training import once


def pretrain(spec: StudySpec, root: Path, parent: str) -> str:
    """The [pretrain] run every trial warm-starts from: found again by its resolved config and the data it learnt
    from (FINISHED, same key, in the one PRETRAIN_EXPERIMENT, whichever study trained it), else trained now, once,
    before any trial; "" without [pretrain]. The parent run links to it; the study's user attributes keep the
    CPU-seconds it cost this study (0 when found again)."""
    cfg = spec.pretrain_config()
    if cfg is None:
        return ""
    # the data it learnt from is part of the key: the same config on another data set (COLORGAN_DATA, the built-in
    # samples) is another warm start, whose eval split the trials' paired comparisons could not join
    done = once.train_once(
        cfg, root, {ROLE_TAG: "pretrain"}, PRETRAIN_KEY_TAG, new_tags={STUDY_TAG: spec.name},
        announce=lambda: print(f"study {spec.name}: training the shared warm start ([pretrain], {cfg.pretrain_epochs}"
                               f" + {cfg.epochs} epochs) once", flush=True),
        config_path=spec.path, verbose=0)
    if not done.trained:
        print(f"study {spec.name}: the shared warm start ([pretrain]) is run {done.run_id}, trained before", flush=True)
    tracking.set_run_tags(root, parent, {PRETRAIN_RUN_TAG: done.run_id})
    return done.run_id
