"""SIGTERM (what a scheduler or `kill` sends) ends `colorgan train` (training.train's run) as Ctrl-C does (issue 36,
6.4): one line, the run KILLED at once (not left RUNNING for the next process to find abandoned), and --resume
finishes it. The handler itself: tests/base/test_errors.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from colorgan import tracking
from colorgan.tracking.tags import ERROR_TAG, LAST_EPOCH_TAG
from colorgan.tracking.tracker import RunTracker

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "experiments" / "smoke.toml"
TINY = ["eval_fraction=0.2", "test_fraction=0.1", "max_train_images=8", "max_eval_images=8"]
EXIT_WITHIN_S = 30  # from SIGTERM to the process's exit, its run marked KILLED


@pytest.mark.slow  # a training process
def test_sigterm_marks_the_run_killed_at_once_and_resume_finishes_it(env):
    """The project root and data of ``env`` (a fresh store, its tables made: polling cannot race their creation)."""
    root = env
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # COLORGAN_HOME and COLORGAN_DATA from the fixture
    cli = [sys.executable, "-m", "colorgan", "train"]
    proc = subprocess.Popen([*cli, str(SMOKE), "--set", *TINY, "epochs=10000"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, run_id = time.time() + 300, None
        while run_id is None and time.time() < deadline and proc.poll() is None:  # its first epoch logged
            client = tracking.store.connect(root)
            runs = client.search_runs([e.experiment_id for e in client.search_experiments()],  # creates none
                                      "attributes.status = 'RUNNING'")
            run_id = next((r.info.run_id for r in runs if client.get_metric_history(r.info.run_id, "eval/psnr")), None)
            time.sleep(0.5)
        assert run_id is not None, "the training process never logged its first epoch"
        sent = time.time()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=EXIT_WITHIN_S)
        took = time.time() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"SIGTERM to exit: {took:.1f} s")  # pytest -s shows it
    assert took < EXIT_WITHIN_S and proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err and err.strip().splitlines() == [
        f"colorgan: terminated (SIGTERM); run {run_id} marked KILLED; `colorgan train --resume {run_id}` goes on "
        "from its last checkpoint"], err[-3000:]
    run = tracking.store.connect(root).get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags[ERROR_TAG] == "terminated (SIGTERM)"

    last = int(run.data.tags[LAST_EPOCH_TAG])
    done = subprocess.run([*cli, "--resume", run_id, "--set", f"epochs={last + 1}"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"run {run_id} finished" in done.stdout
    client = tracking.store.connect(root)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and ERROR_TAG not in run.data.tags
    assert sorted(m.step for m in client.get_metric_history(run_id, "eval/psnr")) == list(range(1, last + 2))


def test_every_write_of_the_run_tracker_finishes_before_a_sigterm_ends_the_run():
    """Each RunTracker method that writes to the store (its name says log/set/save) is wrapped in
    base.errors.uninterrupted_write, the final model's included: a SIGTERM inside any of them waits for it."""
    writes = [name for name in vars(RunTracker) if name.startswith(("log_", "set_", "save_"))]
    assert "log_generator" in writes and "save_checkpoint" in writes
    assert [name for name in writes if not hasattr(getattr(RunTracker, name), "__wrapped__")] == []
