"""Liveness: the staleness rule on real processes, and stale MLflow runs closed in a real store (no TensorFlow)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from colorgan import tracking
from colorgan.base import heartbeat
from colorgan.tracking import liveness

ROOT = Path(__file__).resolve().parents[2]


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])


def test_a_job_whose_process_is_gone_is_stale_at_once_on_its_own_machine():
    proc = _sleeper()
    who, here = f"{heartbeat.owner().rpartition(':')[0]}:{proc.pid}", heartbeat.pid_space()
    try:
        assert heartbeat.stale_reason(who, here, time.time(), grace_s=60) is None
    finally:
        proc.kill()
    deadline = time.time() + 10  # the signal lands soon; the process then stays a zombie until it is reaped
    while time.time() < deadline and heartbeat.stale_reason(who, here, time.time(), grace_s=60) is None:
        time.sleep(0.05)
    assert heartbeat.stale_reason(who, here, time.time(), grace_s=60) == f"its process {who} is gone"
    assert proc.poll() is None or proc.returncode  # (not reaped by a wait before the check above)
    proc.wait()
    assert heartbeat.stale_reason(who, here, None, grace_s=60) == f"its process {who} is gone"
    # another machine's (or container's) pid says nothing here: only its heartbeat counts
    assert heartbeat.stale_reason(who, here + "-elsewhere", time.time(), grace_s=60) is None


def test_a_job_whose_heartbeat_lapsed_past_its_grace_is_stale():
    now = 1_000_000.0
    assert heartbeat.stale_reason("far:1", "far/x/1", now - 59, grace_s=60, now=now) is None
    assert heartbeat.stale_reason("far:1", "far/x/1", now - 61, grace_s=60, now=now) == \
        "no heartbeat from far:1 for 61 s (grace 60 s)"


def test_beating_beats_at_once_then_every_interval_and_stops_with_the_block():
    beats = []
    with heartbeat.Beating(beats.append, interval_s=0.05):
        assert len(beats) == 1
        time.sleep(0.4)
    count = len(beats)
    assert count >= 4
    time.sleep(0.2)
    assert len(beats) == count


HOLDER = """
import sys, time
from pathlib import Path
from colorgan import tracking
from colorgan.base import heartbeat
interval, grace = float(sys.argv[2]), float(sys.argv[3])
with tracking.open_run(Path(sys.argv[1]), "holders", "holder", heartbeat=heartbeat.Settings(interval, grace)) as run:
    print(run.run_id, flush=True)
    time.sleep(600)
"""


@pytest.mark.slow  # a process that dies, waited for
def test_stale_runs_are_marked_failed_with_the_reason_and_live_ones_left_running(store):
    """Three real processes hold a run open: one beating, one that stopped beating (a hung process: alive, its
    last beat older than its grace), one killed. Only the two dead ones are closed."""
    tracking.experiment_id("holders", store)  # the store exists before the holders share it
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def hold(interval: float, grace: float) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", HOLDER, str(store), str(interval), str(grace)],
                                stdout=subprocess.PIPE, text=True, env=env)

    live, hung, killed = hold(0.5, 600), hold(3600, 3), hold(0.5, 600)  # started together: imports are slow here
    live_id, hung_id, killed_id = (proc.stdout.readline().strip() for proc in (live, hung, killed))
    host = heartbeat.owner().rpartition(":")[0]
    try:
        closed = {run_id: reason for run_id, _, reason in liveness.close_stale_runs(store)}
        assert closed.keys() <= {hung_id}  # the hung holder may have lapsed already: its one beat was at its start
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        time.sleep(4)  # the hung holder's one beat is now older than its 3 s grace
        closed.update({run_id: reason for run_id, _, reason in liveness.close_stale_runs(store)})
        assert closed.keys() == {hung_id, killed_id}
        assert closed[killed_id] == f"its process {host}:{killed.pid} is gone"
        assert closed[hung_id].startswith(f"no heartbeat from {host}:{hung.pid} for ")
        client = tracking.store.connect(store)
        for run_id in (hung_id, killed_id):
            run = client.get_run(run_id)
            assert run.info.status == "FAILED"
            assert run.data.tags["colorgan.error"].startswith(f"abandoned: {closed[run_id]}")
        assert client.get_run(live_id).info.status == "RUNNING"
        assert liveness.close_stale_runs(store) == []
    finally:
        for proc in (live, hung, killed):
            proc.kill()
            proc.wait()


def test_make_ui_closes_stale_runs_before_the_ui_starts():
    out = subprocess.run(["make", "-n", "ui"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    lines = out.stdout.splitlines()
    sweep = [i for i, line in enumerate(lines) if "-m colorgan close-stale" in line]
    start = [i for i, line in enumerate(lines) if "-m colorgan.tracking.ui" in line]  # it starts mlflow ui
    assert sweep and start and sweep[0] < start[0], out.stdout
