"""`make ui` against a real MLflow server on a temporary store holding a real tiny study, and the page its printed
link opens in Debian's headless chromium (driven by Playwright; no browser is downloaded): each trial's row under the
study's, its seeds' rows under it, and first the trial's rounded objective, colourfulness gap and critic AUC."""

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
from conftest import free_port
from helpers import tiny_smoke

from colorgan import studies, tracking

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
EXPANDER = "button[data-component-id$='runnamecellrenderer.tsx_46']"  # the run name cell's expand/fold button
FIRST = {"trial/eval/psnr_gain": 2, "trial/eval/colorfulness_gap": 1, "trial/eval/critic_auc": 3}  # key: digits


@pytest.fixture
def study_store(env, tmp_path):
    """A real study as `make study` leaves it in MLflow: 2 trials x 2 seeds, one epoch each at 32x32 on 8 training
    and 8 eval images (about 30 s); (its project root, the Optuna study)."""
    from colorgan.studies import runner

    path = tmp_path / "view.toml"
    path.write_text("repeats = 2\n" + tiny_smoke(tmp_path).read_text())
    study = runner.run_study(studies.load_spec(path), trials=2, epochs=1, root=env)
    return env, study


def _rows(page) -> list[tuple[str, dict[str, str], bool]]:
    """The table's rows in display order: (run name, {column id: cell text}, has an expander)."""
    out = []
    left = page.locator(".ag-pinned-left-cols-container .ag-row")
    for i in sorted(int(left.nth(n).get_attribute("row-index")) for n in range(left.count())):
        name_row = page.locator(f".ag-pinned-left-cols-container .ag-row[row-index='{i}']")
        cells = page.locator(f".ag-center-cols-container .ag-row[row-index='{i}'] .ag-cell")
        out.append((name_row.locator("a[href*='/runs/']").inner_text().strip(),
                    {cells.nth(n).get_attribute("col-id"): cells.nth(n).inner_text().strip()
                     for n in range(cells.count())}, name_row.locator(EXPANDER).count() == 1))
    return out


def _expand(page, name: str, then: str) -> None:
    row = page.locator(".ag-pinned-left-cols-container .ag-row").filter(has=page.get_by_text(name, exact=True))
    row.locator(EXPANDER).click()
    page.get_by_text(then, exact=True).wait_for(timeout=30_000)


def test_make_ui_prints_a_link_that_opens_on_the_trials_with_their_seeds_nested(study_store, tmp_path):
    from playwright.sync_api import sync_playwright

    root, study = study_store
    runs = {r.name: r for r in tracking.trial_runs(root, study.user_attrs["mlflow_parent_run_id"])}
    client = tracking.store.connect(root)
    groups = {t.number: client.get_run(t.user_attrs["group_run_id"]).data.metrics for t in study.trials}
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
            found = re.match(r"\s+study-view\s+(http://\S+)$", line)
            url = found.group(1) if found else None
        assert url, "make ui printed no link for study-view:\n" + "".join(lines)
        assert lines[0].startswith(f"MLflow UI on http://127.0.0.1:{port} (answered after")
        assert "1 worker" in lines[0] and "Model training" in "".join(lines)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 900})  # a fresh browser: no saved state
                page.goto(url)
                page.locator(".ag-pinned-left-cols-container a[href*='/runs/']").first.wait_for(timeout=120_000)
                assert "/runs" in page.url and "Overview" not in page.inner_text("body")  # not the GenAI overview
                # The study's row, folded (a shared view cannot say which rows are open); its trials under it, each
                # folded with an expander; a trial's seeds under it once opened.
                assert [(name, expander) for name, _, expander in _rows(page)] == [("study-view", True)]
                _expand(page, "study-view", "trial-1")
                assert [(name, expander) for name, _, expander in _rows(page)] == [
                    ("study-view", True), ("trial-0", True), ("trial-1", True)]
                _expand(page, "trial-0", "trial-0-seed1")
                _expand(page, "trial-1", "trial-1-seed1")
                rows = _rows(page)
                page.screenshot(path=str(tmp_path / "ui-study.png"))
                assert [name for name, _, _ in rows] == ["study-view", "trial-0", "trial-0-seed0", "trial-0-seed1",
                                                         "trial-1", "trial-1-seed0", "trial-1-seed1"]
                assert [expander for _, _, expander in rows] == [True, True, False, False, True, False, False]
                # The first metric columns: the trial's objective, colourfulness gap and critic AUC, then the seeds'
                # own objective; the trial rows show them rounded as the summary does, the seed rows in full.
                heads = page.eval_on_selector_all(".ag-header-cell[col-id^='metrics.']", "cells => cells.map(c => "
                                                  "[c.getBoundingClientRect().left, c.getAttribute('col-id')])")
                assert [col for _, col in sorted(heads)][:4] == [f"metrics.`{k}`" for k in (*FIRST, "eval/psnr_gain")]
                for name, cells, _ in rows:
                    number = int(name.split("-")[1]) if name.startswith("trial-") else None
                    for key, digits in FIRST.items():
                        text = cells[f"metrics.`{key}`"]
                        if name.startswith("trial-") and "seed" not in name:
                            assert float(text) == groups[number][key] and len(text.partition(".")[2]) <= digits, text
                        else:
                            assert text == "-", (name, key, text)
                    if "seed" in name:
                        assert float(cells["metrics.`eval/psnr_gain`"]) == runs[name].metrics["eval/psnr_gain"]
                assert float(rows[1][1]["metrics.`trial/eval/psnr_gain`"]) == round(study.trials[0].value, 2)
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
