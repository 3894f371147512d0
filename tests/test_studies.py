"""Studies against real Optuna storages (SQLite, PostgreSQL) and real MLflow stores (SQLite, a local server)."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import io
import itertools
import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from conftest import free_port, fresh_store, wait_for_mlflow_server

from colorgan import studies, tracking
from colorgan.base import config, heartbeat, paths
from colorgan.scoring import metrics
from colorgan.studies import comparisons, printout, runner, storage, summaries
from colorgan.tracking import studyruns
from colorgan.training import train

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "studies" / "smoke.toml"
State = optuna.trial.TrialState


def _spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


GOOD = '[search.lr_g]\ntype = "float"\nlow = 1e-4\nhigh = 1e-2\nlog = true\n'


@pytest.mark.parametrize("text, message", [
    ('base = "smoke"\n[search.lr_gg]\ntype = "float"\nlow = 1\nhigh = 2\n', "search.lr_gg: unknown config key"),
    ('[search.lr_g]\ntype = "float"\nlow = 1e-2\nhigh = 1e-4\n', r"low \(0.01\) must be below high"),
    ('[search.color_space]\ntype = "categorical"\nchoices = []\n', "non-empty list of choices"),
    ('[search.batch_size]\ntype = "categorical"\nchoices = [16, "big"]\n', "bad choice 'big'"),
    ('[search.batch_size]\ntype = "float"\nlow = 8\nhigh = 64\n', "float range for a int key"),
    ('[fixed]\nepocs = 2\n' + GOOD, "unknown config key"),
    ('base = "nope"\n' + GOOD, "base experiment 'nope' not found"),
    ('[sampler]\nname = "cmaes"\n' + GOOD, "sampler: 'cmaes'"),
    ('[budget]\ntrials = 0\n' + GOOD, "budget.trials"),
    ('[search]\n', "declares no hyper-parameter"),
    ('[budget]\ntrials = "three"\n' + GOOD, "budget.trials: must be a whole number, got 'three'"),
    ('[budget]\ntrials = 2.5\n' + GOOD, "budget.trials: must be a whole number, got 2.5"),
    ('[budget]\ntimeout_minutes = "1h"\n' + GOOD, "budget.timeout_minutes: must be a finite number, got '1h'"),
    ('[budget]\ntimeout_minutes = nan\n' + GOOD, "budget.timeout_minutes: must be a finite number, got nan"),
    ('[budget]\nminutes = 5\n' + GOOD, r"budget: unknown setting\(s\) minutes"),
    ('[trials]\nheartbeat_interval = "2"\n' + GOOD, "trials.heartbeat_interval: must be a whole number, got '2'"),
    ('[trials]\ngrace_period = 6.5\n' + GOOD, "trials.grace_period: must be a whole number, got 6.5"),
    ('[trials]\nmax_retry = -1\n' + GOOD, "trials.max_retry: must be at least 0, got -1"),
    ('[trials]\nmax_retry = true\n' + GOOD, "trials.max_retry: must be a whole number, got True"),
    ('[trials]\nheartbeat_interval = 10\ngrace_period = 5\n' + GOOD, r"trials.grace_period \(5 s\) must be longer"),
    ('[trials]\nheartbeats = 2\n' + GOOD, r"trials: unknown setting\(s\) heartbeats"),
    ('trials = 3\n' + GOOD, "trials: must be a table"),
    ('[runner]\nmax_retry = 1\n' + GOOD, r"the \[runner\] table is now called \[trials\] \(the same settings\): "
                                          "rename it"),
    ('sampler = "tpe"\n' + GOOD, "sampler: must be a table"),
    ('[sampler]\nname = "tpe"\nseed = "zero"\n' + GOOD, r"sampler \(tpe\).seed: must be a whole number"),
    ('[sampler]\nname = 3\n' + GOOD, "sampler: 3 is not one of"),
    ('[pruner]\nname = "median"\nn_warmup_steps = "1"\n' + GOOD, r"pruner \(median\).n_warmup_steps: must be a whole"),
    ('[pruner]\nname = "median"\nlower = 1.0\n' + GOOD, r"pruner \(median\): unknown setting\(s\) lower"),
    ('[objective]\nmetrics = "eval/psnr"\n' + GOOD, "objective.metrics: must be a list"),
    ('[search]\nlr_g = 0.001\n', "search.lr_g: must be a table"),
])
def test_bad_study_file_names_the_problem(tmp_path, text, message):
    with pytest.raises(studies.StudyError, match=message):
        studies.load_spec(_spec_file(tmp_path, text))


def test_a_binary_study_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "study.toml"
    bad.write_bytes(b"\xff\xfe" + bytes(range(256)))
    with pytest.raises(studies.StudyError, match=r"study.toml: not a TOML text file \(not UTF-8: byte 0xff"):
        studies.load_spec(bad)


def test_reading_a_study_file_loads_neither_optuna_nor_tensorflow():
    code = ("import sys; from colorgan.studies import StudyError, load_spec; from colorgan.studies import spec; "
            f"load_spec({str(SMOKE)!r}); print(sorted({{'optuna', 'tensorflow'}} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_looking_up_a_study_s_best_run_loads_no_tensorflow(tmp_path):
    """study:NAME references (studies.lookup) and the summary's storage reach Optuna and MLflow, not TensorFlow."""
    code = ("import sys; from pathlib import Path; from colorgan import studies; from colorgan.studies import lookup, "
            f"storage\nurl = storage.storage_url(None, Path({str(tmp_path)!r}))\n"
            f"try: lookup.best_run_id('nope', url, Path({str(tmp_path)!r}))\n"
            "except studies.StudyError as exc: print(exc)\n"
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    found, tf_loaded = out.stdout.strip().splitlines()
    assert found.startswith("no study named 'nope' in ") and tf_loaded == "False", out.stdout

ROLES = ("scientific", "nuisance", "fixed")


def role_problems(text: str, spec: studies.StudySpec) -> list[str]:
    """What a study file's header comment gets wrong about the roles of its hyper-parameters (the tuning
    playbook's ``scientific: ... nuisance: ... fixed: ...``): the searched keys are exactly those it names
    scientific or nuisance (remarks in parentheses aside), nuisance names keys or says none, and fixed names
    no searched key but the base experiment and, when there is one, the [fixed] table."""
    header = " ".join(line.lstrip("# ") for line in itertools.takewhile(lambda s: s.startswith("#"), text.splitlines()))
    parts = re.split(r"\b(scientific|nuisance|fixed):", header)
    said = {role: re.sub(r"\([^)]*\)", "", body) for role, body in zip(parts[1::2], parts[2::2], strict=True)}
    missing = [role for role in ROLES if role not in said]
    if missing:
        return [f"the header comment does not say which hyper-parameters are {', '.join(missing)}"]
    named = {role: {k for k in config.KEYS if re.search(rf"\b{k}\b", said[role])} for role in ROLES}
    searched = {p.name for p in spec.params}
    problems = []
    if not named["scientific"]:
        problems.append("scientific: names no config key")
    if named["scientific"] & named["nuisance"]:
        problems.append(f"both scientific and nuisance: {sorted(named['scientific'] & named['nuisance'])}")
    if named["scientific"] | named["nuisance"] != searched:
        problems.append(f"scientific + nuisance name {sorted(named['scientific'] | named['nuisance'])}, "
                        f"the search is over {sorted(searched)}")
    if not named["nuisance"] and not re.match(r"\s*none\b", said["nuisance"]):
        problems.append("nuisance: names no key and does not say none")
    if named["fixed"] & searched:
        problems.append(f"fixed: names searched keys {sorted(named['fixed'] & searched)}")
    if spec.base not in said["fixed"] or (spec.fixed and "[fixed]" not in said["fixed"]):
        problems.append(f"fixed: does not point at the base experiment {spec.base!r} and the [fixed] table")
    return problems


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_study_loads(path):
    spec = studies.load_spec(path)
    assert spec.params and spec.trials >= 1
    assert role_problems(path.read_text(), spec) == [], path.name


SMOKE_HEADER = "# scientific: lr_g; nuisance: none; fixed: everything in [fixed] and the smoke experiment.\n"


@pytest.mark.parametrize("header, problem", [
    ("# scientific: lr_g. fixed: [fixed] and smoke.\n", "does not say which hyper-parameters are nuisance"),
    ("# Tiny. Nothing fixed here: [fixed], smoke.\n", "scientific, nuisance"),
    ("# scientific: lr_g, lr_d. nuisance: none. fixed: [fixed], smoke.\n", "the search is over ['lr_g']"),
    ("# scientific: lr_d. nuisance: lr_g. fixed: [fixed], smoke.\n", "the search is over ['lr_g']"),
    ("# scientific: lr_g. nuisance: lr_g. fixed: [fixed], smoke.\n", "both scientific and nuisance"),
    ("# scientific: lr_g. nuisance: (to come). fixed: [fixed], smoke.\n", "does not say none"),
    ("# scientific: lr_g. nuisance: none.\n# fixed: lr_g at 1e-3, [fixed], smoke.\n", "names searched keys"),
    ("# scientific: lr_g. nuisance: none. fixed: the rest.\n", "does not point at the base experiment"),
    ("# scientific: batch size (lr_g). nuisance: none. fixed: [fixed], smoke\n", "scientific: names no config key"),
])
def test_role_check_fails_a_wrong_header(header, problem):
    spec = studies.load_spec(SMOKE)
    body = "\n".join(itertools.dropwhile(lambda s: s.startswith("#"), SMOKE.read_text().splitlines()))
    assert role_problems(SMOKE_HEADER + body, spec) == []  # the check passes the right header ...
    assert any(problem in p for p in role_problems(header + body, spec))  # ... and fails this one


def _trial(state, value=None, steps=None, **attrs):
    space = {"lr_g": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}
    return optuna.trial.create_trial(state=state, value=value, params={"lr_g": 1e-3}, distributions=space,
                                     intermediate_values=steps or {}, user_attrs=attrs)


def test_summary_puts_each_figure_next_to_the_gray_one_with_its_epoch():
    """The trials table on a real (in-memory) Optuna study: a complete trial's final figure, a pruned one's last
    reported figure and its epoch, the gray figure of each trial's run and the gain over it; the interval column
    appears only once a trial has repeat values. (A PSNR objective: a gain objective has no gray column.)"""
    spec = dataclasses.replace(studies.load_spec(SMOKE), metrics=("eval/psnr",))
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial(State.COMPLETE, 14.0, {1: 13.0, 2: 14.0}, epochs=2, epochs_planned=2, run_id="a"))
    study.add_trial(_trial(State.PRUNED, None, {1: 12.5}, epochs=1, epochs_planned=2, run_id="b"))
    gray = {"a": {"psnr": 13.5}, "b": {"psnr": 13.0}}
    rows = summaries.table(study, spec, gray).to_dict("records")
    assert [(r["state"], r["epoch"], r["eval PSNR pooled (dB)"], r["gray (dB)"]) for r in rows] == [
        ("complete", "2/2", 14.0, 13.5), ("pruned", "1/2", 12.5, 13.0)]
    assert [r["gain over gray (dB)"] for r in rows] == pytest.approx([0.5, -0.5])
    assert not any("CI" in column for column in rows[0])  # no repeats: no interval made up
    text = summaries.as_text(summaries.table(study, spec, gray), spec)
    assert list(text["gain over gray (dB)"]) == ["+0.50", "-0.50"]
    study.add_trial(_trial(State.COMPLETE, 14.2, {1: 14.2}, repeat_values=[14.0, 14.2, 14.4]))
    rows = summaries.table(study, spec, gray).to_dict("records")
    ci = "±95% CI over repeats (dB)"
    assert rows[2][ci] == pytest.approx(4.303 * 0.2 / 3 ** 0.5, rel=1e-3) and math.isnan(rows[0][ci])
    assert math.isnan(rows[2]["gray (dB)"])  # its run's gray figure is unknown here: left empty, not guessed
    assert list(summaries.as_text(summaries.table(study, spec, gray), spec)[ci]) == ["", "", "0.50"]


def _runs(store: Path, parent: str) -> dict[int, object]:
    return {int(r.tags["colorgan.trial"]): r for r in tracking.child_runs(store, parent)}


@pytest.mark.slow
def test_smoke_study_nests_trials_and_resumes_without_duplicates(env, capsys):
    spec = studies.load_spec(SMOKE)
    study = runner.run_study(spec, trials=2, epochs=1, root=env)
    assert [t.state for t in study.trials] == [State.COMPLETE] * 2
    parent = study.user_attrs["mlflow_parent_run_id"]

    study = runner.run_study(spec, trials=4, epochs=1, root=env)  # resume: the budget is now 4
    assert len(study.trials) == 4 and all(t.state == State.COMPLETE for t in study.trials)
    assert study.user_attrs["mlflow_parent_run_id"] == parent
    client = tracking.store.connect(env)
    exp = client.get_experiment_by_name("study-smoke")
    parents = client.search_runs([exp.experiment_id], "tags.`colorgan.role` = 'parent'")
    assert [p.info.run_id for p in parents] == [parent]
    runs = _runs(env, parent)
    assert sorted(runs) == [0, 1, 2, 3]
    for trial in study.trials:
        run = runs[trial.number]
        assert run.status == "FINISHED"
        assert run.tags["colorgan.trial_state"] == "COMPLETE"
        assert float(run.params["lr_g"]) == pytest.approx(trial.params["lr_g"])
        assert run.metrics["eval/psnr_gain"] == pytest.approx(trial.value)  # the default objective
    assert study.trials[0].user_attrs["base"] and study.trials[0].params == {"lr_g": 4e-4}  # the smoke default
    lr = [t.params["lr_g"] for t in study.trials]
    assert len(set(lr)) == 4, f"the resumed call sampled the first call's values again: {lr}"
    best = client.get_run(parent)
    assert best.info.status == "FINISHED"  # no session is working on it any more
    assert best.data.tags["best.trial"] == str(study.best_trial.number)
    assert runs[study.best_trial.number].tags["colorgan.best"] == "true"
    assert {a.path for a in client.list_artifacts(parent)} >= {"trials.csv", "study"}
    # The parent page answers "what did this study find": its settings, the best so far per trial, the table.
    assert best.data.params["space.lr_g"] == "float 0.0001 to 0.01 log"
    assert best.data.params["objective"] == "maximize eval/psnr_gain"
    assert best.data.params["sampler"] == "random seed=0"
    assert sorted({m.step for m in client.get_metric_history(parent, "best/eval/psnr_gain")}) == [0, 1, 2, 3]
    note = best.data.tags["mlflow.note.content"]
    assert f"best trial {study.best_trial.number}: eval PSNR gain over the gray image" in note
    assert "4 trials: 4 complete" in note and "(gray PSNR pooled " in note
    assert note.count("| complete |") == 4 and "| gray PSNR pooled (dB) | critic AUC | critic | base | epoch |" in note
    assert note.count("| chance |") + note.count("| learned |") == 4  # each trial's GAN phase judged (issue 33)
    view = json.loads(exp.tags["mlflow.sharedViewState.colorgan"])  # what make ui's link opens (test_ui.py)
    assert view["orderByKey"] == "metrics.`eval/psnr_gain`" and view["orderByAsc"] is False

    capsys.readouterr()
    printout.print_summary(study, spec, env)  # make summary: each figure next to the gray one, with its epoch
    lines = capsys.readouterr().out.splitlines()
    header = lines[0].split()
    assert header[:3] == ["trial", "state", "lr_g"] and "gray PSNR pooled (dB)" in lines[0]
    for trial, line in zip(study.trials, lines[1:5], strict=True):
        gray = float(runs[trial.number].params["gray_psnr"])
        cells = line.split()
        assert cells[:2] == [str(trial.number), "complete"] and cells[-2] == "1/1"
        assert [float(c) for c in cells[3:5]] == pytest.approx([trial.value, gray], abs=0.006)
    best_line = f"best trial {study.best_trial.number}: eval PSNR gain over the gray image "
    assert lines[5].startswith(best_line) and "(gray PSNR pooled " in lines[5]

    study = runner.run_study(spec, trials=4, epochs=1, root=env)  # budget met: nothing more runs
    assert len(study.trials) == 4


@pytest.mark.slow
def test_pruned_trial_is_marked_in_optuna_and_mlflow(env, tmp_path):
    text = SMOKE.read_text().replace('[pruner]\nname = "none"',
                                     '[pruner]\nname = "threshold"\nlower = 1000.0  # no PSNR reaches it')
    spec = studies.load_spec(_spec_file(tmp_path, text))
    study = runner.run_study(spec, trials=1, root=env)
    (trial,) = study.trials
    assert trial.state == State.PRUNED and trial.user_attrs["epochs"] == 1
    (run,) = _runs(env, study.user_attrs["mlflow_parent_run_id"]).values()
    # A normal outcome, not a failure: FINISHED, named and tagged as pruned, found by the filter docs/studies.md gives.
    assert run.tags["colorgan.trial_state"] == "PRUNED"
    assert run.status == "FINISHED" and run.name == "trial-0 (pruned)"
    found = tracking.store.connect(env).search_runs([run.experiment_id], "tags.colorgan.trial_state = 'PRUNED'")
    assert [r.info.run_id for r in found] == [run.run_id]
    (row,) = summaries.table(study, spec, printout.gray_by_run(study, env)).to_dict("records")
    assert row["state"] == "pruned" and row["epoch"] == "1/2"  # its figure is from epoch 1 of 2
    gain = row["eval PSNR gain over the gray image (dB)"]
    assert gain == pytest.approx(run.metrics["eval/psnr_gain"])
    assert gain == pytest.approx(run.metrics["eval/psnr"] - row["gray PSNR pooled (dB)"], abs=1e-4)


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
    runs = _runs(env, study.user_attrs["mlflow_parent_run_id"])
    for trial in study.trials:
        assert trial.state == State.COMPLETE
        assert runs[trial.number].run_id == trial.user_attrs["run_id"]


@pytest.mark.slow
def test_a_seeded_study_tries_the_same_configurations_with_two_workers_as_with_one(env, tmp_path, empty_mlflow_db,
                                                                                     monkeypatch):
    """Issue 33 (6): the smoke study twice with two workers, each in a fresh store, and once with one: the same
    values trial by trial, trial 0 the base values, whichever worker took which trial and whichever ended first."""
    spec = studies.load_spec(_tiny_smoke(tmp_path))
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


@pytest.fixture
def postgres():
    """A throw-away PostgreSQL server on 127.0.0.1 with databases `optuna` and `mlflow`."""
    import glob
    import shutil
    import tempfile

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        if os.environ.get("COLORGAN_REQUIRE_POSTGRES"):
            pytest.fail("PostgreSQL server binaries are missing (.ci/run installs Debian's postgresql)")
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    bindir = Path(found[-1]).parent
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="colorgan-pg-"))
    if as_pg:
        shutil.chown(base, "postgres")
    data, port = base / "data", free_port()
    subprocess.run([*as_pg, bindir / "initdb", "-D", data, "-A", "trust", "-U", "colorgan"], check=True,
                   capture_output=True)
    subprocess.run([*as_pg, bindir / "pg_ctl", "-D", data, "-l", base / "log", "-w", "-o",
                    f"-p {port} -h 127.0.0.1 -k {base}", "start"], check=True, capture_output=True)
    try:
        for db in ("optuna", "mlflow"):
            subprocess.run([*as_pg, bindir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "colorgan", db],
                           check=True, capture_output=True)
        yield f"postgresql://colorgan@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_pg, bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def mlflow_server(postgres, tmp_path):
    """`mlflow server` on 127.0.0.1 with a PostgreSQL backend: the multi-machine tracking recipe."""
    port = free_port()
    backend = f"{postgres}/mlflow"
    proc = subprocess.Popen([Path(sys.executable).parent / "mlflow", "server", "--host", "127.0.0.1", "--port",
                             str(port), "--backend-store-uri", backend, "--artifacts-destination",
                             str(tmp_path / "server-artifacts"), "--workers", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_mlflow_server(url, proc, interval=1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_two_workers_on_postgresql_and_a_tracking_server(env, postgres, mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    spec = studies.load_spec(SMOKE)
    study = runner.run_study(spec, storage=f"{postgres}/optuna", workers=2, trials=2, epochs=1, root=env)
    assert len(study.trials) >= 2 and all(t.state == State.COMPLETE for t in study.trials)
    runs = _runs(env, study.user_attrs["mlflow_parent_run_id"])
    assert sorted(runs) == sorted(t.number for t in study.trials)
    for trial in study.trials:
        run = runs[trial.number]
        assert run.status == "FINISHED" and run.metrics["eval/psnr_gain"] == pytest.approx(trial.value)


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
def test_time_budget_starts_no_trial_that_would_end_past_it(env):
    import dataclasses

    spec = studies.load_spec(SMOKE)
    study = runner.run_study(spec, trials=1, epochs=1, root=env)
    (first,) = study.trials
    length = (first.datetime_complete - first.datetime_start).total_seconds()
    # A budget shorter than the longest trial so far: a new trial could not end within it, so none starts.
    short = dataclasses.replace(spec, timeout_minutes=0.5 * length / 60)
    started = time.time()
    study = runner.run_study(short, trials=5, epochs=1, root=env)
    assert len(study.trials) == 1
    assert time.time() - started < 0.5 * length + 15  # only the closing bookkeeping (summary, trials.csv)
    study = runner.run_study(spec, trials=2, epochs=1, root=env)  # without a time budget the next one runs
    assert len(study.trials) == 2


def _tiny_smoke(tmp_path: Path, grace: int = 6) -> Path:
    """The smoke study on 8 training and 8 eval images (one step a trial), with its heartbeat grace set."""
    text = SMOKE.read_text().replace("[fixed]\n", "[fixed]\nmax_train_images = 8\nmax_eval_images = 8\n")
    return _spec_file(tmp_path, text.replace("grace_period = 6", f"grace_period = {grace}"))


@pytest.mark.slow
def test_a_rerun_never_reports_a_study_done_while_a_trial_is_unfinished(env, tmp_path, capsys):
    from colorgan.__main__ import main

    path = _tiny_smoke(tmp_path)
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
    spec = studies.load_spec(_tiny_smoke(tmp_path, grace=600))
    study = runner.run_study(spec, trials=1, epochs=1, root=env)
    first, retry = study.trials
    assert first.state == State.FAIL and retry.state == State.COMPLETE and retry.params == first.params
    assert tracking.run_status(env, dead_run) == "FAILED"
    assert tracking.store.connect(env).get_run(dead_run).data.tags["colorgan.trial_state"] == "FAIL"


@pytest.mark.slow
def test_an_emptied_or_corrupt_study_database_is_one_clear_error(env, tmp_path):
    path = _tiny_smoke(tmp_path)
    spec = studies.load_spec(path)
    study = runner.run_study(spec, trials=1, epochs=1, root=env)
    parent = storage.parent_run_id(study)
    del study
    gc.collect()
    db = paths.optuna_db(env)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    good = db.read_bytes()
    cli = [sys.executable, "-m", "colorgan", "study", str(path), "--trials", "2", "--epochs", "1"]

    db.write_bytes(b"")  # emptied
    out = subprocess.run(cli, env={**os.environ}, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert (f"its MLflow parent run {parent} has runs of 1 trials (up to trial 0) but the study storage "
            f"sqlite:///{db} holds 0: it was emptied or replaced") in out.stderr
    assert len(tracking.child_runs(env, parent)) == 1  # no second trial-0 under the old parent

    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    db.write_bytes(good[: len(good) // 2])  # truncated to half
    out = subprocess.run(cli, env={**os.environ}, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert f"the study database {db} is corrupt (" in out.stderr
    assert f"move it away (mv {db} {db}.corrupt" in out.stderr
    assert len(tracking.child_runs(env, parent)) == 1


def _study_text(*, top: str = "", extra: str = "") -> str:
    """The smoke study with top-level keys put before its first table, and tables appended."""
    head, _, tables = SMOKE.read_text().partition("\n[fixed]")
    return head + "\n" + top + "[fixed]" + tables + extra


def test_an_objective_no_run_logs_is_an_error_before_any_trial(env, tmp_path):
    text = _study_text().replace('metrics = ["eval/psnr_gain"]', 'metrics = ["eval/psnr_gainn"]')
    spec = studies.load_spec(_spec_file(tmp_path, text))
    with pytest.raises(studies.StudyError, match="eval/psnr_gainn is logged by no run"):
        runner.run_study(spec, trials=1, epochs=1, root=env)
    assert tracking.store.connect(env).get_experiment_by_name(f"study-{spec.name}") is None  # nothing was created


def test_a_comparison_within_noise_says_what_it_would_need(store):
    """Two trials whose runs logged known per-image scores (a real store, no training): where the best is within
    noise of the other, the table and its line give the smallest difference these images detect and the images
    that would resolve the observed one; a clear verdict gets blanks, and a comparisons.csv from before the columns
    still reads."""
    import io

    import numpy as np

    client = tracking.store.connect(store)
    experiment = client.create_experiment("comparisons")
    rng = np.random.default_rng(0)
    files, base, gap = [f"f{i}.png" for i in range(80)], rng.normal(25.0, 3.0, 80), rng.normal(20.0, 5.0, 80)
    scores = [{"psnr": base + rng.normal(0.03, 0.5, 80), "colorfulness_gap": gap - 2.0, "color_auc_rebal": 0.8},
              {"psnr": base, "colorfulness_gap": gap, "color_auc_rebal": 0.8}]
    study = optuna.create_study(direction="maximize")
    dist = {"lr_g": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)}
    for lr, value, table in ((1e-3, 1.5, scores[0]), (2e-4, 1.0, scores[1])):
        run = client.create_run(experiment).info.run_id
        text = pd.DataFrame({"file": files, **table}).to_csv(index=False)
        client.log_text(run, text, train.PER_IMAGE_ARTIFACT)
        study.add_trial(optuna.trial.create_trial(params={"lr_g": lr}, distributions=dist, value=value,
                                                  user_attrs={"run_id": run}))
    compared = comparisons.comparisons(study, studies.load_spec(SMOKE), store).set_index("score")
    psnr = metrics.paired_difference(scores[0]["psnr"], base, "psnr", "higher")
    assert psnr.verdict == "within noise" and compared.loc["psnr", "verdict"] == "within noise"
    assert compared.loc["psnr", "detectable"] == pytest.approx(psnr.detectable, abs=1e-4)
    assert compared.loc["psnr", "needed"] == psnr.needed > 80
    assert compared.loc["colorfulness_gap", "verdict"] == "better"
    assert compared.loc["colorfulness_gap", ["detectable", "needed"]].isna().all()
    assert compared.loc["color_auc_rebal", "verdict"] == "within noise"  # equal scores: no n resolves 0

    (line,) = comparisons.comparison_lines(compared.reset_index())
    d, low, high = compared.loc["psnr", ["difference", "ci95_low", "ci95_high"]]
    assert (f"PSNR mean {d:+.2f} [{low:+.2f}, {high:+.2f}] dB "
            f"(within noise; detectable at this budget: ±{psnr.detectable:.2f} dB; {psnr.needed:,} images would "
            f"resolve {d:+.2f})") in line
    assert "colourfulness gap to original -2.0 [-2.0, -2.0] (better);" in line  # its declared 1 decimal
    assert "(within noise; detectable at this budget: ±0.0000; no number of images would resolve a difference of 0)" \
        in line
    logged = pd.read_csv(io.StringIO(compared.reset_index().to_csv(index=False)))  # as the study logs it
    assert comparisons.comparison_lines(logged) == [line]
    older = comparisons.comparison_lines(logged.drop(columns=["detectable", "needed"]))
    assert "PSNR mean" in older[0] and "(within noise)" in older[0] and "detectable" not in older[0]


@pytest.mark.slow
def test_a_configuration_sampled_again_is_not_trained_again(env, tmp_path, capsys):
    """A discrete space makes the sampler draw a configuration twice; its seeds would give the same numbers."""
    text = _study_text(top="repeats = 2\n").replace(
        'type = "float"\nlow = 1e-4\nhigh = 1e-2\nlog = true', 'type = "categorical"\nchoices = [0.0004, 0.001]')
    spec = studies.load_spec(_spec_file(tmp_path, text))
    study = runner.run_study(spec, trials=5, epochs=1, root=env)
    copies = [t for t in study.trials if "duplicate_of" in t.user_attrs]
    assert len(copies) >= 3  # 5 trials over 2 values
    trained = {t.number for t in study.trials} - {t.number for t in copies}
    runs = tracking.child_runs(env, study.user_attrs["mlflow_parent_run_id"])
    assert {int(r.tags["colorgan.trial"]) for r in runs} == trained and len(runs) == 2 * len(trained)
    for copy in copies:
        earlier = study.trials[copy.user_attrs["duplicate_of"]]
        assert copy.params == earlier.params and copy.value == earlier.value
        assert copy.user_attrs["seeds:eval/psnr_gain"] == earlier.user_attrs["seeds:eval/psnr_gain"]
    assert "not trained again" in capsys.readouterr().out
    compared = comparisons.comparisons(study, spec, env)
    assert set(compared["against"]) | set(compared["best"]) <= trained  # a copy is never compared with itself


@pytest.mark.slow
def test_repeats_train_each_configuration_with_every_seed_and_compare_paired(env, tmp_path, capsys):
    spec = studies.load_spec(_spec_file(tmp_path, _study_text(top="repeats = 2\n")))
    study = runner.run_study(spec, trials=2, epochs=1, root=env)
    assert [t.state for t in study.trials] == [State.COMPLETE] * 2
    client = tracking.store.connect(env)
    runs = tracking.child_runs(env, study.user_attrs["mlflow_parent_run_id"])
    assert len(runs) == 4
    for trial in study.trials:
        mine = sorted((r for r in runs if r.tags["colorgan.trial"] == str(trial.number)),
                      key=lambda r: int(r.tags["colorgan.repeat"]))
        assert [r.tags["colorgan.repeat"] for r in mine] == ["0", "1"]
        assert [r.params["seed"] for r in mine] == ["42", "43"]
        gains = [r.metrics["eval/psnr_gain"] for r in mine]
        assert trial.value == pytest.approx(sum(gains) / 2)  # Optuna sees the mean over the seeds
        assert trial.user_attrs["seeds:eval/psnr_gain"] == pytest.approx(gains)
        assert trial.user_attrs["ci95:eval/psnr_gain"] == pytest.approx(metrics.mean_ci(gains)[1])
        for r in mine:  # the gain is the PSNR minus the gray image's on the same eval images
            assert r.metrics["eval/psnr_gain"] == pytest.approx(
                r.metrics["eval/psnr"] - float(r.params["gray_psnr"]), abs=1e-4)
    table = summaries.table(study, spec, printout.gray_by_run(study, env))
    ci = summaries._ci_heading(metrics.declared(spec.metrics[0]))
    assert table[ci].tolist() == pytest.approx([t.user_attrs["ci95:eval/psnr_gain"] for t in study.trials])

    compared = comparisons.comparisons(study, spec, env)
    n_eval = int(runs[0].params["n_eval"])
    assert list(compared["score"]) == [score for score, _ in metrics.PAIRED]
    assert set(compared["images"]) == {n_eval}
    assert set(compared["verdict"]) <= {"better", "worse", "within noise"}
    assert (compared["ci95_low"] <= compared["difference"]).all() and (compared["difference"] <= compared[
        "ci95_high"]).all()
    assert "base" in set(compared["against_is"]) or study.best_trial.user_attrs.get("base")
    parent_files = {a.path for a in client.list_artifacts(study.user_attrs["mlflow_parent_run_id"])}
    assert "comparisons.csv" in parent_files
    def recompute(*args):
        raise AssertionError("the summary recomputed the comparisons the study had logged")

    with pytest.MonkeyPatch.context() as mp:  # the summary reads what the study logged, never downloads it all again
        mp.setattr(comparisons, "comparisons", recompute)
        logged = comparisons.logged_comparisons(study, spec, env)
    pd.testing.assert_frame_equal(logged, compared, check_dtype=False)
    printout.print_summary(study, spec, env)
    out = capsys.readouterr().out
    assert "paired 95% CI: PSNR mean" in out
    for number, seed in itertools.product((0, 1), (42, 43)):  # one line per seed of each trial, as it ends
        assert f"trial {number} seed {seed} complete " in out, out


@pytest.mark.slow
def test_a_pretrain_table_is_trained_once_and_shared_by_two_workers(env, tmp_path):
    text = _study_text(extra='\n[pretrain]\nexperiment = "smoke"\nepochs = 1\nadversarial = false\n')
    spec = studies.load_spec(_spec_file(tmp_path, text))
    study = runner.run_study(spec, workers=2, trials=2, epochs=1, root=env)
    client = tracking.store.connect(env)
    experiment = client.get_experiment_by_name(studies.spec.PRETRAIN_EXPERIMENT).experiment_id
    (pre,) = client.search_runs([experiment], "tags.`colorgan.role` = 'pretrain'")
    assert pre.info.status == "FINISHED" and pre.data.params["adversarial"] == "False"
    parent = study.user_attrs["mlflow_parent_run_id"]
    assert client.get_run(parent).data.tags["colorgan.pretrain_run"] == pre.info.run_id
    trial_runs = tracking.child_runs(env, parent)
    assert len(trial_runs) >= 2
    for run in trial_runs:  # every trial, in either worker, started from the one shared run
        assert run.params["init_from"] == pre.info.run_id

    runner.run_study(spec, trials=3, epochs=1, root=env)  # a later call finds it again by its config
    assert len(client.search_runs([experiment], "tags.`colorgan.role` = 'pretrain'")) == 1
    other = tmp_path / "other_study.toml"  # another study with the same [pretrain] table trains none of its own
    other.write_text(text)
    second = runner.run_study(studies.load_spec(other), trials=1, epochs=1, root=env)
    assert len(client.search_runs([experiment], "tags.`colorgan.role` = 'pretrain'")) == 1
    assert client.get_run(second.user_attrs["mlflow_parent_run_id"]).data.tags["colorgan.pretrain_run"] == \
        pre.info.run_id


def test_a_pretrain_of_another_image_size_is_refused_up_front(tmp_path):
    text = _study_text(extra='\n[pretrain]\nexperiment = "smoke"\nimage_size = 64\n')
    with pytest.raises(studies.StudyError, match="pretrain: image_size = 64 but the trials use 32"):
        studies.load_spec(_spec_file(tmp_path, text))


TWO_OBJECTIVES = ('\n[pretrain]\nexperiment = "smoke"\nepochs = 1\nadversarial = false\n'
                  '[recommend]\nbest = "eval/psnr_gain"\nrequire = "eval/color_auc_rebal"\nmargin = 0.0\n')


@pytest.mark.slow
def test_a_two_objective_study_answers_with_its_pareto_front_and_the_rule_s_pick(env, tmp_path, capsys):
    text = _study_text(extra=TWO_OBJECTIVES).replace(
        'metrics = ["eval/psnr_gain"]', 'metrics = ["eval/psnr_gain", "eval/color_auc_rebal"]').replace(
        'directions = ["maximize"]', 'directions = ["maximize", "maximize"]')
    spec = studies.load_spec(_spec_file(tmp_path, text))
    study = runner.run_study(spec, trials=2, epochs=1, root=env)
    parent = study.user_attrs["mlflow_parent_run_id"]
    client = tracking.store.connect(env)
    assert {"pareto.csv", "pareto.png", "comparisons.csv"} <= {a.path for a in client.list_artifacts(parent)}
    table = pd.read_csv(io.StringIO(tracking.read_text(env, parent, "pareto.csv")))
    assert list(table["point"][:2]) == ["gray", "warm start"]
    assert table.loc[table["point"] == "gray", "eval/psnr_gain"].item() == 0.0
    trials = table[table["trial"].notna()]
    assert len(trials) == 2 and trials["on_front"].any() and "eval/colorfulness_gap" in table
    # the pick, recomputed from the table by the rule (margin 0 over the warm start's colour AuC)
    warm = table.loc[table["point"] == "warm start", "eval/color_auc_rebal"].item()
    eligible = trials[trials["on_front"] & (trials["eval/color_auc_rebal"] >= warm)]
    expected = "none" if eligible.empty else str(int(eligible.sort_values("eval/psnr_gain").iloc[-1]["trial"]))
    tags = client.get_run(parent).data.tags
    assert tags["colorgan.recommended_trial"] == expected and "warm start's" in tags["colorgan.recommend_rule"]
    compared = pd.read_csv(io.StringIO(tracking.read_text(env, parent, "comparisons.csv")))
    assert "warm start" in set(compared["against_is"]) and "color_auc_rebal" in set(compared["score"])
    capsys.readouterr()
    printout.print_summary(study, spec, env)
    out = capsys.readouterr().out
    assert "Pareto front: " in out and "Recommended by the study file's rule" in out
    assert "- the warm start (warm start), eval split" in out and "CPU time: trials " in out


def test_a_trial_stored_before_the_rename_keeps_its_run():
    """Studies stored before the user attributes were named run_id / run_ids still lead to their runs."""
    assert studyruns.trial_run_id({"mlflow_run_id": "a"}) == "a"
    assert studyruns.trial_run_ids({"mlflow_run_ids": ["a", "b"]}) == ["a", "b"]
    assert studyruns.trial_run_id({"run_id": "new", "mlflow_run_id": "old"}) == "new"
    assert studyruns.trial_run_ids({"run_id": "a"}) == ["a"] and studyruns.trial_run_ids({}) == [None]
