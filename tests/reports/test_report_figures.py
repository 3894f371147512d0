"""The study figures on plain tables (no store needed): two objectives, a log-searched parameter, pruned trials."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from reports import curve_figures, figures, sample_figures, study_figures

ROOT = Path(__file__).resolve().parents[2]


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
    plotted = study_figures.pareto(trials, ["eval/psnr", "eval/colorfulness_gap"], [1, 4], tmp_path)
    assert list(plotted.loc[plotted["Pareto front"], "number"]) == [1, 4]
    history = study_figures.history(trials, "eval/psnr", True, tmp_path)
    complete = trials["eval/psnr"].where(trials["state"] == "COMPLETE")
    np.testing.assert_allclose(history["best so far"], complete.cummax().ffill())
    study_figures.objective_vs_params(trials, {"lr_g": True}, "eval/psnr", tmp_path)
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
    assert curve_figures.phase_boundaries(hist) == {"two-phase": 3.5}
    curve_figures.quality(hist, tmp_path / "with")
    curve_figures.quality(hist[hist["metric"] != "phase"], tmp_path / "without")
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


def _drawn(monkeypatch) -> list:
    """The figures the next calls save (closed, but their axes stay inspectable)."""
    drawn, save = [], figures.save
    monkeypatch.setattr(figures, "save", lambda fig, folder, name: (drawn.append(fig), save(fig, folder, name))[1])
    return drawn


def _svg(path) -> str:
    return path.read_text()


@pytest.mark.slow  # five figures drawn
def test_every_psnr_figure_has_a_labelled_gray_image_line(tmp_path):
    figures.use_style()
    trials = _trials()
    gray = {f"trial {n}": 21.25 for n in trials["number"]}
    rows = [(f"trial {n}", "eval/psnr", s, 21.5 + 0.1 * s + 0.01 * n) for n in range(3) for s in range(1, 4)]
    hist = pd.DataFrame(rows, columns=["run", "metric", "step", "value"])
    curve_figures.quality(hist, tmp_path, {"eval/psnr": gray})
    study_figures.trial_curves(hist, {f"trial {n}": 10.0 ** -(n + 2) for n in range(3)}, "lr_g", True, "eval/psnr",
                         tmp_path, "PSNR pooled (dB)", gray)
    study_figures.objective_vs_params(trials, {"lr_g": True}, "eval/psnr", tmp_path, "PSNR pooled (dB)", gray)
    study_figures.history(trials, "eval/psnr", True, tmp_path, "PSNR pooled (dB)", gray)
    sample_figures.per_class(_per_class(), tmp_path, "test split")
    for name in ("quality", "trial_curves_lr_g", "objective_vs_params", "history", "per_class"):
        svg = _svg(tmp_path / f"{name}.svg")
        assert f'id="{figures.GRAY_ID}' in svg, f"{name}: no gray-image line"
        assert "gray image" in svg, f"{name}: the gray-image line is not in the legend"
    assert "gray image, eval split: 21.25 dB" in _svg(tmp_path / "history.svg")
    study_figures.history(trials, "eval/psnr", True, tmp_path / "none", "PSNR pooled (dB)", {})
    assert f'id="{figures.GRAY_ID}' not in _svg(tmp_path / "none" / "history.svg")  # the check can fail


def test_pruned_trials_are_drawn_as_pruned_never_as_finished(tmp_path, monkeypatch):
    figures.use_style()
    trials = _trials()  # trials 6 and 7 pruned
    drawn = _drawn(monkeypatch)
    study_figures.history(trials, "eval/psnr", True, tmp_path)
    study_figures.objective_vs_params(trials, {"lr_g": True}, "eval/psnr", tmp_path)
    for fig, name in zip(drawn, ("history", "objective_vs_params"), strict=True):
        ax = fig.axes[0]
        pruned = [c for c in ax.collections if c.get_gid() == study_figures.PRUNED_ID]
        assert len(pruned) == 1 and len(pruned[0].get_offsets()) == 2, name
        finished = [c for c in ax.collections if c.get_label() == study_figures.STATES["COMPLETE"]]
        assert len(finished[0].get_offsets()) == 6, name  # the pruned values are not among the finished dots
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert study_figures.STATES["PRUNED"] in legend and study_figures.STATES["COMPLETE"] in legend, name
    rows = [("trial 0", "eval/psnr", s, 22.0 + 0.1 * s) for s in range(1, 5)]
    rows += [("trial 1", "eval/psnr", s, 21.0 + 0.1 * s) for s in range(1, 3)]
    hist = pd.DataFrame(rows, columns=["run", "metric", "step", "value"])
    study_figures.trial_curves(hist, {"trial 0": 1e-3, "trial 1": 1e-4}, "lr_g", True, "eval/psnr", tmp_path,
                         pruned={"trial 1"})
    ax = drawn[-1].axes[0]
    ends = [c for c in ax.collections if c.get_gid() == study_figures.PRUNED_ID]
    assert [tuple(c.get_offsets()[0]) for c in ends] == [(2.0, 21.2)]  # a cross at the pruned trial's last epoch
    assert "pruned trial: stopped here" in [t.get_text() for t in ax.get_legend().get_texts()]


def _per_class() -> pd.DataFrame:
    rows = []
    for label, base in (("model", 23.0), ("welsh", 20.0), ("gray", 21.5)):
        for i, group in enumerate(("forest", "street")):
            rows.append({"label": label, "group": group, "psnr": base + i, "psnr_lo": base + i - 0.3,
                         "psnr_hi": base + i + 0.4, "colorfulness_gap": 10.0 + i, "colorfulness_gap_ci95": 1.0})
    return pd.DataFrame(rows)


def test_per_class_bars_have_intervals_units_and_a_psnr_axis_not_from_zero(tmp_path, monkeypatch, declared):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    sample_figures.per_class(_per_class(), tmp_path, "test split", declared=declared)
    psnr, gap = drawn[0].axes[:2]
    assert psnr.get_ylabel() == "PSNR pooled (dB)" and "test split" in psnr.get_title()
    assert 15 < psnr.get_ylim()[0] < 19.7 and psnr.get_ylim()[1] > 24.4  # spans the intervals, does not start at 0
    bars = [p for p in psnr.patches if p.get_height() > 0]
    assert sorted(round(b.get_height(), 3) for b in bars) == [20.0, 21.0, 23.0, 24.0]  # gray is a line, not a bar
    errors = [c for c in psnr.containers if type(c).__name__ == "ErrorbarContainer"]
    assert errors, "no 95% interval on the PSNR bars"
    segments = np.concatenate([seg for c in errors for seg in c.lines[2][0].get_segments()])
    np.testing.assert_allclose(sorted(segments[::2, 1]), [19.7, 20.7, 22.7, 23.7])  # lower ends = psnr_lo
    assert [c for c in gap.collections if (c.get_gid() or "").startswith(figures.GRAY_ID)]


def test_curves_carry_units_and_splits(tmp_path, monkeypatch, declared):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    rows = [("run", key, s, 1.0 + s) for key in ("eval/psnr", "eval/colorfulness", "train/g_total", "eval/g_total")
            for s in range(1, 3)]
    hist = pd.DataFrame(rows, columns=["run", "metric", "step", "value"])
    curve_figures.quality(hist, tmp_path, {"eval/psnr": {"run": 1.5}}, declared)
    curve_figures.losses(hist, tmp_path)
    quality, losses = drawn
    assert quality.axes[0].get_ylabel() == "PSNR pooled (dB)" and "eval split" in quality.axes[0].get_title()
    assert [ax.get_title().rsplit(", ", 1)[-1] for ax in losses.axes[:2]] == ["train split", "eval split"]


def test_sample_grid_labels_each_row_with_its_class(tmp_path, monkeypatch):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    tiles = np.random.default_rng(0).random((4, 8, 8, 3))
    plotted = sample_figures.sample_grid([("gray input", tiles), ("original", tiles)], tmp_path, ["a", "b", "c", "a"],
                                  "test split: fixed images")
    assert list(plotted["class"]) == ["a", "b", "c", "a"]
    assert [ax.get_ylabel() for ax in drawn[0].axes[::2]] == ["a", "b", "c", "a"]
    assert any("test split" in t.get_text() for t in drawn[0].texts)


def test_gray_figures_read_the_metric_names_of_today_and_params_named_gray():
    from reports.source import gray_figures

    assert gray_figures({"baseline/gray_psnr": 21.1, "eval/psnr": 23.0}, {}) == {"psnr": 21.1}
    assert gray_figures({}, {"gray_psnr": "21.2", "gray_ssim": "0.9", "lr_g": "1e-3"}) == {"psnr": 21.2, "ssim": 0.9}
    assert gray_figures({"gray/psnr": 21.3}, {"data_dir": "x"}) == {"psnr": 21.3}
    assert gray_figures({"baseline/gray_psnr": 21.4}, {"gray_psnr": "21.0"}) == {"psnr": 21.4}  # the metric wins
    assert gray_figures({"eval/psnr": 23.0}, {"grayscale": "1"}) == {}


def test_ui_url_is_one_setting(monkeypatch):
    from reports import locations

    monkeypatch.delenv(locations.UI_URL_ENV, raising=False)
    assert locations.ui_url() == "http://127.0.0.1:5000"
    assert locations.ui_url("http://tracking:8080/") == "http://tracking:8080"  # a tracking server is its own UI
    assert locations.ui_url("sqlite:////x/mlflow.db") == "http://127.0.0.1:5000"
    monkeypatch.setenv(locations.UI_URL_ENV, "http://127.0.0.1:5123/")
    assert locations.ui_url("http://tracking:8080") == "http://127.0.0.1:5123"


def test_make_report_passes_the_ui_port_to_the_reports():
    env = {k: v for k, v in os.environ.items() if k != "COLORGAN_UI_URL"}
    out = subprocess.run(["make", "-n", "report", "NAME=x", "PORT=5123"], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    assert "COLORGAN_UI_URL='http://127.0.0.1:5123' " in out
