"""Running trials until the budget is met (colorgan.studies.trial_loop) and a worker process's entry point
(colorgan.studies.worker), on a real SQLite Optuna storage and MLflow store without training: a worker joins only a
prepared study and stops once the budget holds, the session asks for more only while the budget wants it, and the
parent run shows what the study found so far. Trials that train are test_study_runs.py and test_study_workers.py."""

from __future__ import annotations

import os
import time
from pathlib import Path

import optuna
import pytest
from conftest import finished_run

from colorgan import studies, tracking
from colorgan.base import paths, terminal
from colorgan.studies import runner, storage, trial_loop, worker

SMOKE = Path(__file__).resolve().parents[2] / "studies" / "smoke.toml"
State = optuna.trial.TrialState
SPACE = {"lr_g": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}


@pytest.fixture
def quiet(monkeypatch):
    """The variables a worker's terminal.setup sets, given back after the test (it runs in this process)."""
    monkeypatch.setenv(terminal.VERBOSE_ENV, "0")
    for key, value in terminal.QUIET_ENV.items():
        monkeypatch.setenv(key, os.environ.get(key, value))


def _add(study: optuna.Study, state: State, value: float | None = None, lr: float = 1e-3, **attrs) -> None:
    study.add_trial(optuna.trial.create_trial(state=state, value=value, params={"lr_g": lr}, distributions=SPACE,
                                              user_attrs=attrs))


def test_a_worker_joins_only_a_prepared_study(tmp_path, quiet, capsys):
    url = paths.sqlite_url(tmp_path / "optuna.db")
    assert worker.main([str(SMOKE), "--storage", url, "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"colorgan worker: error: study 'smoke' in {url} was not prepared: start it with "
                                "colorgan study"]
    assert optuna.load_study(study_name="smoke", storage=url).trials == []  # no trial started on it


def test_a_worker_on_a_study_whose_budget_is_met_stops_without_a_trial(env, quiet):
    spec = studies.load_spec(SMOKE)
    url, _ = runner.prepare(spec, None, env)
    _add(storage.open_study(spec, url), State.COMPLETE, 1.0)
    assert worker.main([str(SMOKE), "--storage", url, "--trials", "1"]) == 0
    assert worker.main([str(SMOKE), "--storage", url, "--trials", "3", "--deadline", str(time.time() - 1)]) == 0
    assert len(optuna.load_study(study_name="smoke", storage=url).trials) == 1


def test_the_session_wants_more_only_while_the_budget_does(tmp_path):
    spec = studies.load_spec(SMOKE)
    url = paths.sqlite_url(tmp_path / "optuna.db")
    study = storage.open_study(spec, url)
    _add(study, State.COMPLETE, 1.0)
    _add(study, State.PRUNED)
    _add(study, State.FAIL)  # a dead worker's trial: retried, not counted
    assert trial_loop.wants_more(spec, url, 3, None)
    assert not trial_loop.wants_more(spec, url, 2, None)  # complete and pruned trials count
    assert not trial_loop.wants_more(spec, url, 3, time.time() - 1)  # time is up


def test_the_parent_run_shows_the_best_trial_so_far(env):
    spec = studies.load_spec(SMOKE)
    url, parent = runner.prepare(spec, None, env)
    study = storage.open_study(spec, url)
    client = tracking.store.connect(env)
    experiment = client.get_run(parent).info.experiment_id

    def trial(number: int, state: State, value: float | None, lr: float) -> str:
        run = finished_run(client, experiment, f"trial-{number}", params={"lr_g": lr, "gray_psnr": 12.5},
                           tags={"mlflow.parentRunId": parent, "colorgan.trial": number}, metrics={
                               "eval/psnr_gain": {1: value if value is not None else -1.0}})
        _add(study, state, value, lr, run_id=run, epochs=1, epochs_planned=1)
        return run

    runs = [trial(0, State.COMPLETE, 0.5, 4e-4), trial(1, State.COMPLETE, 1.5, 1e-3),
            trial(2, State.PRUNED, None, 5e-3)]
    trial_loop.update_parent(study, spec, parent, env)
    shown = client.get_run(parent).data
    assert shown.tags["best.trial"] == "1" and shown.tags["best.run_id"] == runs[1]
    assert client.get_run(runs[1]).data.tags["colorgan.best"] == "true"
    assert [(m.step, m.value) for m in client.get_metric_history(parent, "best/eval/psnr_gain")] == [(2, 1.5)]
    note = shown.tags["mlflow.note.content"]
    assert "best trial 1: eval PSNR gain over the gray image" in note
    assert note.count("| complete |") == 2 and note.count("| pruned |") == 1

    runs.append(trial(3, State.COMPLETE, 2.0, 2e-3))  # a better one: the best moves, the old best is untagged
    trial_loop.update_parent(study, spec, parent, env)
    assert client.get_run(parent).data.tags["best.trial"] == "3"
    assert [client.get_run(r).data.tags.get("colorgan.best") for r in runs[1::2]] == ["false", "true"]
    assert [(m.step, m.value) for m in client.get_metric_history(parent, "best/eval/psnr_gain")] == [(2, 1.5), (3, 2.0)]
