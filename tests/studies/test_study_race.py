"""Two `make study NAME=smoke` started at once on one SQLite Optuna store (issue 24, 6b): both end cleanly, one
parent run, exactly the budget of trials, the base values run once, no configuration trained twice, no trial lost
(studies.lock). Real processes, real stores: tests/studies/study_race_probe.py, with one epoch per trial."""

from __future__ import annotations

import pytest
from study_race_probe import probe

pytestmark = pytest.mark.slow


def test_two_studies_started_at_once_share_the_budget_with_no_duplicate_or_lost_trial(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    figures = probe(2, tmp_path, ("--epochs", "1"), log=lambda line: None)
    assert figures["exit codes"] == [0, 0] and not figures["error lines"], figures
    assert figures["states"] == {"COMPLETE": 3} and figures["complete"] == figures["budget"], figures
    assert figures["configurations trained twice"] == 0 and figures["base trials"] == 1, figures
    assert figures["parent runs"] == 1 and figures["parent status"] == "FINISHED", figures
    assert figures["trial runs"] == 3 and figures["trial numbers with more than one run"] == 0, figures
