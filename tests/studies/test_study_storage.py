"""A study's Optuna storage (colorgan.studies.storage) and its lock (colorgan.studies.lock), on real SQLite files:
the study opened again with its sampler, pruner and parent run, the flock that orders processes on one database,
and an emptied or corrupt database as one clear error, never a traceback or a second trial 0."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import optuna
import pytest
from helpers import spec_file, tiny_smoke

from colorgan import studies, tracking
from colorgan.base import paths
from colorgan.studies import draws, lock, runner, storage

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "studies" / "smoke.toml"


@pytest.mark.slow
def test_an_emptied_or_corrupt_study_database_is_one_clear_error(env, tmp_path):
    path = tiny_smoke(tmp_path)
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
    assert len(tracking.trial_runs(env, parent)) == 1  # no second trial-0 under the old parent

    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    db.write_bytes(good[: len(good) // 2])  # truncated to half
    out = subprocess.run(cli, env={**os.environ}, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert f"the study database {db} is corrupt (" in out.stderr
    assert f"move it away (mv {db} {db}.corrupt" in out.stderr
    assert len(tracking.trial_runs(env, parent)) == 1



def test_a_sqlite_study_opens_again_in_wal_mode_with_its_parent_run_and_the_file_s_pruner(tmp_path):
    text = SMOKE.read_text().replace('[pruner]\nname = "none"', '[pruner]\nname = "threshold"\nlower = 1.0')
    spec = studies.load_spec(spec_file(tmp_path, text))
    root = tmp_path / "project"
    url = storage.storage_url(None, root)  # no --storage: the project's embedded SQLite file
    assert url == paths.sqlite_url(paths.optuna_db(root))
    assert storage.storage_url("postgresql://colorgan@db/optuna", root) == "postgresql://colorgan@db/optuna"
    study = storage.open_study(spec, url)
    assert storage.parent_run_id(study) is None  # not prepared yet
    study.set_user_attr(storage.PARENT_ATTR, "the-parent")
    again = storage.open_study(spec, url)  # another process, or a resumed study
    assert again.study_name == "study" and storage.parent_run_id(again) == "the-parent"
    assert isinstance(again.pruner, optuna.pruners.ThresholdPruner) and isinstance(again.sampler, draws.InOrder)
    with contextlib.closing(sqlite3.connect(paths.optuna_db(root))) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_trial_n_is_drawn_with_seed_plus_1000_n_as_one_worker_always_drew_it():
    """The rule a study file's seed has always meant: a seeded study drawn again gives the same values."""
    spec = studies.load_spec(SMOKE)  # random sampler, seed 0
    (param,) = spec.params

    def first_draw(sampler) -> float:
        return optuna.create_study(sampler=sampler).ask().suggest_float(param.name, param.low, param.high, log=True)

    study = optuna.create_study(sampler=storage.make_sampler(spec))
    drawn = []
    for _ in range(3):
        trial = study.ask()
        drawn.append(trial.suggest_float(param.name, param.low, param.high, log=True))
        study.tell(trial, 0.0)
    assert drawn == [first_draw(optuna.samplers.RandomSampler(seed=1000 * n)) for n in range(3)]


def test_the_lock_file_sits_beside_a_sqlite_database_and_a_server_storage_takes_none(tmp_path):
    assert lock.path_for(paths.sqlite_url(tmp_path / "optuna.db")) == tmp_path / "optuna.db.lock"
    assert lock.path_for("postgresql://colorgan@127.0.0.1:5432/optuna") is None
    with lock.StudyLock("postgresql://colorgan@127.0.0.1:5432/optuna") as held:  # one process's word: no file
        assert held.path is None
    assert list(tmp_path.iterdir()) == []


def test_the_lock_holds_another_holder_out_until_it_is_released(tmp_path):
    url = paths.sqlite_url(tmp_path / "mlruns" / "optuna.db")  # its folder made when missing
    first, second = lock.StudyLock(url), lock.StudyLock(url)
    first.acquire()
    first.acquire()  # idempotent: held once, released once
    got = threading.Event()

    def take() -> None:
        with second:
            got.set()

    taker = threading.Thread(target=take)
    taker.start()
    assert not got.wait(0.5), "a second holder got the lock while the first held it"
    first.release()
    assert got.wait(10), "the lock was not handed on once released"
    taker.join(10)
    first.release()  # idempotent too
    with first:  # free again once the second let go
        pass


@pytest.mark.slow  # a process, killed
def test_a_killed_holder_leaves_the_study_unlocked(tmp_path):
    url = paths.sqlite_url(tmp_path / "optuna.db")
    code = ("import sys, time\nfrom colorgan.studies.lock import StudyLock\nStudyLock(sys.argv[1]).acquire()\n"
            "print('held', flush=True)\ntime.sleep(600)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline() == "held\n"
        fd = os.open(lock.path_for(url), os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):  # held by the other process
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            holder.kill()
            holder.wait(30)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the kernel let go of it with the process
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        holder.kill()
        holder.wait(30)
