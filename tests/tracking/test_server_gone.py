"""A tracking server that goes away mid-run or mid-study (issue 24, point 3), against a real `mlflow server`.

The server runs on 127.0.0.1 with a SQLite backend and a local artifacts folder, serving the artifacts itself
(``--serve-artifacts``), so checkpoints travel through it. It is stopped for real (its process group killed) at the
end of epoch 1, from a Keras callback in the run, or once a study's second trial has started; the run waits
COLORGAN_TRACKING_WAIT_S (a few seconds here), then stops in one line. The server is started again on the same
store and port, and ``--resume`` (a study: the same command again) finishes the work: each epoch logged once, each
trial of the budget run once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import keras
import optuna
import pytest
from conftest import free_port, wait_for_mlflow_server
from helpers import after_epoch

from colorgan import studies, tracking
from colorgan.__main__ import main
from colorgan.base import config, errors
from colorgan.studies.storage import parent_run_id, storage_url
from colorgan.studies.trials import RETRY_ATTR
from colorgan.tracking import checkpoints
from colorgan.training import epoch, train

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "experiments" / "smoke.toml"
SMOKE_STUDY = ROOT / "studies" / "smoke.toml"
TINY = ["eval_fraction=0.2", "test_fraction=0.1", "max_train_images=8", "max_eval_images=8", "curve_points=1"]
WAIT_S = 4
pytestmark = pytest.mark.slow


class Server:
    """`mlflow server` on a fixed port and store, which the test stops and starts again."""

    def __init__(self, store: Path):
        self.store, self.port, self.proc = store, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [Path(sys.executable).parent / "mlflow", "server", "--host", "127.0.0.1", "--port", str(self.port),
             "--backend-store-uri", f"sqlite:///{self.store / 'mlflow.db'}", "--serve-artifacts",
             "--artifacts-destination", str(self.store / "artifacts"), "--workers", "1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_mlflow_server(self.url, self.proc)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the server and its uvicorn worker, at once
            self.proc.wait(timeout=30)
        self.proc = None

    def answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/health", timeout=2)
            return True
        except OSError:
            return False


@pytest.fixture
def server(env, tmp_path, monkeypatch):
    store = tmp_path / "server-store"
    store.mkdir()
    srv = Server(store)
    srv.start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", srv.url)
    monkeypatch.setenv("COLORGAN_TRACKING_WAIT_S", str(WAIT_S))
    try:
        yield srv
    finally:
        srv.stop()


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("colorgan: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def test_a_run_whose_server_goes_away_stops_in_one_line_and_resumes_with_no_epoch_lost_or_repeated(
        server, capsys):
    cfg = config.load(SMOKE, [*TINY, "epochs=3"])
    started = time.monotonic()
    rc = errors.exit_code("colorgan",
                          lambda: train.run_training(cfg, callbacks=(after_epoch(1, server.stop),)) and 0)
    waited = time.monotonic() - started
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and not server.answers()
    assert f"stopped: the tracking server {server.url} did not answer for {WAIT_S} s" in line, line
    assert "kept the checkpoint of epoch 1 (whole) and the metrics of epochs 1..1" in line, line
    assert "once the server answers again, then colorgan train --resume " in line, line
    run_id = line.split("colorgan train --resume ")[1].split()[0]
    assert waited >= WAIT_S

    server.start()  # the same store and port: the server is back
    client = tracking.store.connect(Path(os.environ["COLORGAN_HOME"]))
    assert client.get_run(run_id).info.status == "RUNNING"  # nothing could be written while it was gone
    assert checkpoints.folders(client, run_id) == ["checkpoint/a"]  # epoch 2's save never began
    with tempfile.TemporaryDirectory() as tmp:
        whole, damaged = checkpoints.newest_whole(client, run_id, Path(tmp))
    assert whole is not None and whole.epoch == 1 and not damaged
    assert sorted(m.step for m in client.get_metric_history(run_id, epoch.EPOCH_KEY)) == [1]

    assert main(["train", "--resume", run_id]) == 0
    out = capsys.readouterr().out
    assert f"resuming run {run_id} after epoch 1" in out
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and "colorgan.error" not in run.data.tags
    assert sorted(m.step for m in client.get_metric_history(run_id, epoch.EPOCH_KEY)) == [1, 2, 3]
    curve = [m.step for m in client.get_metric_history(run_id, "curve/epoch")]
    assert len(curve) == len(set(curve)) == 3  # one curve point per epoch, none repeated
    assert {f.path for f in client.list_artifacts(run_id, "samples")} == {
        f"samples/epoch_{e:03d}.png" for e in (1, 2, 3)}


def test_a_study_whose_server_goes_away_stops_in_one_line_and_goes_on_with_no_trial_lost_or_run_twice(
        server, capsys, monkeypatch):
    spec = studies.load_spec(SMOKE_STUDY)
    url = storage_url(None, Path(os.environ["COLORGAN_HOME"]))
    stopped = {}

    class StopDuringSecondTrial(keras.callbacks.Callback):  # the study's trials take no callbacks: patch train
        def on_epoch_end(self, epoch, logs=None):
            trials = optuna.load_study(study_name=spec.name, storage=url).get_trials(deepcopy=False)
            if len(trials) == 2 and epoch == 0 and not stopped:
                stopped["trial"] = trials[-1].number
                server.stop()

    real_run = train.run_training

    def run_with_stop(cfg, *args, callbacks=(), **kwargs):
        return real_run(cfg, *args, callbacks=(*callbacks, StopDuringSecondTrial()), **kwargs)

    monkeypatch.setattr(train, "run_training", run_with_stop)
    rc = main(["study", str(SMOKE_STUDY), "--trials", "3", "--epochs", "2"])
    monkeypatch.setattr(train, "run_training", real_run)
    line = _one_line(capsys.readouterr().err)
    assert rc == 2 and stopped == {"trial": 1}
    assert line.startswith(f"colorgan: error: study smoke stopped: the tracking server {server.url} did not "
                           f"answer for {WAIT_S} s"), line
    assert "kept: 1 of 3 trials finished, in the Optuna storage; trial 1 was cut off and runs again with the same " \
           "values; once the server answers again: colorgan study smoke goes on" in line, line
    study = optuna.load_study(study_name=spec.name, storage=url)
    first, cut = study.get_trials()
    assert first.state == optuna.trial.TrialState.COMPLETE and cut.state == optuna.trial.TrialState.FAIL

    server.start()
    assert main(["study", str(SMOKE_STUDY), "--trials", "3", "--epochs", "2"]) == 0
    trials = optuna.load_study(study_name=spec.name, storage=url).get_trials()
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 3 and len(trials) == 4  # the budget, plus the cut-off trial, run again once
    assert [t.number for t in trials if t.user_attrs.get(RETRY_ATTR) == cut.number] == [2]
    assert trials[2].params == cut.params  # the cut-off configuration ran again, not a new one instead
    assert len({t.params["lr_g"] for t in complete}) == 3  # no configuration trained twice
    client = tracking.store.connect(Path(os.environ["COLORGAN_HOME"]))
    runs = tracking.trial_runs(Path(os.environ["COLORGAN_HOME"]), parent_run_id(study))
    by_trial: dict[str, list] = {}
    for run in runs:
        by_trial.setdefault(run.tags["colorgan.trial"], []).append(run)
    assert sorted(by_trial) == ["0", "1", "2", "3"] and all(len(v) == 1 for v in by_trial.values())
    assert by_trial["1"][0].status == "FAILED"  # the cut-off run, closed once the server was back
    for number in ("0", "2", "3"):
        run = by_trial[number][0]
        assert run.status == "FINISHED"
        assert sorted(m.step for m in client.get_metric_history(run.run_id, epoch.EPOCH_KEY)) == [1, 2]
