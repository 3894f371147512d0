"""Checkpoints that survive a crash: two slots, a damaged one named in one line on --resume, the run resuming from
the previous whole one, and nothing in the run changed when no whole one is left. A real tiny run in a temporary
MLflow store; the damage is a data file cut short, as a process killed during its copy leaves it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from colorgan import tracking
from colorgan.__main__ import main
from colorgan.tracking import checkpoints
from colorgan.training import epoch

TINY = ["eval_fraction=0.2", "test_fraction=0.1", "max_train_images=8", "max_eval_images=8", "curve_points=1"]
DATA = "ckpt.data-00000-of-00001"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_epochs(tmp_path_factory):
    """A finished 2-epoch run with checkpoints: (root, photos, run id, its checkpoint folder on disk)."""
    from conftest import train_tiny

    run = train_tiny(tmp_path_factory, "ckpt", [*TINY, "epochs=2"], epoch_lines=False)
    folder = next((run.root / "mlruns" / "artifacts").rglob(f"{run.run_id}/artifacts/checkpoint"))
    return run.root, run.data_dir, run.run_id, folder


@pytest.fixture
def cli(two_epochs, monkeypatch):
    root, photos, run_id, folder = two_epochs
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("COLORGAN_HOME", str(root))
    monkeypatch.setenv("COLORGAN_DATA", str(photos))
    return two_epochs


def _epoch_of(slot: Path) -> int:
    return json.loads((slot / "state.json").read_text())["epoch"]


def _snapshot(root: Path, run_id: str, folder: Path) -> dict:
    client = tracking.store.connect(root)
    run = client.get_run(run_id)
    return {"status": run.info.status, "tags": run.data.tags, "params": run.data.params,
            "steps": {k: [(m.step, m.value) for m in client.get_metric_history(run_id, k)] for k in run.data.metrics},
            "files": sorted((str(p.relative_to(folder.parent)), p.stat().st_size) for p in folder.parent.rglob("*")
                            if p.is_file())}


def test_each_epoch_fills_the_other_slot_with_sizes_and_hashes(two_epochs):
    _, _, _, folder = two_epochs
    assert {_epoch_of(folder / "a"), _epoch_of(folder / "b")} == {1, 2}
    state = json.loads((folder / "b").joinpath("state.json").read_text())
    assert state["files"][DATA]["size"] == (folder / "b" / DATA).stat().st_size
    assert len(state["files"][DATA]["sha256"]) == 64


def test_no_whole_checkpoint_is_one_line_and_changes_nothing(cli, capsys, tmp_path):
    root, _, run_id, folder = cli
    backup = tmp_path / "backup"
    shutil.copytree(folder, backup)
    try:
        for slot in "ab":
            with open(folder / slot / DATA, "r+b") as f:
                f.truncate(1000)
        before = _snapshot(root, run_id, folder)
        assert main(["train", "--resume", run_id, "--set", "epochs=3"]) == 2
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if line.startswith("colorgan: error: ")]
        assert len(lines) == 1 and "Traceback" not in err, err[-2000:]
        newest = "b" if _epoch_of(folder / "b") == 2 else "a"
        assert (f"run {run_id} cannot resume: checkpoint checkpoint/{newest}/{DATA} is 1000 bytes, not "
                in lines[0]) and "(and 1 older one too)" in lines[0] and "start a new run" in lines[0]
        assert _snapshot(root, run_id, folder) == before  # status, tags, params, metrics and files as they were

        # a run saved before the slots (one checkpoint/ckpt.*, no sizes or hashes) cut short: TensorFlow's
        # "IndexError: Read less bytes than requested", named in one line instead of a traceback
        shutil.rmtree(folder)
        shutil.copytree(backup / newest, folder)
        state = json.loads((folder / "state.json").read_text())
        (folder / "state.json").write_text(json.dumps({"epoch": state["epoch"], "metrics": state["metrics"]}))
        with open(folder / DATA, "r+b") as f:
            f.truncate(1000)
        assert main(["train", "--resume", run_id, "--set", "epochs=3"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert (f"cannot resume: checkpoint checkpoint/{DATA} is unreadable (IndexError: Read less bytes than "
                "requested") in err
    finally:
        shutil.rmtree(folder)
        shutil.copytree(backup, folder)


def test_a_damaged_newest_checkpoint_resumes_from_the_previous_whole_one(cli, capsys, tmp_path):
    root, _, run_id, folder = cli
    newest = "b" if _epoch_of(folder / "b") == 2 else "a"
    older = "a" if newest == "b" else "b"
    size = json.loads((folder / newest / "state.json").read_text())["files"][DATA]["size"]
    with open(folder / newest / DATA, "r+b") as f:
        f.truncate(1000)
    assert main(["train", "--resume", run_id, "--set", "epochs=3"]) == 0
    captured = capsys.readouterr()
    warning = [line for line in captured.err.splitlines() if "is 1000 bytes" in line]
    assert warning == [f"colorgan: warning: run {run_id}: checkpoint checkpoint/{newest}/{DATA} is 1000 bytes, "
                       f"not {size}; resuming from the previous whole checkpoint (checkpoint/{older}, epoch 1), which"
                       " the next save no longer overwrites; epochs 2..2 are trained and logged again"]
    assert f"resuming run {run_id} after epoch 1" in captured.out
    client = tracking.store.connect(root)
    assert sorted(m.step for m in client.get_metric_history(run_id, epoch.EPOCH_KEY)) == [1, 2, 2, 3]
    assert client.get_run(run_id).info.status == "FINISHED"
    found, damaged = checkpoints.newest_whole(client, run_id, tmp_path)
    assert found.epoch == 3 and damaged == []  # the damaged slot was written over by a whole one
    assert {_epoch_of(folder / "a"), _epoch_of(folder / "b")} == {2, 3}
