"""A study's tables, on real Optuna studies (in memory) and a real MLflow store, without training: the trials table
(colorgan.studies.summaries), the paired comparisons and what a comparison within noise would need
(colorgan.studies.comparisons), and a trial's runs found from user attributes named before the rename
(colorgan.tracking.studyruns)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import optuna
import pandas as pd
import pytest
from conftest import finished_run

from colorgan import studies, tracking
from colorgan.scoring import metrics
from colorgan.studies import comparisons, summaries
from colorgan.tracking import studyruns
from colorgan.training import train

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "studies" / "smoke.toml"
State = optuna.trial.TrialState


def _trial(state, value=None, steps=None, **attrs):
    space = {"lr_g": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)}
    return optuna.trial.create_trial(state=state, value=value, params={"lr_g": 1e-3}, distributions=space,
                                     intermediate_values=steps or {}, user_attrs=attrs)


def test_summary_puts_each_figure_next_to_the_gray_one_with_its_epoch():
    """The trials table on a real (in-memory) Optuna study: a complete trial's final figure, a pruned one's last
    reported figure and its epoch, the gray figure of each trial's run and the gain over it; the interval column
    appears only once a trial has repeat values. (A PSNR objective: a gain objective has no gray column.)"""
    spec = dataclasses.replace(studies.load_spec(SMOKE), metrics=("eval/psnr",))
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial(State.COMPLETE, 14.0, {1: 13.0, 2: 14.0}, epochs=2, epochs_planned=2, run_id="a"))
    study.add_trial(_trial(State.PRUNED, None, {1: 12.5}, epochs=1, epochs_planned=2, run_id="b"))
    gray = {"a": {"psnr": 13.5}, "b": {"psnr": 13.0}}
    rows = summaries.table(study, spec, gray).to_dict("records")
    assert [(r["state"], r["epoch"], r["eval PSNR pooled (dB)"], r["gray (dB)"]) for r in rows] == [
        ("complete", "2/2", 14.0, 13.5), ("pruned", "1/2", 12.5, 13.0)]
    assert [r["gain over gray (dB)"] for r in rows] == pytest.approx([0.5, -0.5])
    assert not any("CI" in column for column in rows[0])  # no repeats: no interval made up
    text = summaries.as_text(summaries.table(study, spec, gray), spec)
    assert list(text["gain over gray (dB)"]) == ["+0.50", "-0.50"]
    study.add_trial(_trial(State.COMPLETE, 14.2, {1: 14.2}, repeat_values=[14.0, 14.2, 14.4]))
    rows = summaries.table(study, spec, gray).to_dict("records")
    ci = "±95% CI over repeats (dB)"
    assert rows[2][ci] == pytest.approx(4.303 * 0.2 / 3 ** 0.5, rel=1e-3) and math.isnan(rows[0][ci])
    assert math.isnan(rows[2]["gray (dB)"])  # its run's gray figure is unknown here: left empty, not guessed
    assert list(summaries.as_text(summaries.table(study, spec, gray), spec)[ci]) == ["", "", "0.50"]


def test_a_comparison_within_noise_says_what_it_would_need(store):
    """Two trials whose runs logged known per-image scores (a real store, no training): where the best is within
    noise of the other, the table and its line give the smallest difference these images detect and the images
    that would resolve the observed one; a clear verdict gets blanks, and a comparisons.csv from before the columns
    still reads."""
    import io

    import numpy as np

    client = tracking.store.connect(store)
    experiment = client.create_experiment("comparisons")
    rng = np.random.default_rng(0)
    files, base, gap = [f"f{i}.png" for i in range(80)], rng.normal(25.0, 3.0, 80), rng.normal(20.0, 5.0, 80)
    scores = [{"psnr": base + rng.normal(0.03, 0.5, 80), "colorfulness_gap": gap - 2.0, "color_auc_rebal": 0.8},
              {"psnr": base, "colorfulness_gap": gap, "color_auc_rebal": 0.8}]
    study = optuna.create_study(direction="maximize")
    dist = {"lr_g": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)}
    for lr, value, table in ((1e-3, 1.5, scores[0]), (2e-4, 1.0, scores[1])):
        text = pd.DataFrame({"file": files, **table}).to_csv(index=False)
        run = finished_run(client, experiment, texts={train.PER_IMAGE_ARTIFACT: text})
        study.add_trial(optuna.trial.create_trial(params={"lr_g": lr}, distributions=dist, value=value,
                                                  user_attrs={"run_id": run}))
    compared = comparisons.comparisons(study, studies.load_spec(SMOKE), store).set_index("score")
    psnr = metrics.paired_difference(scores[0]["psnr"], base, "psnr", "higher")
    assert psnr.verdict == "within noise" and compared.loc["psnr", "verdict"] == "within noise"
    assert compared.loc["psnr", "detectable"] == pytest.approx(psnr.detectable, abs=1e-4)
    assert compared.loc["psnr", "needed"] == psnr.needed > 80
    assert compared.loc["colorfulness_gap", "verdict"] == "better"
    assert compared.loc["colorfulness_gap", ["detectable", "needed"]].isna().all()
    assert compared.loc["color_auc_rebal", "verdict"] == "within noise"  # equal scores: no n resolves 0

    (line,) = comparisons.comparison_lines(compared.reset_index())
    d, low, high = compared.loc["psnr", ["difference", "ci95_low", "ci95_high"]]
    assert (f"PSNR mean {d:+.2f} [{low:+.2f}, {high:+.2f}] dB "
            f"(within noise; detectable at this budget: ±{psnr.detectable:.2f} dB; {psnr.needed:,} images would "
            f"resolve {d:+.2f})") in line
    assert "colourfulness gap to original -2.0 [-2.0, -2.0] (better);" in line  # its declared 1 decimal
    assert "(within noise; detectable at this budget: ±0.0000; no number of images would resolve a difference of 0)" \
        in line
    logged = pd.read_csv(io.StringIO(compared.reset_index().to_csv(index=False)))  # as the study logs it
    assert comparisons.comparison_lines(logged) == [line]
    older = comparisons.comparison_lines(logged.drop(columns=["detectable", "needed"]))
    assert "PSNR mean" in older[0] and "(within noise)" in older[0] and "detectable" not in older[0]


def test_a_trial_stored_before_the_rename_keeps_its_run():
    """Studies stored before the user attributes were named run_id / run_ids still lead to their runs."""
    assert studyruns.trial_run_id({"mlflow_run_id": "a"}) == "a"
    assert studyruns.trial_run_ids({"mlflow_run_ids": ["a", "b"]}) == ["a", "b"]
    assert studyruns.trial_run_id({"run_id": "new", "mlflow_run_id": "old"}) == "new"
    assert studyruns.trial_run_ids({"run_id": "a"}) == ["a"] and studyruns.trial_run_ids({}) == [None]

