"""The study figures on plain tables (no store needed): two objectives, a log-searched parameter, pruned trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image

from reports import figures


def _trials() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    lr = 10 ** rng.uniform(-5, -2, 8)
    return pd.DataFrame({"number": range(8), "state": ["COMPLETE"] * 6 + ["PRUNED"] * 2, "lr_g": lr,
                         "eval/psnr": 22 + rng.normal(0, 0.5, 8), "eval/colorfulness_gap": rng.uniform(5, 30, 8)})


def _check(path) -> None:
    with Image.open(path) as img:
        assert img.size[0] > 300 and np.asarray(img.convert("L")).std() > 1


def test_pareto_history_and_log_axis(tmp_path):
    figures.use_style()
    trials = _trials()
    plotted = figures.pareto(trials, ["eval/psnr", "eval/colorfulness_gap"], [1, 4], tmp_path)
    assert list(plotted.loc[plotted["Pareto front"], "number"]) == [1, 4]
    history = figures.history(trials, "eval/psnr", True, tmp_path)
    complete = trials["eval/psnr"].where(trials["state"] == "COMPLETE")
    np.testing.assert_allclose(history["best so far"], complete.cummax().ffill())
    figures.objective_vs_params(trials, {"lr_g": True}, "eval/psnr", tmp_path)
    for name in ("pareto", "history", "objective_vs_params"):
        _check(tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.svg").stat().st_size > 1000


def test_log_ticks_label_decades_or_the_ends():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.set_xscale("log")
    figures.log_ticks(ax.xaxis, 2e-5, 5e-3)
    assert list(ax.xaxis.get_major_locator().locs) == [1e-4, 1e-3]
    figures.log_ticks(ax.xaxis, 1.3e-3, 2.7e-3)
    assert list(ax.xaxis.get_major_locator().locs) == [1.3e-3, 2.7e-3]  # only 2e-3 inside: label the ends
    plt.close(fig)


def test_phase_boundary_drawn_between_pretraining_and_gan(tmp_path):
    figures.use_style()
    rows = [("two-phase", "phase", s, float(s > 3)) for s in range(1, 7)]
    rows += [("two-phase", "eval/psnr", s, 22 + 0.1 * s) for s in range(1, 7)]
    rows += [("gan only", "phase", s, 1.0) for s in range(1, 7)]
    rows += [("gan only", "eval/psnr", s, 22.0) for s in range(1, 7)]
    hist = pd.DataFrame(rows, columns=["run", "metric", "step", "value"])
    assert figures.phase_boundaries(hist) == {"two-phase": 3.5}
    figures.quality(hist, tmp_path / "with")
    figures.quality(hist[hist["metric"] != "phase"], tmp_path / "without")
    dashed = [(tmp_path / d / "quality.svg").read_text().count("stroke-dasharray") for d in ("with", "without")]
    assert dashed[0] >= dashed[1] + 2  # one dashed boundary per panel (PSNR, colourfulness)


def test_summary_table_columns_come_from_the_logged_declarations():
    from types import SimpleNamespace

    from reports import render

    declared = [{"name": "psnr", "label": "PSNR pooled", "unit": "dB", "digits": 2, "mean_of": ""},
                {"name": "psnr_mean", "label": "PSNR mean", "unit": "dB", "digits": 2, "mean_of": "psnr"},
                {"name": "border_ratio", "label": "border chroma ratio", "unit": "", "digits": 2, "mean_of": ""}]
    table = pd.DataFrame([{"label": "m", "kind": "model", "group": "all", "n": 5, "image_size": 32, "psnr": 23.456,
                           "psnr_mean": 25.0, "psnr_ci95": 0.5, "border_ratio": 0.9}])
    report = SimpleNamespace(table=table, evaluations=[SimpleNamespace(info={"metrics": declared})])
    row = render.summary_table(report).iloc[0].to_dict()
    assert row == {"run / baseline": "m", "kind": "model", "n": 5, "size": 32, "PSNR pooled (dB)": "23.46",
                   "PSNR mean ± 95% CI (dB)": "25.00 ± 0.50", "border chroma ratio": "0.90"}
