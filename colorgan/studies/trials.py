"""A study's trials as the runner sees them: which count against the budget, whose process died, which a lost
tracking server or a full store cut off, and how long the longest took.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from colorgan import tracking
from colorgan.base import heartbeat
from colorgan.studies.spec import StudySpec
from colorgan.studies.storage import retry_stale
from colorgan.tracking import studyruns
from colorgan.tracking.tags import TRIAL_STATE_TAG

COUNTED_FAIL = "colorgan.fail_reason"  # a trial failed by its own training (NaN, error): it used its budget
OWNER_ATTR = "colorgan.owner"  # a trial's user attribute: the process running it (colorgan.base.heartbeat)
CUT_ATTR = "colorgan.cut_off"  # a trial cut off by a lost tracking server or a full store: no verdict, run again
RETRY_ATTR = "colorgan.retry_of"  # the number of the cut-off trial whose values this trial runs again


def counted(trials: list[optuna.trial.FrozenTrial]) -> int:
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(t.state in done or (t.state == optuna.trial.TrialState.FAIL and COUNTED_FAIL in t.user_attrs)
               for t in trials)


def close_dead_runs(study: optuna.Study, root: Path) -> int:
    """Failed trials whose MLflow runs (its seed's, the trial's own) are still RUNNING belonged to a dead worker:
    mark those runs FAILED."""
    closed = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)):
        for run_id in (studyruns.trial_run_id(t.user_attrs), t.user_attrs.get(studyruns.GROUP_ATTR)):
            if run_id and tracking.run_status(root, run_id) == "RUNNING":
                why = ("the tracking server went away mid-trial; the trial is run again" if CUT_ATTR in t.user_attrs
                       else "worker died mid-trial (no heartbeat); the trial is retried")
                tracking.mark_run(root, run_id, "FAILED", why, {TRIAL_STATE_TAG: "FAIL"})
                closed += 1
    return closed


def record_owner(trial: optuna.Trial) -> None:
    """The process running this trial; the trial number too, since a retried trial inherits its user attributes."""
    trial.set_user_attr(OWNER_ATTR, {"trial": trial.number, "owner": heartbeat.owner(), "space": heartbeat.pid_space()})


def trial_owner(trial: optuna.trial.FrozenTrial) -> dict | None:
    mine = trial.user_attrs.get(OWNER_ATTR)
    return mine if isinstance(mine, dict) and mine.get("trial") == trial.number else None


def fail_dead_trials(study: optuna.Study, spec: StudySpec) -> int:
    """RUNNING trials whose process is gone (heartbeat.stale_reason on the owner each recorded): FAIL, and retried
    as Optuna retries a trial whose heartbeat lapsed, but at once rather than after the grace period, so a study
    run again right after a crash on this machine finds them."""
    failed = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        mine = trial_owner(t)
        if mine is None or heartbeat.stale_reason(mine["owner"], mine["space"], None, spec.heartbeat.grace_s) is None:
            continue
        try:
            study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        except (ValueError, RuntimeError, optuna.exceptions.UpdateFinishedTrialError):
            continue  # it finished, or another process failed it first (and retries it)
        retry_stale(spec)(study, next(f for f in study.get_trials(deepcopy=True) if f.number == t.number))
        failed += 1
    return failed


def not_yet_run_again(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """The trials a lost tracking server or a full store cut off (CUT_ATTR) that no trial has run again yet."""
    again = {t.user_attrs.get(RETRY_ATTR) for t in trials}
    return [t for t in trials if t.state == optuna.trial.TrialState.FAIL and CUT_ATTR in t.user_attrs
            and t.number not in again]


def cut_off(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The first cut-off trial with values to run again."""
    return next((t for t in not_yet_run_again(study.get_trials(deepcopy=False)) if t.params), None)


def stopped_line(spec: StudySpec, study: optuna.Study, budget: int, what: str, then: str) -> str:
    """The one line of a study a lost tracking server or a full store stopped: ``what`` happened (which server and
    how long it was waited for, or which store and its free space), what is kept, and the command that goes on."""
    trials = study.get_trials(deepcopy=False)
    cut = [t.number for t in not_yet_run_again(trials)]
    again = f"; trial {', '.join(map(str, cut))} was cut off and runs again with the same values" if cut else ""
    return (f"study {spec.name} stopped: {what}; kept: {counted(trials)} of {budget} trials finished, in the "
            f"Optuna storage{again}; {then} colorgan study {spec.name} goes on")


def longest_trial_s(study: optuna.Study) -> float:
    """The longest finished trial so far: a trial is only started if one that long still ends within the budget."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return max(((t.datetime_complete - t.datetime_start).total_seconds() for t in done), default=0.0)
