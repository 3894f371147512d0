"""`make ui` against a real MLflow server on a temporary store holding a study, and the page its printed link
opens in Debian's headless chromium (driven by Playwright; no browser is downloaded)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import finished_run, free_port

from colorgan import studies, tracking
from colorgan.studies import runner
from colorgan.tracking import studyruns

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PSNR = {0: 13.1, 1: 14.7, 2: 12.2}  # trial -> its last eval/psnr; trial 2 is pruned


@pytest.fixture
def study_store(env):
    """A study as `make study` leaves it in MLflow, without training: the study prepared (parent run, its
    params and the experiment's runs view) and three nested trial runs, the last pruned."""
    spec = studies.load_spec(ROOT / "studies" / "smoke.toml")
    _, parent = runner.prepare(spec, None, env)
    client, experiment = tracking.store.connect(env), tracking.experiment_id("study-smoke", env)
    for number, psnr in PSNR.items():
        state = "PRUNED" if number == 2 else "COMPLETE"
        run = finished_run(client, experiment, f"trial-{number}",
                           tags={"mlflow.parentRunId": parent, "colorgan.trial": number, "colorgan.trial_state": state},
                           params={"lr_g": 10.0 ** -(number + 2), **tracking.gray_params({"psnr": 12.5, "ssim": 0.4})},
                           metrics={"eval/psnr": {1: psnr - 0.5, 2: psnr},
                                    "eval/psnr_gain": {1: psnr - 13.0, 2: psnr - 12.5}})
        studyruns.name_trial_run(env, run, f"trial-{number}", state)
    return env


def test_make_ui_prints_a_link_that_opens_on_the_ranked_trials(study_store, tmp_path):
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "colorgan.tracking.ui", "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ})
    try:
        lines, url = [], None
        deadline = time.time() + 240
        while url is None and time.time() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.match(r"\s+study-smoke\s+(http://\S+)$", line)
            url = found.group(1) if found else None
        assert url, "make ui printed no link for study-smoke:\n" + "".join(lines)
        assert lines[0].startswith(f"MLflow UI on http://127.0.0.1:{port} (answered after")
        assert "1 worker" in lines[0] and "Model training" in "".join(lines)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})  # a fresh browser: no saved state
                page.goto(url)
                page.wait_for_selector("text=trial-2 (pruned)", timeout=120_000)
                page.wait_for_selector("text=eval/psnr", timeout=30_000)
                page.screenshot(path=str(tmp_path / "ui-landing.png"))
                text = page.inner_text("body")
                assert "/runs" in page.url and "Overview" not in text  # the runs table, not the GenAI overview
                order = [int(m) for m in re.findall(r"trial-(\d)", text)]
                assert order == sorted(PSNR, key=PSNR.get, reverse=True), order  # the trials, ranked by objective
                for column in ("lr_g", "gray_psnr", "colorgan.trial_state"):
                    assert column in text, column
            finally:
                browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    with pytest.raises(OSError):  # the server went with it, not left running on its own
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)


def test_the_readme_says_where_the_runs_are():
    readme = (ROOT / "README.md").read_text()
    results = readme[readme.index("## What you will see, and where"):][:1200]
    assert "Model training" in results and "make ui" in results
