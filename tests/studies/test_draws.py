"""Trial n's values depend on the study's seed, n and the trials before n only (studies.draws, issue 33 point 6),
drawn on real SQLite Optuna storages by the samplers a study file makes: whichever worker draws a trial, and
whichever earlier trial ends first, the values are those one worker draws alone. Then draws' parts on their own:
one sampler per trial, the study cut at the trial, and the wait for the trials before it."""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path

import optuna
import pytest

from colorgan import studies
from colorgan.base import paths
from colorgan.studies import draws, objective, storage

# ask() and tell() stand in for study.optimize here: the storage's heartbeats are not needed for the draws
pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used:UserWarning")
SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"


def _spec(**sampler) -> studies.StudySpec:
    """The smoke study (lr_g, log scale; a 2 s heartbeat, so a waiting draw looks every 2 s) with this sampler."""
    return dataclasses.replace(studies.load_spec(SMOKE), sampler={"seed": 0, **sampler})


def _draw(trial, spec: studies.StudySpec, within_s: float) -> tuple[threading.Thread, dict]:
    """The trial's values as the objective suggests them, drawn in a thread given ``within_s`` seconds: the thread
    (alive if the draw still waits) and the values (filled in once it is done)."""
    drawn: dict = {}
    thread = threading.Thread(target=lambda: drawn.update({p.name: objective.suggest(trial, p) for p in spec.params}))
    thread.start()
    thread.join(within_s)
    return thread, drawn


def _drawn(trial, spec: studies.StudySpec) -> dict:
    thread, drawn = _draw(trial, spec, 10)
    assert not thread.is_alive(), f"trial {trial.number}'s draw waited, with nothing to wait for"
    return drawn


def _score(params: dict) -> float:
    """A made-up objective with its best at lr_g = 1e-3: what TPE's later draws read."""
    return -(math.log10(params["lr_g"]) + 3) ** 2


def _alone(spec: studies.StudySpec, url: str, trials: int) -> list[dict]:
    """One worker: each trial drawn, then ended, before the next."""
    study, drawn = storage.open_study(spec, url), []
    for _ in range(trials):
        trial = study.ask()
        drawn.append(_drawn(trial, spec))
        study.tell(trial, _score(drawn[-1]))
    return drawn


def test_tpe_draws_the_same_values_whichever_worker_draws_and_whichever_trial_ends_first(tmp_path):
    spec = _spec(name="tpe", n_startup_trials=2)
    expected = _alone(spec, paths.sqlite_url(tmp_path / "alone.db"), 5)
    url = paths.sqlite_url(tmp_path / "two.db")
    w0, w1 = storage.open_study(spec, url), storage.open_study(spec, url)  # two workers' processes
    t0, t1 = w0.ask(), w1.ask()
    p0 = _drawn(t0, spec)
    p1 = _drawn(t1, spec)  # a startup draw reads no results: made at once, trial 0 still running
    w1.tell(t1, _score(p1))  # trial 1 ends first
    w0.tell(t0, _score(p0))
    t2, t3 = w1.ask(), w0.ask()
    p2 = _drawn(t2, spec)  # TPE from here: it reads trials 0 and 1, both ended
    waiting, p3 = _draw(t3, spec, 3 * spec.heartbeat.interval_s)
    assert waiting.is_alive(), "trial 3 drew TPE values while trial 2, whose result they read, was still running"
    w1.tell(t2, _score(p2))
    waiting.join(60)
    assert not waiting.is_alive(), "trial 3 still waits once every earlier trial has ended"
    w0.tell(t3, _score(p3))
    p4 = _drawn(w1.ask(), spec)
    assert [p0, p1, p2, p3, p4] == expected
    assert len({p["lr_g"] for p in expected}) == 5


def test_random_draws_never_wait_and_do_not_depend_on_the_worker(tmp_path):
    spec = _spec(name="random")
    expected = _alone(spec, paths.sqlite_url(tmp_path / "alone.db"), 4)
    url = paths.sqlite_url(tmp_path / "two.db")
    workers = [storage.open_study(spec, url), storage.open_study(spec, url)]
    trials = [workers[i % 2].ask() for i in range(4)]  # all four running at once, on alternate workers
    drawn = [_drawn(t, spec) for t in reversed(trials)]  # drawn last first
    assert drawn[::-1] == expected


# --- colorgan.studies.draws itself, on in-memory Optuna studies ------------------------------------------------------

def _ask_and_tell(study, n: int, low: float = 0.0, high: float = 1.0) -> list[float]:
    values = []
    for _ in range(n):
        trial = study.ask()
        values.append(trial.suggest_float("x", low, high))
        study.tell(trial, values[-1])
    return values


def test_each_trial_is_drawn_by_its_own_sampler_and_waits_only_from_reads_from():
    made, waited = [], []

    def for_trial(number):
        made.append(number)
        return optuna.samplers.RandomSampler(seed=number)

    study = optuna.create_study(sampler=draws.InOrder(for_trial, 2, lambda study, n: waited.append(n)))
    drawn = _ask_and_tell(study, 4)
    assert made == [0, 1, 2, 3] and waited == [2, 3]  # one sampler and, from trial 2 on, one wait per trial
    alone = [_ask_and_tell(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=n)), 1)[0] for n in range(4)]
    assert drawn == alone  # trial n's value is seed n's first draw, whatever came before
    never = optuna.create_study(sampler=draws.InOrder(for_trial, None, lambda study, n: waited.append(n)))
    _ask_and_tell(never, 3)
    assert waited == [2, 3]  # reads_from None: a draw that reads no results never waits


def test_a_draw_sees_only_the_trials_numbered_below_it():
    study = optuna.create_study()
    _ask_and_tell(study, 3)
    running = study.ask()  # trial 3, still running
    before = draws.Before(study, 2)
    assert [t.number for t in before.trials] == [0, 1]
    assert [t.number for t in before.get_trials(states=(optuna.trial.TrialState.RUNNING,))] == []
    assert [t.number for t in draws.Before(study, 5)._get_trials(deepcopy=False)] == [0, 1, 2, 3]
    assert before.directions == study.directions  # anything else is the study's own
    before.trials[0].params["x"] = -1.0  # a copy, as Optuna's own get_trials gives
    assert before.trials[0].params["x"] != -1.0
    study.tell(running, 0.5)


def test_the_wait_returns_once_every_earlier_trial_has_finished():
    study = optuna.create_study()
    _ask_and_tell(study, 1)
    first_running, second_running = study.ask(), study.ask()  # trials 1 and 2
    looks = []
    wait = draws.until_earlier_finished(0.05, lambda: looks.append(1))
    wait(study, 1)  # trial 0 has finished: no wait
    waiting = threading.Thread(target=wait, args=(study, 3))
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive() and len(looks) > 2  # trials 1 and 2 still run; it looks again and again
    study.tell(first_running, state=optuna.trial.TrialState.PRUNED)
    waiting.join(0.5)
    assert waiting.is_alive()
    study.tell(second_running, state=optuna.trial.TrialState.FAIL)  # a failed trial has finished too
    waiting.join(5)
    assert not waiting.is_alive()
