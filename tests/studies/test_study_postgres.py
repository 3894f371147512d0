"""A study on PostgreSQL and an MLflow tracking server backed by it (the multi-machine recipe of
docs/guides/scaling.md): two worker processes, a throw-away server started from Debian's PostgreSQL binaries
(skipped without them, unless $COLORGAN_REQUIRE_POSTGRES says they must be there, as in CI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from conftest import free_port, wait_for_mlflow_server
from helpers import trial_runs

from colorgan import studies
from colorgan.studies import runner

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "studies" / "smoke.toml"
State = optuna.trial.TrialState


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
    runs = trial_runs(env, study.user_attrs["mlflow_parent_run_id"])
    assert sorted(runs) == sorted(t.number for t in study.trials)
    for trial in study.trials:
        run = runs[trial.number]
        assert run.status == "FINISHED" and run.metrics["eval/psnr_gain"] == pytest.approx(trial.value)

