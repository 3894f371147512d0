"""One trial: its values suggested, each seed one ``train.run_training`` (an MLflow run nested under the trial's own
run, itself under the study's parent, with repeats; else the one seed's run is the trial's, under the parent),
reported to the pruner after each epoch, the trial's figures rounded on its run, and the line it prints when it ends.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import optuna

from colorgan import tracking
from colorgan.base import diskspace, terminal
from colorgan.base.errors import interruption
from colorgan.scoring import critic, metrics
from colorgan.studies import answer as answer_mod
from colorgan.studies import lock as lock_mod
from colorgan.studies import summaries
from colorgan.studies.spec import Param, StudySpec
from colorgan.studies.trials import COUNTED_FAIL, CUT_ATTR, RETRY_ATTR, record_owner
from colorgan.tracking import studyruns
from colorgan.tracking.tags import (
    EPOCHS_RUN_TAG,
    PARAM_PREFIX,
    REPEAT_TAG,
    ROLE_TAG,
    STUDY_TAG,
    TRIAL_STATE_TAG,
    TRIAL_TAG,
)
from colorgan.training import schedule, train

DUPLICATE_ATTR = answer_mod.DUPLICATE_ATTR  # a trial whose values an earlier trial had: its figures, not retrained


def suggest(trial: optuna.Trial, param: Param) -> Any:
    if param.kind == "float":
        return trial.suggest_float(param.name, param.low, param.high, log=param.log, step=param.step)
    if param.kind == "int":
        return trial.suggest_int(param.name, int(param.low), int(param.high), log=param.log,
                                 step=int(param.step or 1))
    return trial.suggest_categorical(param.name, list(param.choices))


class Pruned(Exception):
    """Raised inside fit() when the pruner stops a trial: a normal outcome, so its MLflow run ends FINISHED (not
    KILLED, a failure in the UI), tagged PRUNED and named ``trial-N (pruned)``."""

    run_status = "FINISHED"


class TrialPruned(optuna.TrialPruned):
    """Optuna's pruned trial; the trial's own run (studyruns.trial_group) ends FINISHED too."""

    run_status = "FINISHED"


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


def make_objective(spec: StudySpec, parent_run_id: str, root: Path, epochs: int | None, init_from: str = ""):
    def objective(trial: optuna.Trial):
        record_owner(trial)
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
                if key.startswith(("ci95:", "seeds:", summaries.MEAN_ATTR)) or key == summaries.REPEATS_ATTR:
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
        with _trial_group(trial, spec, values, parent_run_id, root) as group:
            if group:
                trial.set_user_attr(studyruns.GROUP_ATTR, group)
            try:
                for repeat in range(spec.repeats):
                    name = f"trial-{trial.number}" + (f"-seed{repeat}" if spec.repeats > 1 else "")
                    cfg = spec.base_config({**overrides, "run_name": name, "seed": seed0 + repeat})
                    try:
                        finals.append(_one_run(trial, spec, cfg, values, repeat, group or parent_run_id, root,
                                               run_ids))
                    except TrialPruned:  # the trial's figures: the pruned seed's last ones
                        _end_trial(trial, spec, root, group, run_ids[0], "PRUNED",
                                   [tracking.run_data(root, run_ids[0]).metrics])
                        raise
                _end_trial(trial, spec, root, group, run_ids[0], "COMPLETE", finals)
            except Exception as exc:  # Optuna catches it: work() then stops the study on a full disk or a lost server
                if diskspace.is_full(exc):
                    objective.full = exc
                objective.gone = objective.gone or tracking.gone(exc)
                raise
        per_metric = [[final[m] for final in finals] for m in spec.metrics]
        means = [float(sum(v) / len(v)) for v in per_metric]
        for key in answer_mod.SHOWN:  # the colour figures beside the objectives, for the Pareto table
            if key not in spec.metrics and all(key in final for final in finals):
                trial.set_user_attr(summaries.MEAN_ATTR + key, float(sum(f[key] for f in finals) / len(finals)))
        verdicts = [found[0] for found in map(critic.verdict, finals) if found is not None]
        if verdicts:  # a GAN phase: was it a game (any seed at chance makes the configuration's answer void)
            trial.set_user_attr(summaries.CRITIC_ATTR, critic.CHANCE if critic.CHANCE in verdicts else critic.LEARNED)
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


def _trial_group(trial: optuna.Trial, spec: StudySpec, values: dict, parent_run_id: str, root: Path):
    """With repeats, the trial's own run under the study's parent, its seeds' runs nested under it (its id, a user
    attribute); with one seed none (None): that seed's run is the trial's."""
    if spec.repeats == 1:
        return nullcontext(None)
    tags = {STUDY_TAG: spec.name, TRIAL_TAG: trial.number, **{f"{PARAM_PREFIX}{k}": v for k, v in values.items()}}
    return studyruns.trial_group(root, parent_run_id, f"trial-{trial.number}", tags,
                                 {k: summaries.param_text(v) for k, v in values.items()}, spec.heartbeat)


def _end_trial(trial: optuna.Trial, spec: StudySpec, root: Path, group: str | None, run_id: str, state: str,
               seeds: list[dict[str, float]]) -> None:
    """The trial's figures (summaries.trial_figures) on its run: its own (then tagged with its state and named as a
    seed's run is), else its one seed's."""
    studyruns.log_trial_figures(root, group or run_id, summaries.trial_figures(spec, seeds))
    if group:
        _close(root, group, state, trial.user_attrs.get(summaries.EPOCHS_ATTR, 0))
        studyruns.name_trial_run(root, group, f"trial-{trial.number}", state)


def _same_configuration(trial: optuna.Trial, values: dict) -> optuna.trial.FrozenTrial | None:
    """An earlier COMPLETE trial (not itself a copy) with exactly these values, or None."""
    done = trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return next((t for t in done if t.params == values and DUPLICATE_ATTR not in t.user_attrs), None)


def _one_run(trial: optuna.Trial, spec: StudySpec, cfg, values: dict, repeat: int, parent_run_id: str,
             root: Path, run_ids: list[str]) -> dict[str, float]:
    """One seed of a trial's configuration: an MLflow run nested under ``parent_run_id`` (the trial's own run, or the
    study's parent); only the first seed reports to the pruner."""
    tags = {STUDY_TAG: spec.name, TRIAL_TAG: trial.number, ROLE_TAG: "trial", REPEAT_TAG: repeat,
            TRIAL_STATE_TAG: "RUNNING", **{f"{PARAM_PREFIX}{k}": v for k, v in values.items()}}
    reporter = ReportToTrial(trial, spec.metrics[0], not spec.multi_objective and repeat == 0)
    state = {"run_id": None}

    def started(run_id: str) -> None:
        state["run_id"] = run_id
        run_ids.append(run_id)
        trial.set_user_attr(studyruns.RUNS_ATTR, list(run_ids))
        if repeat == 0:
            trial.set_user_attr(studyruns.RUN_ATTR, run_id)

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
        raise TrialPruned(str(exc)) from None
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (base.errors.Terminated)
        close("FAIL", reason=interruption(exc))
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
        tracking.set_run_tags(root, run_id, {TRIAL_STATE_TAG: state, EPOCHS_RUN_TAG: epochs})


def _announce(trial: optuna.Trial, spec: StudySpec, root: Path, run_id: str | None, state: str,
              values: list[float] | None, epochs: int, started_at: float, reason: str, seed: int | None) -> None:
    """The one line a trial prints when it ends (summaries.trial_line), its figures next to its run's gray ones."""
    data = tracking.run_data(root, run_id) if run_id else None
    gray = tracking.gray_figures(data) if data else {}
    game = critic.verdict(data.metrics) if data else None
    print(summaries.trial_line(trial.number, state, values, epochs, trial.user_attrs.get(summaries.PLANNED_ATTR),
                               spec, gray, trial.params, time.time() - started_at, reason, seed,
                               critic_text=summaries.critic_text(data.metrics if data else {}, game)), flush=True)
