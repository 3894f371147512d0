"""A study's Optuna storage (colorgan.studies.storage) on a real SQLite file: an emptied or corrupt database is
one clear error, never a traceback or a second trial 0."""

from __future__ import annotations

import contextlib
import gc
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import tiny_smoke

from colorgan import studies, tracking
from colorgan.base import paths
from colorgan.studies import runner, storage

ROOT = Path(__file__).resolve().parent.parent
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
    assert len(tracking.child_runs(env, parent)) == 1  # no second trial-0 under the old parent

    for extra in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        extra.unlink(missing_ok=True)
    db.write_bytes(good[: len(good) // 2])  # truncated to half
    out = subprocess.run(cli, env={**os.environ}, capture_output=True, text=True, timeout=600)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
    assert f"the study database {db} is corrupt (" in out.stderr
    assert f"move it away (mv {db} {db}.corrupt" in out.stderr
    assert len(tracking.child_runs(env, parent)) == 1


