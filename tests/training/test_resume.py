"""--resume and expected training failures, against a temporary real MLflow store: runs without a checkpoint, runs
another process is training, runs whose process died, a diverging run, unknown runs and missing models."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from colorgan import tracking
from colorgan.__main__ import main
from colorgan.base import heartbeat
from colorgan.tracking import liveness
from colorgan.training import resume, train

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "experiments" / "smoke.toml"
TINY = ["eval_fraction=0.2", "test_fraction=0.1", "max_train_images=8", "max_eval_images=8", "epochs=1"]
pytestmark = pytest.mark.slow


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("colorgan: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run trained with checkpoint = false, as every study trial is: (root, data, run id)."""
    from conftest import train_tiny

    run = train_tiny(tmp_path_factory, "finished", [*TINY, "checkpoint=false"])
    return run.root, run.data_dir, run.run_id


def test_resume_of_a_run_without_a_checkpoint_is_refused(finished):
    root, _, run_id = finished
    cfg = resume.resume_config(run_id, {"epochs": 2}, root=root)
    with pytest.raises(tracking.RunError, match=f"run {run_id} has no checkpoint to resume from \\(it trained with "
                                                "checkpoint = false, as study trials do\\) and logged epochs 1..1"):
        train.run_training(cfg, resume_run_id=run_id, root=root, verbose=0)
    client = tracking.store.connect(root)
    assert [m.step for m in client.get_metric_history(run_id, "eval/psnr")] == [1]  # nothing trained again
    assert client.get_run(run_id).info.status == "FINISHED"


@pytest.fixture
def cli_home(finished, monkeypatch):
    root, photos, _ = finished
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("COLORGAN_HOME", str(root))
    monkeypatch.setenv("COLORGAN_DATA", str(photos))
    return root


def test_unknown_run_is_one_line_and_v_shows_the_traceback(cli_home, capsys):
    assert main(["train", "--resume", "0123456789abcdef0123456789abcdef"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "no run '0123456789abcdef0123456789abcdef'" in line
    assert main(["-v", "train", "--resume", "0123456789abcdef0123456789abcdef"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.rstrip().endswith(line)
    # a run that is not a training run (no resolved config): the study-like parent of nothing
    parent = tracking.find_or_create_parent(cli_home, "study-x", "x", None)
    assert main(["train", "--resume", parent]) == 2
    assert "not a training run" in _one_line_error(capsys.readouterr().err)


def test_non_finite_loss_fails_the_run_with_the_reason_in_one_line(cli_home, capsys):
    # lambda_recon is finite in the config and infinite in float32: the first batch's g_total is inf
    assert main(["train", str(SMOKE), "--set", *TINY, "lambda_recon=1e39"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert "non-finite loss in batch 1" in line and "FAILED" in line
    client = tracking.store.connect(cli_home)
    run_id = line.split("run ", 1)[1].split()[0]
    run = client.get_run(run_id)
    assert run.info.status == "FAILED"
    assert "non-finite loss in batch 1" in run.data.tags["colorgan.error"]


def test_a_missing_model_is_one_line(finished, cli_home, capsys):
    _, _, run_id = finished
    client = tracking.store.connect(cli_home)
    uri = client.get_run(run_id).data.tags["colorgan.model_uri"]
    models = cli_home / "mlruns" / "artifacts" / "models"
    moved = cli_home / "models-away"
    shutil.move(models, moved)  # the run's logged model is gone from the artifact store
    try:
        assert main(["evaluate", "--model", run_id]) == 2
        line = _one_line_error(capsys.readouterr().err)
        assert f"the generator of run {run_id} ({uri}) cannot be loaded" in line
    finally:
        shutil.move(moved, models)


@pytest.fixture(scope="module")
def training_elsewhere(finished):
    """`colorgan train` in another process, long enough to outlive the tests: (process, run id)."""
    root, photos, _ = finished
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(COLORGAN_HOME=str(root), COLORGAN_DATA=str(photos), PYTHONPATH=str(ROOT))
    before = {r.info.run_id for r in tracking.store.connect(root).search_runs(
        [tracking.experiment_id("colorgan-smoke", root)])}
    proc = subprocess.Popen([sys.executable, "-m", "colorgan", "train", str(SMOKE), "--set", *TINY[:-1],
                             "epochs=10000"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = tracking.store.connect(root)
    deadline, run_id = time.time() + 300, None
    while run_id is None and time.time() < deadline and proc.poll() is None:
        runs = client.search_runs([tracking.experiment_id("colorgan-smoke", root)], "attributes.status = 'RUNNING'")
        run_id = next((r.info.run_id for r in runs if r.info.run_id not in before
                       and liveness.HEARTBEAT_TAG in r.data.tags), None)
        time.sleep(0.5)
    assert run_id is not None, "the training process never started its run"
    yield proc, run_id
    proc.kill()
    proc.wait()


def test_resume_of_a_run_another_process_is_training_is_refused(training_elsewhere, cli_home, capsys):
    proc, run_id = training_elsewhere
    owner = f"{heartbeat.owner().rpartition(':')[0]}:{proc.pid}"
    assert main(["train", "--resume", run_id, "--set", "epochs=1"]) == 2
    line = _one_line_error(capsys.readouterr().err)
    assert f"run {run_id} is being trained by {owner} (last heartbeat " in line
    cfg = resume.resume_config(run_id, {"epochs": 1}, root=cli_home)
    with pytest.raises(liveness.RunBusy, match=owner):
        train.run_training(cfg, resume_run_id=run_id, root=cli_home, verbose=0)
    run = tracking.store.connect(cli_home).get_run(run_id)
    assert run.info.status == "RUNNING" and run.data.tags[liveness.OWNER_TAG] == owner  # still the other's


def test_a_killed_run_is_marked_failed_by_the_next_command(training_elsewhere, cli_home, capsys):
    proc, run_id = training_elsewhere
    owner = f"{heartbeat.owner().rpartition(':')[0]}:{proc.pid}"
    assert main(["close-stale"]) == 0
    assert "no stale runs" in capsys.readouterr().out  # alive: left RUNNING
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert tracking.store.connect(cli_home).get_run(run_id).info.status == "RUNNING"  # what SIGKILL leaves behind
    assert main(["close-stale"]) == 0
    assert f"marked run {run_id} (smoke) FAILED: its process {owner} is gone" in capsys.readouterr().out
    run = tracking.store.connect(cli_home).get_run(run_id)
    assert run.info.status == "FAILED"
    assert run.data.tags["colorgan.error"].startswith(f"abandoned: its process {owner} is gone")
