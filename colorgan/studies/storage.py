"""A study's Optuna storage, samplers and pruners, and the study-level user attributes.

The embedded default is SQLite (WAL journal, 60 s busy timeout) at ``paths.optuna_db``, chosen over Optuna's journal
file because RDB storages have heartbeats: a worker killed mid-trial stops beating, the next worker marks its trial
FAIL and retries it (RetryHeartbeatStaleTrialCallback). Workers write a few rows per epoch, far below what SQLite's
locking serialises comfortably; ``tests/studies/test_study_workers.py`` runs two workers on one file. PostgreSQL
(``STORAGE=postgresql://...``) is the same code path for many machines.
"""

from __future__ import annotations

import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from colorgan.base import paths, terminal
from colorgan.studies import draws
from colorgan.studies.spec import StudyError, StudySpec

# Heartbeats and stale-trial retry are the features this runner is built on; their 'experimental' label is noise.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# Quiet, a trial's line (summaries.trial_line) says how it ended; -v adds Optuna's own INFO lines.
optuna.logging.set_verbosity(optuna.logging.INFO if terminal.is_verbose() else optuna.logging.ERROR)

PARENT_ATTR = "mlflow_parent_run_id"  # the study's user attribute naming its MLflow parent run
PRETRAIN_ATTR = "pretrain_run_id"  # the study's user attribute naming the [pretrain] run every trial starts from


def storage_url(storage: str | None, root: Path) -> str:
    """``storage`` if given, else the embedded SQLite storage of the project at ``root``."""
    if storage:
        return storage
    paths.mlruns_dir(root).mkdir(parents=True, exist_ok=True)
    return paths.sqlite_url(paths.optuna_db(root))


def open_storage(url: str, spec: StudySpec) -> optuna.storages.RDBStorage:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        _check_sqlite(Path(url.removeprefix("sqlite:///")))
        kwargs = {"connect_args": {"timeout": 60}}
    beat = spec.heartbeat
    try:
        return optuna.storages.RDBStorage(
            url, engine_kwargs=kwargs, heartbeat_interval=int(beat.interval_s), grace_period=int(beat.grace_s),
            heartbeat_stale_trial_callback=retry_stale(spec),
        )
    except sqlalchemy.exc.DatabaseError as exc:
        raise StudyError(f"the study storage {url.split('@')[-1]} cannot be read ({exc.orig}); restore it from a "
                         "backup, or give another --storage") from None


def retry_stale(spec: StudySpec) -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=int(spec.trial_settings.get("max_retry", 2)))


def _check_sqlite(db: Path) -> None:
    """WAL mode (readers and one writer work at once; persistent), on a database that SQLite can read whole: a
    corrupt or truncated file is a one-line StudyError saying how to recover, never a traceback mid-study."""
    try:
        with sqlite3.connect(db, timeout=60) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            problem = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem != "ok":
        raise StudyError(f"the study database {db} is corrupt ({problem}): move it away (mv {db} {db}.corrupt, and "
                         f"its -wal and -shm files) and restore a backup, or start the study under a new name")


def make_sampler(spec: StudySpec, tidy: Callable[[], None] = lambda: None) -> draws.InOrder:
    """Trial n's values drawn by a sampler seeded with seed + 1000 n (what one worker has always given trial n),
    that sees only the trials before n and, where its draw reads their results, waits for them (draws.InOrder):
    the same study file gives the same configurations with any number of workers, and a resumed study new ones.
    ``tidy`` runs before each look while waiting (trial_loop fails dead workers' trials there)."""
    seed = spec.sampler.get("seed")

    def for_trial(number: int) -> optuna.samplers.BaseSampler:
        return _sampler(spec, None if seed is None else int(seed) + 1000 * number)

    return draws.InOrder(for_trial, _reads_results_from(spec),
                         draws.until_earlier_finished(spec.heartbeat.interval_s, tidy))


def _sampler(spec: StudySpec, seed: int | None) -> optuna.samplers.BaseSampler:
    name = spec.sampler["name"]
    if name == "grid":
        return optuna.samplers.GridSampler({p.name: list(p.choices) for p in spec.params}, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=_startup_trials(spec),
                                      multivariate=bool(spec.sampler.get("multivariate", True)))


def _startup_trials(spec: StudySpec) -> int:
    return int(spec.sampler.get("n_startup_trials", 4))


def _reads_results_from(spec: StudySpec) -> int | None:
    """The first trial number whose draw may read earlier trials' results: TPE's once its startup trials can be
    complete, NSGA-II's once its first generation (a population, Optuna's default size) can be; None for random and
    grid (grid's next point depends on the points earlier trials took, all known when the trial is made)."""
    name = spec.sampler["name"]
    if name == "tpe":
        return _startup_trials(spec)
    if name == "nsga2":
        return _sampler(spec, None).population_size
    return None


def _pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    opts = {k: v for k, v in spec.pruner.items() if k != "name"}
    name = spec.pruner["name"]
    if name == "none" or spec.multi_objective:  # Optuna cannot prune multi-objective trials
        return optuna.pruners.NopPruner()
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(**opts)
    if name == "threshold":  # stop any trial whose objective crosses a fixed bound (e.g. diverged)
        return optuna.pruners.ThresholdPruner(**opts)
    if name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(**opts)
    return optuna.pruners.MedianPruner(**opts)


def open_study(spec: StudySpec, url: str) -> optuna.Study:
    storage = open_storage(url, spec)
    study = optuna.create_study(study_name=spec.name, storage=storage, pruner=_pruner(spec),
                                directions=list(spec.directions), load_if_exists=True)
    study.sampler = make_sampler(spec)
    return study


def parent_run_id(study: optuna.Study) -> str | None:
    """The study's MLflow parent run (set by ``prepare``), None before the study was first prepared."""
    return study.user_attrs.get(PARENT_ATTR)
