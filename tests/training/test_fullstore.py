"""A full store, said plainly: one line (which path, its free space, what was kept), the run FAILED with that reason
where its database can still be written, nothing half-written, and the kept checkpoint good for --resume.

Two ways to fill a disk, both real stores (no mock of MLflow): a size-limited tmpfs, mounted by the test itself in
an unprivileged user and mount namespace (``unshare -rm``; skipped where the kernel forbids it), which the free-space
check before each epoch's writes sees; and, for a write that fails although the check passed (another process
filled the disk meanwhile), an ENOSPC injected at the file layer: ``shutil.copyfileobj``, with which MLflow's local
artifact store copies a file in, raises ``OSError(ENOSPC)`` for the checkpoint's data file of the second epoch.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import free_port

from colorgan import tracking
from colorgan.__main__ import main
from colorgan.tracking import checkpoints
from colorgan.training import epoch

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "experiments" / "smoke.toml"
TINY = ["eval_fraction=0.2", "test_fraction=0.1", "max_train_images=8", "max_eval_images=8", "curve_points=1"]
DATA = "ckpt.data-00000-of-00001"
pytestmark = pytest.mark.slow


def _can_mount() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
                              capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("colorgan: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err[-3000:]
    return lines[0]


def _in_small_fs(size: str, mount_at: Path, command: list[str], env: dict, tmp_path: Path) -> tuple[int, str]:
    """Run ``command`` with a ``size`` tmpfs mounted at ``mount_at``; afterwards the tmpfs' files are copied onto
    the real folder underneath (same paths, so the MLflow store reads back). (exit code, stderr)."""
    logs = tmp_path / "namespace"
    save = logs / "saved"
    save.mkdir(parents=True)
    script = (f'mount -t tmpfs -o size={size} tmpfs "{mount_at}" || exit 99\n'
              f'"$@" > "{logs}/stdout" 2> "{logs}/stderr"; echo $? > "{logs}/rc"\n'
              f'cp -a "{mount_at}/." "{save}/"\n')
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *command], env=env, timeout=900)
    assert done.returncode == 0, "the tmpfs could not be mounted"
    shutil.copytree(save, mount_at, dirs_exist_ok=True)
    return int((logs / "rc").read_text()), (logs / "stderr").read_text()


def _env(home: Path, photos: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update(COLORGAN_HOME=str(home), COLORGAN_DATA=str(photos), PYTHONPATH=str(ROOT))
    return env


@pytest.mark.skipif(not _can_mount(), reason="no unprivileged user+mount namespace here (unshare -rm)")
def test_a_small_filesystem_stops_the_run_with_one_line_and_keeps_its_checkpoint(colour_folder, tmp_path,
                                                                                   monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    # 80 MB: room for the database and epoch 1's checkpoint (about 50 MB) with the reserve, not for a second one
    rc, err = _in_small_fs("80m", home, [sys.executable, "-m", "colorgan", "train", str(SMOKE), "--set", *TINY,
                                         "epochs=3"], _env(home, colour_folder), tmp_path)
    line = _one_line(err)
    assert rc == 2
    assert "stopped: the MLflow database " in line and " MB free, under the " in line
    assert "epoch 2's writes need; kept the checkpoint of epoch 1 (whole) and the metrics of epochs 1..1" in line
    run_id = line.split("run ", 1)[1].split()[0]
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client = tracking.store.connect(home)
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and "epoch 2's writes need" in run.data.tags["colorgan.error"]
    assert [m.step for m in client.get_metric_history(run_id, epoch.EPOCH_KEY)] == [1]
    found, damaged = checkpoints.newest_whole(client, run_id, tmp_path / "dl")
    assert found.epoch == 1 and found.folder == "checkpoint/a" and not damaged
    assert checkpoints.folders(client, run_id) == ["checkpoint/a"]  # nothing begun in the other slot

    # with room again (the same store, now on the real disk), --resume goes on from the kept checkpoint
    monkeypatch.setenv("COLORGAN_HOME", str(home))
    monkeypatch.setenv("COLORGAN_DATA", str(colour_folder))
    assert main(["train", "--resume", run_id]) == 0
    assert sorted(m.step for m in client.get_metric_history(run_id, epoch.EPOCH_KEY)) == [1, 2, 3]
    assert client.get_run(run_id).info.status == "FINISHED"


@pytest.mark.skipif(not _can_mount(), reason="no unprivileged user+mount namespace here (unshare -rm)")
def test_the_issues_3_mb_filesystem_is_one_line_not_a_traceback(colour_folder, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    rc, err = _in_small_fs("3m", home, [sys.executable, "-m", "colorgan", "train", str(SMOKE), "--set", *TINY,
                                        "epochs=2"], _env(home, colour_folder), tmp_path)
    line = _one_line(err)
    assert rc == 2 and "epoch 1's writes need; kept no checkpoint; free some space, then train again" in line
    run_id = line.split("run ", 1)[1].split()[0]
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = tracking.store.connect(home).get_run(run_id)
    assert run.info.status == "FAILED" and "stopped: " in run.data.tags["colorgan.error"]


def test_a_write_that_runs_out_of_space_leaves_the_last_checkpoint_whole(env, monkeypatch, capsys, tmp_path):
    copy, calls = shutil.copyfileobj, []

    def full_disk(src, dst, *args, **kwargs):  # the file layer under MLflow's local artifact store
        if getattr(src, "name", "").endswith(DATA):
            calls.append(src.name)
            if len(calls) == 2:
                dst.write(src.read(1000))  # part of it lands, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
        return copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfileobj", full_disk)
    assert main(["train", str(SMOKE), "--set", *TINY, "epochs=3"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "stopped: out of space ([Errno 28] No space left on device); the fullest store is " in line
    assert "kept the checkpoint of epoch 1 (whole) and the metrics of epochs 1..1; free some space" in line
    run_id = line.split("run ", 1)[1].split()[0]
    client = tracking.store.connect(env)
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and "No space left on device" in run.data.tags["colorgan.error"]
    assert checkpoints.folders(client, run_id) == ["checkpoint/a"]
    artifacts = next((env / "mlruns" / "artifacts").rglob(f"{run_id}/artifacts"))
    assert not (artifacts / "checkpoint" / "b").exists() or not any((artifacts / "checkpoint" / "b").iterdir())
    monkeypatch.setattr(shutil, "copyfileobj", copy)
    assert main(["train", "--resume", run_id]) == 0
    assert sorted(m.step for m in client.get_metric_history(run_id, epoch.EPOCH_KEY)) == [1, 2, 3]


@pytest.mark.skipif(not _can_mount(), reason="no unprivileged user+mount namespace here (unshare -rm)")
def test_colorize_into_a_full_folder_is_one_line_and_leaves_no_partial_file(tmp_path):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((600, 600, 3)) * 255).astype(np.uint8)).save(tmp_path / "noisy.png")
    out = tmp_path / "out"
    out.mkdir()
    env = _env(tmp_path / "home", tmp_path)
    rc, err = _in_small_fs("64k", out, [sys.executable, "-m", "colorgan", "colorize", str(tmp_path / "noisy.png"),
                                        "--model", "shipped", "--out", str(out), "--quiet"], env, tmp_path)
    line = _one_line(err)
    assert rc == 2 and f"no space left in {out} (" in line and "kept the 0 file(s) written before" in line
    assert list(out.iterdir()) == []  # no partial file, no temporary one


@pytest.mark.skipif(not _can_mount(), reason="no unprivileged user+mount namespace here (unshare -rm)")
def test_serve_with_a_full_temporary_folder_answers_507_never_500_and_keeps_serving(tmp_path):
    """A real 1 MB tmpfs as the server's TMPDIR (its own user and mount namespace): a 3 MB upload, which Starlette
    spools to the temporary folder past 1 MB, does not fit, and FastAPI's "error parsing the body" (400) it would
    give is named: 507 with a clear message. A small upload (kept in memory) is still served."""

    import numpy as np
    import requests
    from PIL import Image

    from colorgan.serving.app import TMP_FULL

    port = free_port()
    tmp, logs = tmp_path / "tmp", tmp_path / "server.log"
    tmp.mkdir()
    script = f'mount -t tmpfs -o size=1m tmpfs "{tmp}" || exit 99\nTMPDIR="{tmp}" exec "$@"'
    with open(logs, "w") as log:
        server = subprocess.Popen(["unshare", "-rm", "sh", "-c", script, "sh", sys.executable, "-m", "colorgan",
                                   "serve", "--model", "shipped", "--port", str(port)],
                                  env=_env(tmp_path / "home", tmp_path), stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                requests.get(f"{url}/api/health", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.time() < deadline, logs.read_text()[-3000:]
                time.sleep(1)
        rng = np.random.default_rng(0)
        big, small = io.BytesIO(), io.BytesIO()
        Image.fromarray((rng.random((1000, 1000, 3)) * 255).astype(np.uint8)).save(big, format="PNG")
        Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8)).save(small, format="PNG")
        assert big.tell() > 2 * 1024 * 1024  # noise does not compress: well past the 1 MB tmpfs
        answer = requests.post(f"{url}/api/colorize", files={"file": ("big.png", big.getvalue(), "image/png")},
                               timeout=120)
        assert answer.status_code == 507 and answer.json() == {"detail": TMP_FULL}, answer.text
        answer = requests.post(f"{url}/api/colorize", files={"file": ("small.png", small.getvalue(), "image/png")},
                               timeout=120)
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png", answer.text
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def test_a_study_whose_store_fills_up_stops_in_one_line_and_goes_on_with_the_cut_off_values(env, monkeypatch,
                                                                                             capsys):
    """An ENOSPC injected at the file layer (``shutil.copyfileobj``, MLflow's local artifact store) on the second
    trial's first sample grid: the study stops in one line (which store, its free space, what was kept); the trial
    counts for nothing, and the study run again trains its values again and meets the budget."""
    import optuna

    from colorgan.studies.storage import storage_url
    from colorgan.studies.trials import RETRY_ATTR

    copy, calls = shutil.copyfileobj, []

    def full_disk(src, dst, *args, **kwargs):
        if getattr(src, "name", "").endswith("epoch_001.png"):
            calls.append(src.name)
            if len(calls) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
        return copy(src, dst, *args, **kwargs)

    study_file = ROOT / "studies" / "smoke.toml"
    monkeypatch.setattr(shutil, "copyfileobj", full_disk)
    assert main(["study", str(study_file), "--trials", "3", "--epochs", "1"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("colorgan: error: study smoke stopped: out of space ([Errno 28] No space left on "
                           "device); the fullest store is "), line
    assert " free; kept: 1 of 3 trials finished, in the Optuna storage; trial 1 was cut off and runs again with " \
           "the same values; free some space, then colorgan study smoke goes on" in line, line
    monkeypatch.setattr(shutil, "copyfileobj", copy)
    assert main(["study", str(study_file), "--trials", "3", "--epochs", "1"]) == 0
    trials = optuna.load_study(study_name="smoke", storage=storage_url(None, env)).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert trials[2].user_attrs[RETRY_ATTR] == 1 and trials[2].params == trials[1].params
