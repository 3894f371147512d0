"""SIGKILL at random moments during checkpoint writes (issue 24, 6a): each --resume goes on from the last epoch logged,
and the finished run has every epoch exactly once. tests/training/sigkill_probe.py with 2 kills inside a save (the
kill lands 0-0.12 s after the process's first checkpoint file appears, within the save on this machine); run
``python tests/training/sigkill_probe.py --tries 20`` for the figures."""

from __future__ import annotations

import pytest
from sigkill_probe import probe

pytestmark = pytest.mark.slow


def test_sigkill_during_checkpoint_writes_loses_and_repeats_no_epoch(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    figures = probe(2, tmp_path, window_s=0.12, log=lambda line: None)
    assert figures["kills inside a save (the tries)"] >= 1, figures
    assert figures["resumes not from the last logged epoch"] == 0, figures
    assert figures["epoch steps repeated"] == figures["epoch steps missing"] == 0, figures
    assert figures["curve steps repeated"] == 0, figures
    assert figures["final status"] == "FINISHED", figures
    assert figures["temporary checkpoint folders the kills left in TMPDIR"] == 0, figures  # swept by later saves
