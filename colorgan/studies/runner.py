"""Running studies: Optuna storage, samplers and pruners, the trial objective, workers, resume and the summary.

Every trial is one ``train.run_training`` (so one nested MLflow run with the core's full per-epoch logging) under one
parent run per study, whose id the study keeps as a user attribute (``PARENT_ATTR``).

Storage: the embedded default is SQLite (WAL journal, 60 s busy timeout) at ``paths.optuna_db``, chosen
over Optuna's journal file because RDB storages have heartbeats: a worker killed mid-trial stops beating, the
next worker marks its trial FAIL and retries it (RetryHeartbeatStaleTrialCallback). Workers write a few rows
per epoch, far below what SQLite's locking serialises comfortably; ``tests/test_studies.py`` runs two
workers on one file. PostgreSQL (``STORAGE=postgresql://...``) is the same code path for many machines.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import sqlalchemy

from colorgan import curves, data, diskspace, gan, heartbeat, metrics, paths, schedule, terminal, tracking, train
from colorgan.studies import answer as answer_mod
from colorgan.studies import lock as lock_mod
from colorgan.studies import pareto as pareto_mod
from colorgan.studies import summaries
from colorgan.studies.spec import Param, StudyError, StudySpec
from colorgan.tracking import liveness, studyruns
from colorgan.tracking import ui as tracking_ui

# Heartbeats and stale-trial retry are the features this runner is built on; their 'experimental' label is noise.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
# Quiet, a trial's line (summaries.trial_line) says how it ended; -v adds Optuna's own INFO lines.
optuna.logging.set_verbosity(optuna.logging.INFO if terminal.is_verbose() else optuna.logging.ERROR)

COUNTED_FAIL = "colorgan.fail_reason"  # a trial failed by its own training (NaN, error): it used its budget
PARENT_ATTR = "mlflow_parent_run_id"  # the study's user attribute naming its MLflow parent run
OWNER_ATTR = "colorgan.owner"  # a trial's user attribute: the process running it (colorgan.heartbeat)
COMPARISONS_ARTIFACT = "comparisons.csv"  # on the parent run: the paired comparisons (reports read it too)
DUPLICATE_ATTR = answer_mod.DUPLICATE_ATTR  # a trial whose values an earlier trial had: its figures, not retrained
PRETRAIN_ATTR = "pretrain_run_id"  # the study's user attribute naming the [pretrain] run every trial starts from
CUT_ATTR = "colorgan.cut_off"  # a trial cut off by a lost tracking server or a full store: no verdict, run again
RETRY_ATTR = "colorgan.retry_of"  # the number of the cut-off trial whose values this trial runs again
WARM_START_NUMBER = -1  # the comparisons table's "against" for the shared warm start (no trial number)


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
            heartbeat_stale_trial_callback=_retry(spec),
        )
    except sqlalchemy.exc.DatabaseError as exc:
        raise StudyError(f"the study storage {url.split('@')[-1]} cannot be read ({exc.orig}); restore it from a "
                         "backup, or give another --storage") from None


def _retry(spec: StudySpec) -> optuna.storages.RetryHeartbeatStaleTrialCallback:
    return optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=int(spec.runner.get("max_retry", 2)))


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


def suggest(trial: optuna.Trial, param: Param) -> Any:
    if param.kind == "float":
        return trial.suggest_float(param.name, param.low, param.high, log=param.log, step=param.step)
    if param.kind == "int":
        return trial.suggest_int(param.name, int(param.low), int(param.high), log=param.log,
                                 step=int(param.step or 1))
    return trial.suggest_categorical(param.name, list(param.choices))


def _sampler(spec: StudySpec, worker: int = 0, done: int = 0) -> optuna.samplers.BaseSampler:
    """Worker k gets seed + k, and a study resumed with ``done`` trials another seed again: the same seed in
    every process, or in every call, would sample the same params each time."""
    name, seed = spec.sampler["name"], spec.sampler.get("seed")
    if seed is not None:
        seed = int(seed) + worker + 1000 * done
    if name == "grid":
        return optuna.samplers.GridSampler({p.name: list(p.choices) for p in spec.params}, seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=int(spec.sampler.get("n_startup_trials", 4)),
                                      multivariate=bool(spec.sampler.get("multivariate", True)))


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


def open_study(spec: StudySpec, url: str, worker: int = 0) -> optuna.Study:
    storage = open_storage(url, spec)
    study = optuna.create_study(study_name=spec.name, storage=storage, pruner=_pruner(spec),
                                directions=list(spec.directions), load_if_exists=True)
    study.sampler = _sampler(spec, worker, len(study.get_trials(deepcopy=False)))
    return study


class Pruned(Exception):
    """Raised inside fit() when the pruner stops a trial: a normal outcome, so its MLflow run ends FINISHED (not
    KILLED, a failure in the UI), tagged PRUNED and named ``trial-N (pruned)``."""

    mlflow_status = "FINISHED"


class ReportToTrial:
    """A run's epoch.OnEpochEnd hook: the last step of each epoch's end (after its evaluation, checkpoint and
    logging), report the objective to the trial and maybe prune."""

    def __init__(self, trial: optuna.Trial, metric: str, can_prune: bool):
        self.trial, self.metric, self.can_prune = trial, metric, can_prune
        self.epochs = 0
        self.last: float | None = None  # the objective after the last epoch

    def __call__(self, step: int, values: dict[str, float]) -> None:
        self.epochs = step
        self.trial.set_user_attr(summaries.EPOCHS_ATTR, self.epochs)
        self.last = float(values.get(self.metric, math.nan))
        if not self.can_prune or self.metric not in values:  # full_eval = last_epoch: no whole-split figure
            return
        value = float(values[self.metric])
        self.trial.report(value, step)
        if self.trial.should_prune():
            raise Pruned(f"pruned after epoch {step}: {self.metric} = {value:.3f}")


def _objective(spec: StudySpec, parent_run_id: str, root: Path, epochs: int | None, init_from: str = ""):
    def objective(trial: optuna.Trial):
        _record_owner(trial)
        if objective.base_next:
            trial.set_user_attr(summaries.BASE_ATTR, True)
        if objective.retry_of is not None:
            trial.set_user_attr(RETRY_ATTR, objective.retry_of)
        objective.lock.release()  # the trial exists, RUNNING and marked: the next worker's choice sees it
        values = {p.name: suggest(trial, p) for p in spec.params}
        earlier = _same_configuration(trial, values)
        if earlier is not None:  # a discrete space samples a value twice: its seeds would give the same numbers
            trial.set_user_attr(DUPLICATE_ATTR, earlier.number)
            for key, value in earlier.user_attrs.items():
                if key.startswith(("ci95:", "seeds:", answer_mod.MEAN_ATTR)) or key == summaries.REPEATS_ATTR:
                    trial.set_user_attr(key, value)
            print(f"trial {trial.number}: the same values as trial {earlier.number}, not trained again", flush=True)
            return earlier.values[0] if len(earlier.values) == 1 else list(earlier.values)
        overrides = dict(values)
        if epochs:
            overrides["epochs"] = epochs
        if init_from:
            overrides["init_from"] = init_from
        base_cfg = spec.base_config(overrides)
        trial.set_user_attr(summaries.PLANNED_ATTR, schedule.total_epochs(base_cfg))
        seed0 = base_cfg.seed
        finals, run_ids = [], []
        for repeat in range(spec.repeats):
            name = f"trial-{trial.number}" + (f"-seed{repeat}" if spec.repeats > 1 else "")
            cfg = spec.base_config({**overrides, "run_name": name, "seed": seed0 + repeat})
            try:
                finals.append(_one_run(trial, spec, cfg, values, repeat, parent_run_id, root, run_ids))
            except Exception as exc:  # Optuna catches it: work() then stops the study on a full disk or a lost server
                if diskspace.is_full(exc):
                    objective.full = exc
                objective.gone = objective.gone or tracking.gone(exc)
                raise
        per_metric = [[final[m] for final in finals] for m in spec.metrics]
        means = [float(sum(v) / len(v)) for v in per_metric]
        for key in answer_mod.SHOWN:  # the colour figures beside the objectives, for the Pareto table
            if key not in spec.metrics and all(key in final for final in finals):
                trial.set_user_attr(answer_mod.MEAN_ATTR + key, float(sum(f[key] for f in finals) / len(finals)))
        if spec.repeats > 1:
            for metric, vals in zip(spec.metrics, per_metric, strict=True):
                mean, half = metrics.mean_ci(vals)
                trial.set_user_attr(f"ci95:{metric}", half)
                trial.set_user_attr(f"seeds:{metric}", vals)
            trial.set_user_attr(summaries.REPEATS_ATTR, per_metric[0])
        return means[0] if len(means) == 1 else means

    objective.base_next = False  # set by work() when this trial's values are the base experiment's
    objective.retry_of = None  # set by work() when this trial runs a cut-off trial's values again
    objective.full = None  # the error of a trial that ran out of space: no later trial would fare better
    objective.gone = None  # the TrackingGone of a trial whose tracking server went away: none would fare better
    objective.lock = lock_mod.StudyLock("")  # work()'s lock, released once the trial exists
    return objective


def _same_configuration(trial: optuna.Trial, values: dict) -> optuna.trial.FrozenTrial | None:
    """An earlier COMPLETE trial (not itself a copy) with exactly these values, or None."""
    done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return next((t for t in done if t.params == values and DUPLICATE_ATTR not in t.user_attrs), None)


def _one_run(trial: optuna.Trial, spec: StudySpec, cfg, values: dict, repeat: int, parent_run_id: str,
             root: Path, run_ids: list[str]) -> dict[str, float]:
    """One seed of a trial's configuration: a nested MLflow run; only the first seed reports to the pruner."""
    tags = {"colorgan.study": spec.name, "colorgan.trial": trial.number, "colorgan.role": "trial",
            "colorgan.repeat": repeat, "colorgan.trial_state": "RUNNING",
            **{f"param.{k}": v for k, v in values.items()}}
    reporter = ReportToTrial(trial, spec.metrics[0], not spec.multi_objective and repeat == 0)
    state = {"run_id": None}

    def started(run_id: str) -> None:
        state["run_id"] = run_id
        run_ids.append(run_id)
        trial.set_user_attr("mlflow_run_ids", list(run_ids))
        if repeat == 0:
            trial.set_user_attr("mlflow_run_id", run_id)

    loud = terminal.is_verbose()  # -v: Keras' progress bar and every epoch's line; else one line per trial (seed)
    started_at = time.time()

    def close(outcome: str, figures: list[float] | None = None, reason: str = "") -> None:
        _close(root, state["run_id"], outcome, reporter.epochs)
        if state["run_id"]:
            studyruns.name_trial_run(root, state["run_id"], cfg.run_name, outcome)
        _announce(trial, spec, root, state["run_id"], outcome, figures, reporter.epochs, started_at, reason,
                  cfg.seed if spec.repeats > 1 else None)

    try:
        result = train.run_training(cfg, spec.path, parent_run_id=parent_run_id, tags=tags, root=root,
                                    verbose=1 if loud else 0, epoch_lines=loud, on_epoch_end=reporter,
                                    on_start=started, heartbeat=spec.heartbeat)
    except Pruned as exc:
        close("PRUNED", [reporter.last])
        raise optuna.TrialPruned(str(exc)) from None
    except KeyboardInterrupt:
        close("FAIL", reason="interrupted (Ctrl-C)")
        raise
    except Exception as exc:
        if tracking.gone(exc):  # no verdict on the trial, and nothing can be written to MLflow: run again later
            trial.set_user_attr(CUT_ATTR, str(tracking.gone(exc))[:1000])
            raise
        if diskspace.is_full(exc):  # a full disk is no verdict on the trial: it runs again once there is room
            trial.set_user_attr(CUT_ATTR, f"{type(exc).__name__}: {exc}"[:1000])
        else:
            trial.set_user_attr(COUNTED_FAIL, f"{type(exc).__name__}: {exc}"[:1000])
        close("FAIL", reason=f"{type(exc).__name__}: {exc}"[:300])
        raise
    objective_values = [result.final[m] for m in spec.metrics]
    if not all(math.isfinite(v) for v in objective_values):
        trial.set_user_attr(COUNTED_FAIL, f"non-finite objective {objective_values}")
        close("FAIL", reason=f"non-finite objective {objective_values}")
        raise train.NonFiniteLoss(f"objective is not finite: {objective_values}")
    close("COMPLETE", objective_values)
    return result.final


def _close(root: Path, run_id: str | None, state: str, epochs: int) -> None:
    if run_id:
        tracking.set_run_tags(root, run_id, {"colorgan.trial_state": state, "colorgan.epochs_run": epochs})


def _announce(trial: optuna.Trial, spec: StudySpec, root: Path, run_id: str | None, state: str,
              values: list[float] | None, epochs: int, started_at: float, reason: str, seed: int | None) -> None:
    """The one line a trial prints when it ends (summaries.trial_line), its figures next to its run's gray ones."""
    gray = tracking.gray_figures(tracking.run_data(root, run_id)) if run_id else {}
    print(summaries.trial_line(trial.number, state, values, epochs, trial.user_attrs.get(summaries.PLANNED_ATTR),
                               spec, gray, trial.params, time.time() - started_at, reason, seed), flush=True)


def _counted(trials: list[optuna.trial.FrozenTrial]) -> int:
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(t.state in done or (t.state == optuna.trial.TrialState.FAIL and COUNTED_FAIL in t.user_attrs)
               for t in trials)


def close_dead_runs(study: optuna.Study, root: Path) -> int:
    """Failed trials whose MLflow run is still RUNNING belonged to a dead worker: mark those runs FAILED."""
    closed = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)):
        run_id = t.user_attrs.get("mlflow_run_id")
        if run_id and tracking.run_status(root, run_id) == "RUNNING":
            why = ("the tracking server went away mid-trial; the trial is run again" if CUT_ATTR in t.user_attrs
                   else "worker died mid-trial (no heartbeat); the trial is retried")
            tracking.mark_run(root, run_id, "FAILED", why, {"colorgan.trial_state": "FAIL"})
            closed += 1
    return closed


def _record_owner(trial: optuna.Trial) -> None:
    """The process running this trial; the trial number too, since a retried trial inherits its user attributes."""
    trial.set_user_attr(OWNER_ATTR, {"trial": trial.number, "owner": heartbeat.owner(), "space": heartbeat.pid_space()})


def _owner(trial: optuna.trial.FrozenTrial) -> dict | None:
    mine = trial.user_attrs.get(OWNER_ATTR)
    return mine if isinstance(mine, dict) and mine.get("trial") == trial.number else None


def fail_dead_trials(study: optuna.Study, spec: StudySpec) -> int:
    """RUNNING trials whose process is gone (heartbeat.stale_reason on the owner each recorded): FAIL, and retried
    as Optuna retries a trial whose heartbeat lapsed, but at once rather than after the grace period, so a study
    run again right after a crash on this machine finds them."""
    failed = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        mine = _owner(t)
        if mine is None or heartbeat.stale_reason(mine["owner"], mine["space"], None, spec.heartbeat.grace_s) is None:
            continue
        try:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # it finished, or another process failed it first (and retries it)
        _retry(spec)(study, next(f for f in study.get_trials(deepcopy=True) if f.number == t.number))
        failed += 1
    return failed


def work(spec: StudySpec, url: str, parent_run_id: str, root: Path, budget: int, epochs: int | None,
         deadline: float | None, worker: int = 0) -> None:
    """One worker: run trials until the study holds ``budget`` finished ones (or time is up).

    Each choice of the next trial (stale trials failed and retried, the budget counted, the values fixed or the
    sampler seeded) holds the study's lock (studies.lock) until the trial exists, so processes sharing a SQLite
    study never overshoot the budget, run the base values twice or draw the same values from the same seed."""
    study = open_study(spec, url, worker)
    objective = _objective(spec, parent_run_id, root, epochs, study.user_attrs.get(PRETRAIN_ATTR, ""))
    sampler = study.sampler
    objective.lock = lock = lock_mod.StudyLock(url)
    while deadline is None or time.time() + _longest_trial_s(study) < deadline:
        try:
            lock.acquire()
            optuna.storages.fail_stale_trials(study)
            fail_dead_trials(study, spec)
            close_dead_runs(study, root)
            trials = study.get_trials(deepcopy=False)
            running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
            if _counted(trials) + running >= budget:
                break
            # A seed per trial count: two processes that opened the study at once hold equal samplers.
            sampler = _sampler(spec, worker, len(trials))
            # The base experiment's own values first, or a cut-off trial's again: fixed by this worker's sampler (an
            # enqueued trial can be popped by two workers at once on SQLite), marked by the objective.
            base = _base_to_run(study, spec, worker)
            retry = None if base else _cut_off(study)
            fixed = base or (retry.params if retry else {})
            study.sampler = optuna.samplers.PartialFixedSampler(fixed, sampler) if fixed else sampler
            objective.base_next, objective.retry_of = bool(base), retry.number if retry else None
            study.optimize(objective, n_trials=1, catch=(Exception,))
        finally:
            lock.release()
        if objective.full is not None:  # the trial's line ("run R stopped: WHAT; kept ...") names the store
            what = str(objective.full).partition(" stopped: ")[2].partition("; kept ")[0] or str(objective.full)
            raise diskspace.DiskFull(_stopped_line(spec, study, budget, what, "free some space, then"))
        if objective.gone is not None:
            gone = objective.gone
            raise StudyError(_stopped_line(spec, study, budget, f"the tracking server {gone.server} did not answer "
                                           f"for {gone.waited_s:.0f} s (COLORGAN_TRACKING_WAIT_S)",
                                           "once the server answers again:"))
        _update_parent(study, spec, parent_run_id, root)
    study.sampler = sampler


def _not_yet_run_again(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials a lost tracking server or a full store cut off (CUT_ATTR) that no trial has run again yet."""
    again = {t.user_attrs.get(RETRY_ATTR) for t in trials}
    return [t for t in trials if t.state == optuna.trial.TrialState.FAIL and CUT_ATTR in t.user_attrs
            and t.number not in again]


def _cut_off(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The first cut-off trial with values to run again."""
    return next((t for t in _not_yet_run_again(study.get_trials(deepcopy=False)) if t.params), None)


def _stopped_line(spec: StudySpec, study: optuna.Study, budget: int, what: str, then: str) -> str:
    """The one line of a study a lost tracking server or a full store stopped: ``what`` happened (which server and
    how long it was waited for, or which store and its free space), what is kept, and the command that goes on."""
    trials = study.get_trials(deepcopy=False)
    cut = [t.number for t in _not_yet_run_again(trials)]
    again = f"; trial {', '.join(map(str, cut))} was cut off and runs again with the same values" if cut else ""
    return (f"study {spec.name} stopped: {what}; kept: {_counted(trials)} of {budget} trials finished, in the "
            f"Optuna storage{again}; {then} colorgan study {spec.name} goes on")


def _base_to_run(study: optuna.Study, spec: StudySpec, worker: int) -> dict:
    """The base experiment's values, for worker 0 to run as its first trial (trial 0 with one worker); {} once a
    trial holds them, with include_base = false, or when they lie outside the space."""
    if worker != 0 or not spec.include_base or any(
            t.user_attrs.get(summaries.BASE_ATTR) for t in study.get_trials(deepcopy=False)):
        return {}
    return spec.base_values()


def _longest_trial_s(study: optuna.Study) -> float:
    """The longest finished trial so far: a trial is only started if one that long still ends within the budget."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(((t.datetime_complete - t.datetime_start).total_seconds() for t in done), default=0.0)


def _update_parent(study: optuna.Study, spec: StudySpec, parent_run_id: str, root: Path,
                   found: answer_mod.Answer | None = None) -> None:
    """The parent's description (what the study found: the trials table, and a two-objective study's Pareto front
    and recommended trial) and the best objective so far, one point per finished trial (step = its number)."""
    text = summaries.markdown(study, spec, studyruns.gray_by_run(root, parent_run_id))
    if found is not None:
        text += "\n" + "\n".join(f"    {line}" for line in found.lines(spec)) + "\n"
    studyruns.describe_run(root, parent_run_id, text)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return
    finished = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL))
    best = study.best_trial if not spec.multi_objective else next(
        (t for t in complete if found is not None and t.number == found.recommended), study.best_trials[0])
    tracking.log_parent_progress(
        root, parent_run_id, {"number": best.number, "params": best.params,
                              "values": dict(zip(spec.metrics, best.values, strict=True))},
        max(t.number for t in finished), best.user_attrs.get("mlflow_run_id"))


def _gray_by_run(study: optuna.Study, root: Path | None) -> dict[str, dict[str, float]]:
    """The gray figures of the study's trial runs (read from MLflow; none without a project root or a parent)."""
    parent = parent_run_id(study)
    return studyruns.gray_by_run(root, parent) if root is not None and parent else {}


def _per_image(root: Path, trial: optuna.trial.FrozenTrial) -> pd.DataFrame | None:
    """A trial's per-image eval scores, averaged over its seeds (rows: files), None if no run logged them."""
    return _run_per_image(root, trial.user_attrs.get("mlflow_run_ids") or [trial.user_attrs.get("mlflow_run_id")])


def _run_per_image(root: Path, run_ids: list[str]) -> pd.DataFrame | None:
    """Runs' per-image eval scores, averaged over the runs (rows: files), None if none logged them."""
    tables = []
    for run_id in run_ids:
        text = tracking.read_text(root, run_id, train.PER_IMAGE_ARTIFACT) if run_id else None
        if text is not None:
            tables.append(pd.read_csv(io.StringIO(text), keep_default_na=False).set_index("file"))
    if not tables:
        return None
    return pd.concat(tables).groupby(level=0).mean()


def _ranked(study: optuna.Study, spec: StudySpec, first: int | None = None) -> list[optuna.trial.FrozenTrial]:
    """COMPLETE trials, best first by the first objective, or trial ``first`` first (a two-objective study's
    recommended one); a copy of an earlier trial's values is left out."""
    sign = -1.0 if spec.directions[0] == "maximize" else 1.0
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return sorted((t for t in done if DUPLICATE_ATTR not in t.user_attrs),
                  key=lambda t: (t.number != first, sign * t.values[0]))


def comparisons(study: optuna.Study, spec: StudySpec, root: Path, first: int | None = None) -> pd.DataFrame:
    """The best configuration (or trial ``first``: the recommended one) against every other finished one and
    the shared warm start, paired on the same eval images: per score of metrics.PAIRED, the mean per-image
    difference (best - other) with its 95% CI and a verdict for the best; for a "within noise" verdict, the
    smallest difference these images detect and the images the observed one needs."""
    ranked = _ranked(study, spec, first)
    warm = study.user_attrs.get(PRETRAIN_ATTR, "")
    if len(ranked) < (1 if warm else 2):
        return pd.DataFrame()
    tables = {t.number: _per_image(root, t) for t in ranked}
    best = ranked[0]
    others = [(other.number, tables[other.number], "base" if other.user_attrs.get(summaries.BASE_ATTR) else
               ("runner-up" if rank == 2 else f"rank {rank}")) for rank, other in enumerate(ranked[1:], start=2)]
    if warm:  # the GAN phase against no GAN phase at all: the generator every trial started from
        others.append((WARM_START_NUMBER, _run_per_image(root, [warm]), answer_mod.pareto.WARM_START))
    rows = []
    for number, b, role in others:
        a = tables[best.number]
        if a is None or b is None:
            continue
        joined = a.join(b, how="inner", lsuffix="_a", rsuffix="_b")
        for score, better in metrics.PAIRED:
            if f"{score}_a" not in joined or f"{score}_b" not in joined:  # a run from before the score existed
                continue
            result = metrics.paired_difference(joined[f"{score}_a"], joined[f"{score}_b"], score, better)
            noise = result.verdict == "within noise"  # what it would need to resolve; blank for a clear verdict
            rows.append({"best": best.number, "against": number, "against_is": role, "score": score,
                         "difference": round(result.mean, 6), "ci95_low": round(result.low, 6),
                         "ci95_high": round(result.high, 6), "images": result.images, "verdict": result.verdict,
                         "detectable": round(result.detectable, 6) if noise else math.nan,
                         "needed": result.needed if noise else None})
    return pd.DataFrame(rows).astype({"needed": "Int64"}) if rows else pd.DataFrame()


def _mean_of(score: str) -> metrics.Metric:
    """The declared figure a mean per-image difference of ``score`` is a difference of ("PSNR mean", not the
    pooled PSNR the study's objective reads)."""
    return next(m for m in metrics.MEANS if m.mean_of == score)


def comparison_lines(table: pd.DataFrame) -> list[str]:
    """The comparisons in words a reader can paste: one line per compared trial."""
    def would_need(r) -> str:
        """"; detectable at this budget: ±0.04 dB; 2,300 images would resolve +0.02" for a "within noise" row (a
        comparisons.csv from before these columns has none)."""
        detectable, needed = getattr(r, "detectable", None), getattr(r, "needed", None)
        if r.verdict != "within noise" or detectable is None or pd.isna(detectable):
            return ""
        metric = _mean_of(r.score)
        digits, unit = max(2, metric.digits), f" {metric.unit}" if metric.unit else ""
        text = f"; detectable at this budget: ±{detectable:.{digits}f}{unit}"
        if needed is None or pd.isna(needed):
            return text + "; no number of images would resolve a difference of 0"
        return text + f"; {int(needed):,} images would resolve {r.difference:+.{digits}f}"

    lines = []
    if table.empty:  # fewer than two finished trials, or none logged its per-image scores
        return lines
    for (best, other, role), group in table.groupby(["best", "against", "against_is"], sort=False):
        parts = [f"{(m := _mean_of(r.score)).label} {r.difference:+.{m.digits}f} [{r.ci95_low:+.{m.digits}f}, "
                 f"{r.ci95_high:+.{m.digits}f}]{' dB' if m.unit == 'dB' else ''} ({r.verdict}{would_need(r)})"
                 for r in group.itertuples()]
        other = "the warm start" if int(other) == WARM_START_NUMBER else f"trial {other}"
        lines.append(f"trial {best} - {other} ({role}), eval split, {group['images'].iloc[0]} images, "
                     f"paired 95% CI: " + "; ".join(parts))
    return lines


def summary(study: optuna.Study, spec: StudySpec, root: Path | None = None) -> pd.DataFrame:
    """The trials table (summaries.table), with the gray figures of the trials' runs when ``root`` is given."""
    return summaries.table(study, spec, _gray_by_run(study, root))


def best_text(study: optuna.Study, spec: StudySpec, root: Path | None = None) -> str:
    return summaries.best_text(study, spec, _gray_by_run(study, root))


def study_answer(study: optuna.Study, spec: StudySpec, root: Path | None) -> answer_mod.Answer | None:
    """A two-objective study's Pareto table and recommended trial (studies.answer); None for one objective."""
    parent = parent_run_id(study)
    if root is None or parent is None or not spec.multi_objective:
        return None
    return answer_mod.answer(study, spec, root, parent, study.user_attrs.get(PRETRAIN_ATTR, ""))


def print_summary(study: optuna.Study, spec: StudySpec, root: Path | None = None) -> None:
    gray = _gray_by_run(study, root)
    table = summaries.table(study, spec, gray)
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_rows", 500):
        print(summaries.as_text(table, spec).to_string(index=False) if len(table) else "no trials yet")
    print(summaries.best_text(study, spec, gray))
    if len(table):
        print(summaries.NOTE.replace("\\", ""))
    found = study_answer(study, spec, root)
    if found is not None:
        print("\n".join(found.lines(spec)))
        print(f"(the figure: {pareto_mod.FIGURE_ARTIFACT} on the study's parent run in MLflow, and `make report "
              f"NAME={spec.name}`)")
    if root is not None and (not spec.multi_objective or found is not None):
        for line in comparison_lines(logged_comparisons(study, spec, root, found.recommended if found else None)):
            print(line)
    cost = cpu_split(study, root) if root is not None else None
    if cost:
        print(cost)


def cpu_split(study: optuna.Study, root: Path) -> str:
    """Where the study's CPU time went (from its runs' logged cpu_seconds, eval_cpu_seconds and the curve
    points' curve/eval_cpu_seconds): the shared warm start, the trials' runs, and of those the evaluation."""
    parent = parent_run_id(study)
    if parent is None:
        return ""
    runs = [r for r in tracking.child_runs(root, parent) if "cpu_seconds" in r.data.metrics]
    if not runs:
        return ""
    total = sum(r.data.metrics["cpu_seconds"] for r in runs)
    whole = sum(r.data.metrics.get("eval_cpu_seconds", 0.0) for r in runs)
    points = sum(r.data.metrics.get(curves.CPU_KEY, 0.0) for r in runs)
    text = (f"CPU time: trials {total:,.0f} s ({len(runs)} runs), of which evaluation {whole + points:,.0f} s "
            f"(the whole eval split {whole:,.0f} s, the curve points' subset {points:,.0f} s)")
    warm = study.user_attrs.get(PRETRAIN_ATTR, "")
    if warm:
        data = tracking.run_data(root, warm)
        cost = data.metrics.get("cpu_seconds", float("nan"))
        by = data.tags.get("colorgan.study", "")
        text += (f"; the shared warm start {cost:,.0f} s" + (f" (trained by study {by}, shared: 0 s to a study "
                                                              f"that found it)" if by else ""))
    return text


def logged_comparisons(study: optuna.Study, spec: StudySpec, root: Path, first: int | None = None) -> pd.DataFrame:
    """The comparisons the last `colorgan study` logged on the parent run (COMPARISONS_ARTIFACT), when they are
    of the study's present finished trials; else computed now (which downloads every trial's per-image scores)."""
    parent = parent_run_id(study)
    text = tracking.read_text(root, parent, COMPARISONS_ARTIFACT) if parent else None
    if text:
        logged = pd.read_csv(io.StringIO(text))
        ranked = _ranked(study, spec, first)
        against = set(logged["against"].astype(int)) - {WARM_START_NUMBER}
        if ranked and int(logged["best"].iloc[0]) == ranked[0].number and \
                against == {t.number for t in ranked[1:]}:
            return logged
    return comparisons(study, spec, root, first)


def parent_run_id(study: optuna.Study) -> str | None:
    """The study's MLflow parent run (set by ``prepare``), None before the study was first prepared."""
    return study.user_attrs.get(PARENT_ATTR)


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
    tracking.set_run_tags(root, parent, {"colorgan.storage": url.split("@")[-1]})
    _show_study(spec, root, parent)
    pretrained = pretrain(spec, root, parent)
    if pretrained:
        study.set_user_attr(PRETRAIN_ATTR, pretrained)
    return parent


def _show_study(spec: StudySpec, root: Path, parent: str) -> None:
    """What the MLflow UI shows of the study before any trial: its settings as the parent's params, and the
    experiment's runs view (trials ranked by the objective, with the searched params and the gray figure)."""
    studyruns.log_new_params(root, parent, summaries.space_params(spec))
    gray = [tracking.GRAY_PARAM + (m.gain_of or m.name) for m in map(metrics.declared, spec.metrics[:1])
            if m is not None]
    tracking_ui.save_runs_view(root, studyruns.experiment_of(root, parent), spec.metrics[0],
                               spec.directions[0] == "minimize", list(spec.metrics),
                               [p.name for p in spec.params] + gray, ["colorgan.trial_state", "colorgan.epochs_run"])


def check_objective(spec: StudySpec) -> None:
    """Every objective must be a figure each trial logs: a typo would otherwise fail every trial at its end."""
    logged = {f"eval/{m}" for m in (*metrics.QUALITY, *metrics.GAINS)} | {
        f"{where}/{loss}" for where in ("train", "eval") for loss in gan.ADVERSARIAL_LOSSES} | {
        "images_per_sec", "epoch_seconds", "eval_seconds", "cpu_seconds", "images_seen"}
    unknown = [m for m in spec.metrics if m not in logged]
    if unknown:
        raise StudyError(f"objective: {', '.join(unknown)} is logged by no run; "
                         f"choose from {', '.join(sorted(logged))}")


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
    _, _, _, data_info = data.split_dataset(cfg, root)
    resolved = {**cfg.to_dict(), "data_dir": data_info["data_dir"], "data_fingerprint": data_info["fingerprint"]}
    key = hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()[:16]
    tags = {"colorgan.role": "pretrain", "colorgan.pretrain_key": key}
    found = tracking.find_finished_run(root, cfg.experiment, tags)
    if found is None:
        print(f"study {spec.name}: training the shared warm start ([pretrain], {cfg.pretrain_epochs} + "
              f"{cfg.epochs} epochs) once", flush=True)
        found = train.run_training(cfg, spec.path, tags={**tags, "colorgan.study": spec.name}, root=root,
                                   verbose=0).run_id
    else:
        print(f"study {spec.name}: the shared warm start ([pretrain]) is run {found}, trained before", flush=True)
    tracking.set_run_tags(root, parent, {"colorgan.pretrain_run": found})
    return found


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
        _run_budget(spec, url, parent, root, budget, epochs, deadline, workers, threads)
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
    found = study_answer(study, spec, root)
    _update_parent(study, spec, parent, root, found)
    tracking.log_table(root, parent, summary(study, spec, root).to_csv(index=False), "trials.csv")
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


def _run_budget(spec: StudySpec, url: str, parent: str, root: Path, budget: int, epochs: int | None,
                deadline: float | None, workers: int, threads: int) -> None:
    """This session's workers, run again while the budget still wants trials they can run; the parent run beats
    meanwhile (colorgan.tracking.liveness), so it is not left RUNNING if the session dies."""
    with liveness.keep_alive(root, parent, spec.heartbeat):
        if workers <= 1:
            train.configure_threads(threads)
        while True:
            if workers <= 1:
                work(spec, url, parent, root, budget, epochs, deadline)
            else:
                _spawn(spec, url, workers, budget, epochs, deadline, root)
            if not _wants_more(spec, url, budget, deadline):
                return


def _wants_more(spec: StudySpec, url: str, budget: int, deadline: float | None) -> bool:
    """After this session's workers stopped: whether the budget still wants trials they can run (a trial that
    another process was running ended or died meanwhile). A trial of the budget still alive elsewhere is waited for
    up to twice the longest finished trial plus one grace period and a beat; past that, a StudyError says it may
    still be running, rather than report the study done while it is not."""
    beat = spec.heartbeat
    study = open_study(spec, url)
    # a live trial is waited for as long as twice the longest finished one (another session's last trial, on a
    # busy machine), plus a grace period: a trial that long overdue is reported, not waited for
    give_up = time.time() + beat.grace_s + beat.interval_s + 2 * _longest_trial_s(study)
    while True:
        optuna.storages.fail_stale_trials(study)
        fail_dead_trials(study, spec)
        trials = study.get_trials(deepcopy=False)
        done = _counted(trials)
        if done >= budget or (deadline is not None and time.time() + _longest_trial_s(study) >= deadline):
            return False
        running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]
        if not running:
            return True
        if time.time() >= give_up:
            who = ", ".join(f"trial {t.number} ({(_owner(t) or {}).get('owner', 'owner unknown')})" for t in running)
            raise StudyError(f"study {spec.name}: {done} of {budget} trials finished; {who} may still be running "
                             f"elsewhere (heartbeat within the {beat.grace_s:g} s grace period): run this again once "
                             "it has ended")
        time.sleep(beat.interval_s)


def _check_trial_count(spec: StudySpec, study: optuna.Study, parent: str, root: Path, url: str) -> None:
    """The parent run's trial runs against the Optuna study: MLflow holding a trial number Optuna never had means
    the study's storage was emptied, replaced or rolled back; going on would number trials from 0 again under
    the same parent, beside the old ones."""
    tags = [r.data.tags.get("colorgan.trial", "") for r in tracking.child_runs(root, parent)]
    numbers = {int(n) for n in tags if n.isdigit()}
    have = len(study.get_trials(deepcopy=False))
    if numbers and max(numbers) >= have:
        raise StudyError(f"study {spec.name}: its MLflow parent run {parent} has runs of {len(numbers)} trials (up to "
                         f"trial {max(numbers)}) but the study storage {url.split('@')[-1]} holds {have}: it was "
                         "emptied or replaced; restore it from a backup, or start over under a new study name (a copy "
                         "of the study file)")


def run_worker(spec: StudySpec, url: str, budget: int, epochs: int | None = None, deadline: float | None = None,
               index: int = 0, threads: int = 0) -> None:
    """One of the processes ``_spawn`` starts (``colorgan.studies.worker``): the study is prepared, so its
    parent run is read from Optuna, and the project root comes from $COLORGAN_HOME, which ``_spawn`` sets."""
    train.configure_threads(threads)
    parent = parent_run_id(open_study(spec, url))
    if parent is None:
        raise StudyError(f"study {spec.name!r} in {url.split('@')[-1]} was not prepared: start it with colorgan study")
    work(spec, url, parent, paths.repo_root(), budget, epochs, deadline, index)


def _spawn(spec, url, workers, budget, epochs, deadline, root) -> None:
    """N worker processes (not threads), each with TF's thread pools sized to its share of the cores."""
    share = max(1, (os.cpu_count() or 1) // workers)
    cmd = [sys.executable, "-m", "colorgan.studies.worker", str(Path(spec.path).resolve()), "--storage", url,
           "--trials", str(budget), "--threads", str(share)]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    if deadline:
        cmd += ["--deadline", str(deadline)]
    env = {**os.environ, paths.HOME_ENV: str(root)}
    procs = [subprocess.Popen([*cmd, "--index", str(i)], cwd=root, env=env) for i in range(workers)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.wait()
        raise
    if any(codes) and all(code in (0, 2) for code in codes):  # an expected stop: each worker said why in one line
        raise StudyError(f"study {spec.name}: {sum(c == 2 for c in codes)} of {len(codes)} workers stopped (the "
                         f"reason above); colorgan study {spec.name} goes on once it is dealt with")
    if any(codes):
        raise RuntimeError(f"study workers exited with codes {codes}")


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
        picked = tracking.run_data(root or paths.repo_root(), parent).tags.get(pareto_mod.PICK_TAG, "") \
            if parent else ""
        if picked.isdigit():  # the study file's [recommend] rule chose one
            best = next((t for t in complete if t.number == int(picked)), best)
    else:
        best = study.best_trial
    run_id = best.user_attrs.get("mlflow_run_id")
    if not run_id:
        raise StudyError(f"study {name!r}: best trial {best.number} has no MLflow run recorded")
    return run_id
