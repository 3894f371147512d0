"""A study's best run looked up in its Optuna storage and MLflow (``study:NAME`` model references, ``publish``):
no TensorFlow, so a command that only resolves a reference or reads a study does not load it.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from colorgan import tracking
from colorgan.base import paths
from colorgan.studies.spec import StudyError
from colorgan.studies.storage import parent_run_id, storage_url
from colorgan.tracking import studyruns
from colorgan.tracking.tags import RECOMMENDED_TRIAL_TAG


def best_run_id(name: str, storage: str | None = None, root: Path | None = None) -> str:
    """The MLflow run of a study's best COMPLETE trial (for ``study:NAME`` model references and ``publish``).

    For a two-objective study, the trial its [recommend] rule picked, else the Pareto-optimal trial with the best
    first objective.
    """
    url = storage_url(storage, root or paths.repo_root())
    try:
        study = optuna.load_study(study_name=name, storage=url)
    except KeyError as exc:
        raise StudyError(f"no study named {name!r} in {url.split('@')[-1]}") from exc
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise StudyError(f"study {name!r} has no completed trial yet")
    if len(study.directions) > 1:
        sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
        best = max(study.best_trials, key=lambda t: sign * t.values[0])
        parent = parent_run_id(study)
        picked = tracking.run_data(root or paths.repo_root(), parent).tags.get(RECOMMENDED_TRIAL_TAG, "") \
            if parent else ""
        if picked.isdigit():  # the study file's [recommend] rule chose one
            best = next((t for t in complete if t.number == int(picked)), best)
    else:
        best = study.best_trial
    run_id = studyruns.trial_run_id(best.user_attrs)
    if not run_id:
        raise StudyError(f"study {name!r}: best trial {best.number} has no MLflow run recorded")
    return run_id
