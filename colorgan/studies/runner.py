"""Running a study: prepared once (the Optuna study, its one MLflow parent run, the shared warm start), its
workers run until the budget is met, then the parent run's tables (a study's best run: ``lookup``).

Every trial's seed is one ``train.run_training`` (so one nested MLflow run with the core's full per-epoch logging)
under one parent run per study, whose id the study keeps as a user attribute (``storage.PARENT_ATTR``); with
repeats, a trial's seed runs nest under the trial's own run (objective.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import optuna

from colorgan import tracking
from colorgan.base import diskspace, paths
from colorgan.scoring import metrics
from colorgan.studies import answer as answer_mod
from colorgan.studies import lock as lock_mod
from colorgan.studies import summaries
from colorgan.studies.comparisons import COMPARISONS_ARTIFACT, comparisons
from colorgan.studies.pretrain import pretrain
from colorgan.studies.spec import StudyError, StudySpec
from colorgan.studies.storage import PARENT_ATTR, PRETRAIN_ATTR, open_study, parent_run_id, storage_url
from colorgan.studies.trial_loop import run_budget, update_parent
from colorgan.studies.trials import close_dead_runs
from colorgan.tracking import studyruns
from colorgan.tracking import ui as tracking_ui
from colorgan.tracking.tags import EPOCHS_RUN_TAG, STORAGE_TAG, TRIAL_STATE_TAG, TRIAL_TAG
from colorgan.training import epoch


def prepare(spec: StudySpec, storage: str | None, root: Path) -> tuple[str, str]:
    """(storage URL, parent run id): the study and its one MLflow parent run, created or found again."""
    check_objective(spec)
    url = storage_url(storage, root)
    with lock_mod.StudyLock(url):  # one process creates the study, its parent run and its warm start
        return url, _prepare(spec, url, root)


def _prepare(spec: StudySpec, url: str, root: Path) -> str:
    study = open_study(spec, url)
    parent = parent_run_id(study)
    if parent is None:
        parent = tracking.find_or_create_parent(root, f"study-{spec.name}", spec.name, spec.path)
        _check_trial_count(spec, study, parent, root, url)
        study.set_user_attr(PARENT_ATTR, parent)
    else:
        _check_trial_count(spec, study, parent, root, url)
    tracking.set_run_tags(root, parent, {STORAGE_TAG: url.split("@")[-1]})
    _show_study(spec, root, parent)
    pretrained = pretrain(spec, root, parent)
    if pretrained:
        study.set_user_attr(PRETRAIN_ATTR, pretrained)
    return parent


def _show_study(spec: StudySpec, root: Path, parent: str) -> None:
    """What the MLflow UI shows of the study before any trial: its settings as the parent's params, and the
    experiment's runs view (tracking.ui: each trial under the parent, its seeds under it; first the trial's rounded
    objectives, colourfulness gap and critic AUC, then each seed's own objectives, the searched params, the gray
    figure and the trial's state)."""
    studyruns.log_new_params(root, parent, summaries.space_params(spec))
    gray = [tracking.GRAY_PARAM + (m.gain_of or m.name) for m in map(metrics.declared, spec.metrics[:1])
            if m is not None]
    shown = [summaries.TRIAL_PREFIX + key for key in summaries.trial_keys(spec)] + list(spec.metrics)
    tracking_ui.save_runs_view(root, studyruns.experiment_of(root, parent), shown,
                               [p.name for p in spec.params] + gray, [TRIAL_STATE_TAG, EPOCHS_RUN_TAG])


def check_objective(spec: StudySpec) -> None:
    """Every objective must be a figure each trial logs: a typo would otherwise fail every trial at its end."""
    logged = epoch.objective_keys()  # from where each epoch logs them, so the two cannot drift
    unknown = [m for m in spec.metrics if m not in logged]
    if unknown:
        raise StudyError(f"objective: {', '.join(unknown)} is logged by no run; "
                         f"choose from {', '.join(sorted(logged))}")


def run_study(spec: StudySpec, storage: str | None = None, workers: int = 1, trials: int | None = None,
              epochs: int | None = None, root: Path | None = None, threads: int = 0) -> optuna.Study:
    """Create or resume a study and run ``workers`` processes on it until its budget of trials is met."""
    root = root or paths.repo_root()
    try:
        return _run_study(spec, storage, workers, trials, epochs, root, threads)
    except StudyError:
        raise
    except Exception as exc:  # the tracking server went away outside a trial (preparing, between trials)
        gone = tracking.gone(exc)
        if gone is None:
            raise
        raise StudyError(f"study {spec.name} stopped: {gone}; kept: every trial finished before, in the Optuna "
                         f"storage; once the server answers again: colorgan study {spec.name} goes on") from exc


def _run_study(spec: StudySpec, storage: str | None, workers: int, trials: int | None, epochs: int | None,
               root: Path, threads: int) -> optuna.Study:
    url, parent = prepare(spec, storage, root)
    budget = trials or spec.trials
    deadline = time.time() + spec.timeout_minutes * 60 if spec.timeout_minutes else None
    tracking.mark_run(root, parent, "RUNNING")  # the parent shows whether a session is working on the study
    try:
        run_budget(spec, url, parent, root, budget, epochs, deadline, workers, threads)
    except KeyboardInterrupt:
        tracking.mark_run(root, parent, "KILLED")
        raise
    except Exception as exc:
        if not diskspace.is_full(exc) or isinstance(exc, diskspace.DiskFull):
            raise
        raise _full(spec, url, root, exc) from exc
    with lock_mod.StudyLock(url):  # two sessions that end together write the parent's tables one after the other
        return _finish(spec, url, parent, root)


def _finish(spec: StudySpec, url: str, parent: str, root: Path) -> optuna.Study:
    """The parent run's description, tables and comparisons once the budget is met; the parent ends FINISHED."""
    study = open_study(spec, url)
    close_dead_runs(study, root)
    found = answer_mod.study_answer(study, spec, root)
    update_parent(study, spec, parent, root, found)
    trials = summaries.table(study, spec, studyruns.gray_by_run(root, parent))
    tracking.log_table(root, parent, trials.to_csv(index=False), "trials.csv")
    if found is not None:
        answer_mod.record(found, spec, root, parent)
    if not spec.multi_objective or found is not None:
        compared = comparisons(study, spec, root, found.recommended if found else None)
        if len(compared):
            tracking.log_table(root, parent, compared.to_csv(index=False), COMPARISONS_ARTIFACT)
    tracking.mark_run(root, parent, "FINISHED")
    return study


def _full(spec: StudySpec, url: str, root: Path, exc: Exception) -> diskspace.DiskFull:
    """The one line for a study whose Optuna or MLflow store filled up outside a trial's own writes."""
    stores = {**tracking.local_stores(root), "the cache": paths.cache_dir(root)}
    if url.startswith("sqlite:///"):
        stores["the Optuna database"] = Path(url.removeprefix("sqlite:///")).parent
    name, path, free = diskspace.fullest(stores)
    cause = str(exc).strip().splitlines()[0][:200]
    return diskspace.DiskFull(f"study {spec.name} stopped: out of space ({cause}); the fullest store is {name} "
                              f"{path} with {diskspace.show(free)} free; kept: every trial finished before; free "
                              f"some space, then colorgan study {spec.name} goes on")


def _check_trial_count(spec: StudySpec, study: optuna.Study, parent: str, root: Path, url: str) -> None:
    """The parent run's trial runs against the Optuna study: MLflow holding a trial number Optuna never had means
    the study's storage was emptied, replaced or rolled back; going on would number trials from 0 again under
    the same parent, beside the old ones."""
    tags = [r.tags.get(TRIAL_TAG, "") for r in tracking.trial_runs(root, parent)]
    numbers = {int(n) for n in tags if n.isdigit()}
    have = len(study.get_trials(deepcopy=False))
    if numbers and max(numbers) >= have:
        raise StudyError(f"study {spec.name}: its MLflow parent run {parent} has runs of {len(numbers)} trials (up to "
                         f"trial {max(numbers)}) but the study storage {url.split('@')[-1]} holds {have}: it was "
                         "emptied or replaced; restore it from a backup, or start over under a new study name (a copy "
                         "of the study file)")
