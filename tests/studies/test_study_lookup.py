"""colorgan.studies.lookup: a study's best run found in the Optuna store without loading TensorFlow."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow  # a Python process
def test_looking_up_a_study_s_best_run_loads_no_tensorflow(tmp_path):
    """study:NAME references (studies.lookup) and the summary's storage reach Optuna and MLflow, not TensorFlow."""
    code = ("import sys; from pathlib import Path; from colorgan import studies; from colorgan.studies import lookup, "
            f"storage\nurl = storage.storage_url(None, Path({str(tmp_path)!r}))\n"
            f"try: lookup.best_run_id('nope', url, Path({str(tmp_path)!r}))\n"
            "except studies.StudyError as exc: print(exc)\n"
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    found, tf_loaded = out.stdout.strip().splitlines()
    assert found.startswith("no study named 'nope' in ") and tf_loaded == "False", out.stdout
