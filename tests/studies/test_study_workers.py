"""Studies across processes (colorgan.studies.worker, trial_loop): worker processes sharing one SQLite study, the
same configurations with two workers as with one, a SIGKILLed worker's trial failed, retried and its run closed,
Ctrl-C in a study, SIGTERM to a study of two workers, and a rerun that waits for, then reports, a trial still
running elsewhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from conftest import fresh_store
from helpers import tiny_smoke, trial_runs

from colorgan import studies, tracking
from colorgan.base import heartbeat, paths
from colorgan.studies import runner, summaries

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "studies" / "smoke.toml"
State = optuna.trial.TrialState


@pytest.mark.slow
def test_killed_worker_trial_is_failed_retried_and_its_run_closed(env):
    spec = studies.load_spec(SMOKE)
    url, parent = runner.prepare(spec, None, env)
    worker = subprocess.Popen([sys.executable, "-m", "colorgan.studies.worker", str(SMOKE), "--storage", url,
                               "--trials", "1", "--epochs", "1"], env={**os.environ})
    study = optuna.load_study(study_name="smoke", storage=url)
    deadline = time.time() + 180
    while time.time() < deadline and not any("run_id" in t.user_attrs for t in study.get_trials()):
        time.sleep(0.5)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    (dead,) = study.get_trials()
    assert dead.state == State.RUNNING
    dead_run = dead.user_attrs["run_id"]
    assert tracking.run_status(env, dead_run) == "RUNNING"
    time.sleep(spec.trial_settings["grace_period"] + 1)

    study = runner.run_study(spec, trials=1, epochs=1, root=env)
    first, retry = study.trials
    assert first.state == State.FAIL and retry.state == State.COMPLETE
    assert retry.params == first.params
    assert retry.system_attrs["failed_trial"] == first.number
    assert tracking.run_status(env, dead_run) == "FAILED"
    assert tracking.store.connect(env).get_run(dead_run).data.tags["colorgan.trial_state"] == "FAIL"


@pytest.mark.slow
def test_two_worker_processes_share_a_sqlite_study(env):
    spec = studies.load_spec(SMOKE)
    study = runner.run_study(spec, workers=2, trials=2, epochs=1, root=env)
    numbers = [t.number for t in study.trials]
    assert len(numbers) == len(set(numbers)) >= 2
    runs = trial_runs(env, study.user_attrs["mlflow_parent_run_id"])
    for trial in study.trials:
        assert trial.state == State.COMPLETE
        assert runs[trial.number].run_id == trial.user_attrs["run_id"]


@pytest.mark.slow
def test_a_seeded_study_tries_the_same_configurations_with_two_workers_as_with_one(env, tmp_path, empty_mlflow_db,
                                                                                     monkeypatch):
    """Issue 33 (6): the smoke study twice with two workers, each in a fresh store, and once with one: the same
    values trial by trial, trial 0 the base values, whichever worker took which trial and whichever ended first."""
    spec = studies.load_spec(tiny_smoke(tmp_path))
    drawn = []
    for root, workers in ((env, 2), (fresh_store(tmp_path / "again", empty_mlflow_db), 2),
                          (fresh_store(tmp_path / "alone", empty_mlflow_db), 1)):
        monkeypatch.setenv(paths.HOME_ENV, str(root))
        study = runner.run_study(spec, workers=workers, trials=3, epochs=1, root=root)
        assert [t.state for t in study.trials] == [State.COMPLETE] * 3, root
        drawn.append([(t.number, t.params, bool(t.user_attrs.get(summaries.BASE_ATTR))) for t in study.trials])
    assert drawn[0] == drawn[1] == drawn[2]
    assert [base for _, _, base in drawn[0]] == [True, False, False]
    assert len({params["lr_g"] for _, params, _ in drawn[0]}) == 3


@pytest.mark.slow
def test_ctrl_c_marks_the_running_trial_in_optuna_and_mlflow(env):
    spec = studies.load_spec(SMOKE)
    url, _ = runner.prepare(spec, None, env)
    # A shell without job control starts background jobs with SIGINT ignored, and children inherit that (CI may
    # run us so): give the study the terminal's default, as when a user presses Ctrl-C.
    proc = subprocess.Popen([sys.executable, "-m", "colorgan", "study", str(SMOKE), "--trials", "1", "--epochs", "50"],
                            env={**os.environ}, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    study = optuna.load_study(study_name="smoke", storage=url)
    deadline = time.time() + 180
    run_id = None
    while time.time() < deadline and run_id is None:  # wait until the trial is training (its first epoch logged)
        trials = [t for t in study.get_trials() if "run_id" in t.user_attrs]
        client = tracking.store.connect(env)
        if trials and client.get_metric_history(trials[0].user_attrs["run_id"], "eval/psnr"):
            run_id = trials[0].user_attrs["run_id"]
        time.sleep(0.5)
    assert run_id is not None, "the trial never started training"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    (trial,) = study.get_trials()
    assert trial.state == State.FAIL
    run = tracking.store.connect(env).get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags["colorgan.trial_state"] == "FAIL"
    assert run.data.tags["colorgan.error"] == "interrupted (Ctrl-C)"

    # Resume in fresh processes, as a user does: the interrupted trial does not count towards the budget ...
    cli = [sys.executable, "-m", "colorgan", "study", str(SMOKE), "--trials", "1", "--epochs", "1"]
    out = subprocess.run(cli, env={**os.environ}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert [t.state for t in study.get_trials()] == [State.FAIL, State.COMPLETE]
    # ... and once the budget is met, running the same command again adds nothing.
    subprocess.run(cli, env={**os.environ}, check=True, capture_output=True)
    assert len(study.get_trials()) == 2
    parents = tracking.store.connect(env).search_runs([run.info.experiment_id], "tags.`colorgan.role` = 'parent'")
    assert len(parents) == 1


@pytest.mark.slow
def test_sigterm_to_a_study_ends_its_workers_trials_as_ctrl_c_does(env):
    """`kill` (SIGTERM) of `colorgan study --workers 2` alone, not its process group: it passes SIGTERM on to its
    workers; each ends its trial FAIL and its run KILLED at once, as Ctrl-C does, the parent run too, and the study
    goes on when run again."""
    spec = studies.load_spec(SMOKE)
    url, parent = runner.prepare(spec, None, env)
    proc = subprocess.Popen([sys.executable, "-m", "colorgan", "study", str(SMOKE), "--workers", "2", "--trials", "2",
                             "--epochs", "10000"], env={**os.environ, "PYTHONPATH": str(ROOT)},  # the workers too
                            stderr=subprocess.PIPE, text=True)
    study = optuna.load_study(study_name="smoke", storage=url)
    client = tracking.store.connect(env)
    deadline, training = time.time() + 300, []
    while time.time() < deadline and not training:  # a trial is training (its first epoch logged)
        training = [t for t in study.get_trials() if "run_id" in t.user_attrs
                    and client.get_metric_history(t.user_attrs["run_id"], "eval/psnr")]
        time.sleep(0.5)
    assert training, "no trial started training"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err, err[-3000:]
    lines = err.splitlines()
    assert "colorgan: terminated (SIGTERM)" in lines and lines.count("colorgan worker: terminated (SIGTERM)") == 2, err
    trials = study.get_trials()
    assert trials and all(t.state == State.FAIL for t in trials), [t.state for t in trials]
    for trial in trials:
        if "run_id" in trial.user_attrs:
            run = client.get_run(trial.user_attrs["run_id"])
            assert run.info.status == "KILLED" and run.data.tags["colorgan.error"] == "terminated (SIGTERM)"
            assert run.data.tags["colorgan.trial_state"] == "FAIL"
    assert tracking.run_status(env, parent) == "KILLED"
    out = subprocess.run([sys.executable, "-m", "colorgan", "study", str(SMOKE), "--trials", "1", "--epochs", "1"],
                         env={**os.environ}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert study.get_trials()[-1].state == State.COMPLETE

@pytest.mark.slow
def test_a_rerun_never_reports_a_study_done_while_a_trial_is_unfinished(env, tmp_path, capsys):
    from colorgan.__main__ import main

    path = tiny_smoke(tmp_path)
    spec = studies.load_spec(path)
    url, _ = runner.prepare(spec, None, env)
    worker = subprocess.Popen([sys.executable, "-m", "colorgan.studies.worker", str(path), "--storage", url,
                               "--trials", "1", "--epochs", "10000"], env={**os.environ}, start_new_session=True)
    study = optuna.load_study(study_name=spec.name, storage=url)
    deadline = time.time() + 300
    while time.time() < deadline and not any("run_id" in t.user_attrs for t in study.get_trials()):
        time.sleep(0.5)
    owner = f"{heartbeat.owner().rpartition(':')[0]}:{worker.pid}"
    try:
        # Alive in another process: the rerun waits one grace period plus a beat, then says so and exits 2.
        started = time.time()
        assert main(["study", str(path), "--trials", "1", "--epochs", "1"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len([x for x in err.splitlines() if x.startswith("colorgan: error")]) == 1
        assert f"0 of 1 trials finished; trial 0 ({owner}) may still be running elsewhere" in err
        assert spec.heartbeat.grace_s <= time.time() - started < 120
        assert [t.state for t in study.get_trials()] == [State.RUNNING]
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # the whole process group, as `make study` is killed
        worker.wait()
    (dead,) = study.get_trials()
    dead_run = dead.user_attrs["run_id"]
    # Dead: a rerun right away, well within a long grace period, fails and retries the trial and ends the budget.
    spec = studies.load_spec(tiny_smoke(tmp_path, grace=600))
    study = runner.run_study(spec, trials=1, epochs=1, root=env)
    first, retry = study.trials
    assert first.state == State.FAIL and retry.state == State.COMPLETE and retry.params == first.params
    assert tracking.run_status(env, dead_run) == "FAILED"
    assert tracking.store.connect(env).get_run(dead_run).data.tags["colorgan.trial_state"] == "FAIL"

