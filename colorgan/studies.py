"""Optuna studies over the core config: declared search spaces, pruning, resume, worker processes.

Only this module knows Optuna. Every trial is one ``train.run`` (so one nested MLflow run with the core's full
per-epoch logging) under one parent run per study.

Storage: the embedded default is SQLite (WAL journal, 60 s busy timeout) under ``mlruns/optuna.db``, chosen
over Optuna's journal file because RDB storages have heartbeats: a worker killed mid-trial stops beating, the
next worker marks its trial FAIL and retries it (RetryHeartbeatStaleTrialCallback). Workers write a few rows
per epoch, far below what SQLite's locking serialises comfortably; ``tests/test_studies.py`` runs two
workers on one file. PostgreSQL (``STORAGE=postgresql://...``) is the same code path for many machines.
"""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import time
import tomllib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import optuna
import pandas as pd

from colorgan import config as config_mod
from colorgan import tracking, train

# Heartbeats and stale-trial retry are the features this runner is built on; their 'experimental' label is noise.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

SPEC_KEYS = {"base", "fixed", "search", "objective", "budget", "sampler", "pruner", "runner"}
SAMPLERS = ("tpe", "random", "grid", "nsga2")
PRUNERS = ("median", "hyperband", "successive_halving", "threshold", "none")
COUNTED_FAIL = "colorgan.fail_reason"  # a trial failed by its own training (NaN, error): it used its budget


PROJECT = Path(__file__).resolve().parent.parent  # the checkout: experiments/ and studies/ live here


def experiments_dir() -> Path:
    return PROJECT / "experiments"


def resolve_path(name_or_path: str) -> Path:
    """``lr_sweep`` -> studies/lr_sweep.toml; a path is taken as it is."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return path
    return PROJECT / "studies" / f"{name_or_path}.toml"


class StudyError(ValueError):
    """A study file that cannot run: the message names the problem."""


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # float | int | categorical
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def suggest(self, trial: optuna.Trial) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_categorical(self.name, list(self.choices))


@dataclass(frozen=True)
class StudySpec:
    name: str
    path: Path | None
    base: str
    fixed: dict = field(default_factory=dict)
    params: tuple[Param, ...] = ()
    metrics: tuple[str, ...] = ("eval/psnr",)
    directions: tuple[str, ...] = ("maximize",)
    trials: int = 8
    timeout_minutes: float = 0.0  # 0 = no time budget
    sampler: dict = field(default_factory=lambda: {"name": "tpe", "seed": 0})
    pruner: dict = field(default_factory=lambda: {"name": "median"})
    runner: dict = field(default_factory=dict)  # heartbeat_interval, grace_period, max_retry (seconds / count)

    def base_config(self, overrides: dict | None = None) -> config_mod.Config:
        base = config_mod.load(experiments_dir() / f"{self.base}.toml")
        return config_mod.build({**self.fixed, **(overrides or {}), "experiment": f"study-{self.name}"}, base)

    @property
    def multi_objective(self) -> bool:
        return len(self.metrics) > 1


def _param(name: str, table: dict) -> Param:
    kind = config_mod.field_type(name) if name in config_mod.KEYS else None
    if kind is None:
        raise StudyError(f"search.{name}: unknown config key; known keys: {', '.join(config_mod.KEYS)}")
    ptype = table.get("type")
    if ptype not in ("float", "int", "categorical"):
        raise StudyError(f"search.{name}: type must be float, int or categorical, got {ptype!r}")
    unknown = set(table) - {"type", "low", "high", "log", "step", "choices"}
    if unknown:
        raise StudyError(f"search.{name}: unknown setting(s) {', '.join(sorted(unknown))}")
    if ptype == "categorical":
        choices = table.get("choices")
        if not isinstance(choices, list) or not choices:
            raise StudyError(f"search.{name}: categorical needs a non-empty list of choices")
        for choice in choices:
            try:
                config_mod.build({name: choice})
            except config_mod.ConfigError as exc:
                raise StudyError(f"search.{name}: bad choice {choice!r}: {exc}") from None
        return Param(name, ptype, choices=tuple(choices))
    if kind not in ("int", "float") or (ptype == "float" and kind == "int"):
        raise StudyError(f"search.{name}: {ptype} range for a {kind} key; use type = \"{kind}\" or categorical")
    low, high = table.get("low"), table.get("high")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (low, high)):
        raise StudyError(f"search.{name}: low and high must be numbers")
    if not low < high:
        raise StudyError(f"search.{name}: low ({low}) must be below high ({high})")
    log = bool(table.get("log", False))
    if log and low <= 0:
        raise StudyError(f"search.{name}: a log range needs low > 0, got {low}")
    if log and table.get("step"):
        raise StudyError(f"search.{name}: log and step cannot be combined")
    for bound in (low, high):
        try:
            config_mod.build({name: int(bound) if kind == "int" else float(bound)})
        except config_mod.ConfigError as exc:
            raise StudyError(f"search.{name}: bound {bound} is not a valid value: {exc}") from None
    return Param(name, ptype, float(low), float(high), log, table.get("step"))


def load_spec(path: str | Path) -> StudySpec:
    """Read and check a study file; every problem is a StudyError naming it, before any trial starts."""
    path = Path(path)
    if not path.is_file():
        raise StudyError(f"study file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise StudyError(f"{path}: not valid TOML: {exc}") from None
    try:
        return _spec(path, raw)
    except (StudyError, config_mod.ConfigError) as exc:
        raise StudyError(f"{path}: {exc}") from None


def _spec(path: Path, raw: dict) -> StudySpec:
    unknown = set(raw) - SPEC_KEYS
    if unknown:
        raise StudyError(f"unknown section(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(SPEC_KEYS))}")
    base = raw.get("base", "lab_advanced")
    if not (experiments_dir() / f"{base}.toml").is_file():
        raise StudyError(f"base experiment {base!r} not found in experiments/")
    search = raw.get("search", {})
    if not search:
        raise StudyError("the [search] section declares no hyper-parameter")
    params = tuple(_param(name, table) for name, table in search.items())
    overlap = set(raw.get("fixed", {})) & set(search)
    if overlap:
        raise StudyError(f"{', '.join(sorted(overlap))}: both fixed and searched")
    objective = raw.get("objective", {})
    metrics = tuple(objective.get("metrics", ["eval/psnr"]))
    directions = tuple(objective.get("directions", ["maximize"] * len(metrics)))
    if len(metrics) != len(directions) or not metrics or any(d not in ("maximize", "minimize") for d in directions):
        raise StudyError("objective: give one direction (maximize/minimize) per metric")
    budget = raw.get("budget", {})
    sampler = {"name": "tpe", "seed": 0, **raw.get("sampler", {})}
    pruner = {"name": "median", **raw.get("pruner", {})}
    if sampler["name"] not in SAMPLERS:
        raise StudyError(f"sampler: {sampler['name']!r} is not one of {', '.join(SAMPLERS)}")
    if pruner["name"] not in PRUNERS:
        raise StudyError(f"pruner: {pruner['name']!r} is not one of {', '.join(PRUNERS)}")
    if sampler["name"] == "grid" and any(p.kind != "categorical" for p in params):
        raise StudyError("sampler: grid needs categorical search parameters")
    spec = StudySpec(name=path.stem, path=path, base=base, fixed=raw.get("fixed", {}), params=params,
                     metrics=metrics, directions=directions, trials=int(budget.get("trials", 8)),
                     timeout_minutes=float(budget.get("timeout_minutes", 0)), sampler=sampler, pruner=pruner,
                     runner=raw.get("runner", {}))
    if spec.trials < 1:
        raise StudyError("budget.trials must be at least 1")
    spec.base_config()  # fixed overrides: unknown keys and bad values fail here
    return spec


def storage_url(storage: str | None, root: Path) -> str:
    if storage:
        return storage
    (root / "mlruns").mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(root / 'mlruns' / 'optuna.db').resolve()}"


def open_storage(url: str, spec: StudySpec) -> optuna.storages.RDBStorage:
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        db = url.removeprefix("sqlite:///")
        with sqlite3.connect(db, timeout=60) as conn:  # WAL lets readers and one writer work at once; persistent
            conn.execute("PRAGMA journal_mode=WAL")
        kwargs = {"connect_args": {"timeout": 60}}
    return optuna.storages.RDBStorage(
        url, engine_kwargs=kwargs,
        heartbeat_interval=int(spec.runner.get("heartbeat_interval", 30)),
        grace_period=int(spec.runner.get("grace_period", 120)),
        heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
            max_retry=int(spec.runner.get("max_retry", 2))),
    )


def _sampler(spec: StudySpec, worker: int = 0) -> optuna.samplers.BaseSampler:
    """Worker k gets seed + k: the same seed in every process would sample the same params in each."""
    name, seed = spec.sampler["name"], spec.sampler.get("seed")
    if seed is not None:
        seed = int(seed) + worker
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
    return optuna.create_study(study_name=spec.name, storage=open_storage(url, spec), sampler=_sampler(spec, worker),
                               pruner=_pruner(spec), directions=list(spec.directions), load_if_exists=True)


class Pruned(Exception):
    """Raised inside fit() when the pruner stops a trial; the MLflow run ends KILLED, tagged PRUNED."""

    mlflow_status = "KILLED"


class ReportToTrial(keras.callbacks.Callback):
    """After the core's per-epoch evaluation (it runs first and fills ``logs``), report and maybe prune."""

    def __init__(self, trial: optuna.Trial, metric: str, can_prune: bool):
        super().__init__()
        self.trial, self.metric, self.can_prune = trial, metric, can_prune
        self.epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1
        self.trial.set_user_attr("epochs", self.epochs)
        if not self.can_prune:
            return
        value = float((logs or {})[self.metric])
        self.trial.report(value, epoch + 1)
        if self.trial.should_prune():
            raise Pruned(f"pruned after epoch {epoch + 1}: {self.metric} = {value:.3f}")


def _objective(spec: StudySpec, parent_run_id: str, root: Path, epochs: int | None):
    def objective(trial: optuna.Trial):
        values = {p.name: p.suggest(trial) for p in spec.params}
        overrides = {**values, "run_name": f"trial-{trial.number}"}
        if epochs:
            overrides["epochs"] = epochs
        cfg = spec.base_config(overrides)
        tags = {"colorgan.study": spec.name, "colorgan.trial": trial.number, "colorgan.role": "trial",
                "colorgan.trial_state": "RUNNING", **{f"param.{k}": v for k, v in values.items()}}
        reporter = ReportToTrial(trial, spec.metrics[0], not spec.multi_objective)
        state = {"run_id": None}

        def started(run_id: str) -> None:
            state["run_id"] = run_id
            trial.set_user_attr("mlflow_run_id", run_id)

        try:
            result = train.run(cfg, spec.path, parent_run_id=parent_run_id, tags=tags, root=root, verbose=0,
                               callbacks=(reporter,), on_start=started)
        except Pruned as exc:
            _close(root, state["run_id"], "PRUNED", reporter.epochs)
            raise optuna.TrialPruned(str(exc)) from None
        except KeyboardInterrupt:
            _close(root, state["run_id"], "FAIL", reporter.epochs)
            raise
        except Exception as exc:
            trial.set_user_attr(COUNTED_FAIL, f"{type(exc).__name__}: {exc}"[:1000])
            _close(root, state["run_id"], "FAIL", reporter.epochs)
            raise
        objective_values = [result.final[m] for m in spec.metrics]
        if not all(math.isfinite(v) for v in objective_values):
            trial.set_user_attr(COUNTED_FAIL, f"non-finite objective {objective_values}")
            _close(root, state["run_id"], "FAIL", reporter.epochs)
            raise train.NonFiniteLoss(f"objective is not finite: {objective_values}")
        _close(root, state["run_id"], "COMPLETE", reporter.epochs)
        return objective_values[0] if len(objective_values) == 1 else objective_values

    return objective


def _close(root: Path, run_id: str | None, state: str, epochs: int) -> None:
    if run_id:
        tracking.set_run_tags(root, run_id, {"colorgan.trial_state": state, "colorgan.epochs_run": epochs})


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
            tracking.mark_run(root, run_id, "FAILED", "worker died mid-trial (no heartbeat); the trial is retried",
                              {"colorgan.trial_state": "FAIL"})
            closed += 1
    return closed


def work(spec: StudySpec, url: str, parent_run_id: str, root: Path, budget: int, epochs: int | None,
         deadline: float | None, worker: int = 0) -> None:
    """One worker: run trials until the study holds ``budget`` finished ones (or time is up)."""
    study = open_study(spec, url, worker)
    objective = _objective(spec, parent_run_id, root, epochs)
    while deadline is None or time.time() + _longest_trial_s(study) < deadline:
        optuna.storages.fail_stale_trials(study)
        close_dead_runs(study, root)
        trials = study.get_trials(deepcopy=False)
        running = sum(t.state == optuna.trial.TrialState.RUNNING for t in trials)
        if _counted(trials) + running >= budget:
            break
        study.optimize(objective, n_trials=1, catch=(Exception,))
        _update_parent(study, spec, parent_run_id, root)


def _longest_trial_s(study: optuna.Study) -> float:
    """The longest finished trial so far: a trial is only started if one that long still ends within the budget."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(((t.datetime_complete - t.datetime_start).total_seconds() for t in done), default=0.0)


def _update_parent(study: optuna.Study, spec: StudySpec, parent_run_id: str, root: Path) -> None:
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        return
    best = study.best_trials[0] if spec.multi_objective else study.best_trial
    tracking.log_parent_progress(
        root, parent_run_id, {"number": best.number, "params": best.params,
                              "values": dict(zip(spec.metrics, best.values, strict=True))},
        max(t.number for t in complete), best.user_attrs.get("mlflow_run_id"))


def summary(study: optuna.Study, spec: StudySpec) -> pd.DataFrame:
    rows = []
    for t in study.get_trials(deepcopy=False):
        row = {"number": t.number, "state": t.state.name}
        row.update({f"params_{k}": v for k, v in t.params.items()})
        for metric, value in zip(spec.metrics, t.values or [None] * len(spec.metrics), strict=True):
            row[metric] = value
        row["epochs_run"] = t.user_attrs.get("epochs", 0)
        end = t.datetime_complete
        row["duration_s"] = round((end - t.datetime_start).total_seconds(), 1) if end and t.datetime_start else None
        row["mlflow_run_id"] = t.user_attrs.get("mlflow_run_id", "")
        rows.append(row)
    return pd.DataFrame(rows)


def best_text(study: optuna.Study, spec: StudySpec) -> str:
    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return "no completed trial yet"
    if spec.multi_objective:
        front = sorted(study.best_trials, key=lambda t: t.number)
        return "Pareto set:\n" + "\n".join(f"  trial {t.number}: {dict(zip(spec.metrics, t.values, strict=True))}"
                                           f" {t.params}" for t in front)
    best = study.best_trial
    return f"best trial {best.number}: {spec.metrics[0]} = {best.value:.4f} with {best.params}"


def print_summary(study: optuna.Study, spec: StudySpec) -> None:
    table = summary(study, spec)
    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_rows", 500):
        print(table.drop(columns=["mlflow_run_id"]).to_string(index=False) if len(table) else "no trials yet")
    print(best_text(study, spec))


def prepare(spec: StudySpec, storage: str | None, root: Path) -> tuple[str, str]:
    """(storage URL, parent run id): the study and its one MLflow parent run, created or found again."""
    url = storage_url(storage, root)
    study = open_study(spec, url)
    parent = study.user_attrs.get("mlflow_parent_run_id")
    if parent is None:
        parent = tracking.find_or_create_parent(root, f"study-{spec.name}", spec.name, spec.path)
        study.set_user_attr("mlflow_parent_run_id", parent)
    tracking.set_run_tags(root, parent, {"colorgan.storage": url.split("@")[-1]})
    return url, parent


def run_study(spec: StudySpec, storage: str | None = None, workers: int = 1, trials: int | None = None,
              epochs: int | None = None, root: Path | None = None, threads: int = 0) -> optuna.Study:
    """Create or resume a study and run ``workers`` processes on it until its budget of trials is met."""
    root = root or train.repo_root()
    url, parent = prepare(spec, storage, root)
    budget = trials or spec.trials
    deadline = time.time() + spec.timeout_minutes * 60 if spec.timeout_minutes else None
    tracking.mark_run(root, parent, "RUNNING")  # the parent shows whether a session is working on the study
    try:
        if workers <= 1:
            train.configure_threads(threads)
            work(spec, url, parent, root, budget, epochs, deadline)
        else:
            _spawn(spec, url, workers, budget, epochs, deadline, root)
    except KeyboardInterrupt:
        tracking.mark_run(root, parent, "KILLED")
        raise
    study = open_study(spec, url)
    close_dead_runs(study, root)
    _update_parent(study, spec, parent, root)
    tracking.log_table(root, parent, summary(study, spec).to_csv(index=False), "trials.csv")
    tracking.mark_run(root, parent, "FINISHED")
    return study


def _spawn(spec, url, workers, budget, epochs, deadline, root) -> None:
    """N worker processes (not threads), each with TF's thread pools sized to its share of the cores."""
    share = max(1, (os.cpu_count() or 1) // workers)
    cmd = [sys.executable, "-m", "colorgan", "study", str(Path(spec.path).resolve()), "--worker", "--storage", url,
           "--trials", str(budget), "--threads", str(share)]
    if epochs:
        cmd += ["--epochs", str(epochs)]
    if deadline:
        cmd += ["--deadline", str(deadline)]
    env = {**os.environ, "COLORGAN_HOME": str(root)}
    procs = [subprocess.Popen([*cmd, "--worker-index", str(i)], cwd=root, env=env) for i in range(workers)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        for p in procs:
            p.wait()
        raise
    if any(codes):
        raise RuntimeError(f"study workers exited with codes {codes}")


def best_run_id(name: str, storage: str | None = None, root: Path | None = None) -> str:
    """The MLflow run of a study's best COMPLETE trial (for ``study:NAME`` model references and ``publish``).

    For a multi-objective study, the Pareto-optimal trial with the best first objective.
    """
    url = storage_url(storage, root or train.repo_root())
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
    else:
        best = study.best_trial
    run_id = best.user_attrs.get("mlflow_run_id")
    if not run_id:
        raise StudyError(f"study {name!r}: best trial {best.number} has no MLflow run recorded")
    return run_id
