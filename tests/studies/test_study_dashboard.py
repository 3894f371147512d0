"""colorgan.studies.dashboard: the line `make dashboard [NAME=X]` prints, on a real SQLite Optuna storage, and the
page it names, served by a real optuna-dashboard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest
from conftest import free_port

from colorgan.base import paths
from colorgan.studies import dashboard


@pytest.fixture
def storage(tmp_path) -> tuple[str, dict[str, int]]:
    """A SQLite storage holding three studies (so a study's id is not 1): (its URL, name -> study id)."""
    url = paths.sqlite_url(tmp_path / "optuna.db")
    made = {name: optuna.create_study(study_name=name, storage=url) for name in ("first", "lr_sweep", "other")}
    made["lr_sweep"].optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2)
    return url, {name: study._study_id for name, study in made.items()}


def test_a_named_study_s_page_is_its_id_in_the_storage(storage, capsys):
    url, ids = storage
    assert ids["lr_sweep"] == 2
    assert dashboard.main(["lr_sweep", "--storage", url]) == 0
    assert capsys.readouterr().out == ("study lr_sweep: http://127.0.0.1:8080/dashboard/studies/2 (every study: "
                                       "http://127.0.0.1:8080/dashboard)\n")


def test_without_a_name_it_says_the_dashboard_shows_every_study(storage, capsys):
    url, _ = storage
    assert dashboard.main(["--storage", url, "--port", "8081"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("optuna-dashboard on http://127.0.0.1:8081/dashboard shows every study in ")
    assert "(first, lr_sweep, other); make dashboard NAME=STUDY prints one study's page" in out


def test_a_study_the_storage_lacks_is_one_line_and_creates_nothing(storage, capsys):
    url, ids = storage
    assert dashboard.main(["nope", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err == (f"make dashboard: error: no study named 'nope' in {url} (it holds: first, lr_sweep, other); "
                   "make study NAME=nope starts it\n")
    assert dashboard.study_names(url) == ids


def test_a_storage_that_cannot_be_read_is_one_line(tmp_path, capsys):
    url = paths.sqlite_url(tmp_path / "missing-folder" / "optuna.db")
    assert dashboard.main(["lr_sweep", "--storage", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"make dashboard: error: the study storage {url} cannot be read: ") and err.count("\n") == 1


@pytest.mark.slow  # a real optuna-dashboard server
def test_the_printed_page_is_that_study_on_a_running_dashboard(storage, capsys):
    url, _ = storage
    port = free_port()
    assert dashboard.main(["lr_sweep", "--storage", url, "--port", str(port)]) == 0
    page = capsys.readouterr().out.split()[2]
    study_id = page.rsplit("/", 1)[1]
    server = Path(sys.executable).parent / "optuna-dashboard"
    proc = subprocess.Popen([str(server), url, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ})
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}", timeout=5) as answer:
                    shown = json.load(answer)
                break
            except OSError:
                assert time.time() < deadline and proc.poll() is None, "optuna-dashboard did not start"
                time.sleep(0.3)
        assert shown["name"] == "lr_sweep" and len(shown["trials"]) == 2
        with urllib.request.urlopen(page, timeout=5) as answer:
            assert answer.status == 200 and b"<html" in answer.read().lower()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
