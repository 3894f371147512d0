"""The within-epoch loss and score figures (curve/* points): drawn from plain tables, then wired into a report on a
real temporary MLflow store and Optuna study holding synthetic curve points (no training, no mocks)."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib
import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import finished_run
from matplotlib.colors import LogNorm
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from reports import build, critic, curve_figures, figures, spec
from reports.declared import PLOTS_BEFORE
from reports.locations import optuna_url, tracking_uri
from reports.source import Evaluated, Source

LOSSES = ("g_total", "g_gan", "g_recon", "d_loss", "d_loss_real", "d_loss_fake", "d_real", "d_fake")
SCORES = ("psnr", "psnr_gain", "color_auc", "color_auc_rebal", "colorfulness_gap")
EPOCHS, POINTS, STEPS = 2, 4, 8  # a 2-epoch trial, 4 points per epoch, 8 batches per epoch


def _points(run: str, epochs: int = EPOCHS, points: int = POINTS, losses=LOSSES, scale: float = 1.0) -> list[tuple]:
    """One run's curve points as (run, metric, step, value) rows, as training.curves logs them: step = global batch
    number, curve/epoch its fractional epoch."""
    rows = []
    for i in range(1, epochs * points + 1):
        step = round(i * STEPS / points)
        rows.append((run, curve_figures.CURVE_EPOCH, step, step / STEPS))
        rows += [(run, f"curve/{split}/{name}", step, scale * (1.0 + 1.0 / i)) for name in losses
                 for split in ("train", "eval")]
        rows += [(run, f"curve/eval/{name}", step, scale * 0.1 * i) for name in SCORES]
    return rows


def _hist(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["run", "metric", "step", "value"])


def _drawn(monkeypatch) -> list:
    """The figures the next calls save (closed, but their artists stay inspectable)."""
    drawn, save = [], figures.save
    monkeypatch.setattr(figures, "save", lambda fig, folder, name: (drawn.append(fig), save(fig, folder, name))[1])
    return drawn


@pytest.mark.slow  # several figures drawn
def test_loss_curves_have_every_point_train_solid_eval_dashed_coloured_by_a_log_param(tmp_path, monkeypatch):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    lrs = {"trial 0": 1e-4, "trial 1": 1e-3, "trial 2": 1e-2}
    hist = _hist([r for n, run in enumerate(lrs) for r in _points(run, scale=1 + n)])
    plotted = curve_figures.loss_curves(hist, tmp_path, "loss_curves_lr_g", lrs, "lr_g", True, 64)
    counts = plotted.groupby(["run", "metric"]).size()
    assert len(counts) == 3 * 8 and (counts == EPOCHS * POINTS).all()  # 4 losses x train/eval, 8 points each
    assert sorted(plotted["epoch"].unique()) == [0.25 * k for k in range(1, 9)]
    assert dict(zip(plotted["run"], plotted["lr_g"], strict=True)) == lrs
    fig = drawn[0]
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["G adversarial loss", "G L1 term", "D loss on real patches",
                                                 "D loss on generated patches", critic.TITLE]  # the critic's last
    norm, cmap = LogNorm(1e-4, 1e-2), matplotlib.colormaps["viridis"]
    for ax in panels[:-1]:
        lines = ax.get_lines()
        assert sorted(line.get_linestyle() for line in lines) == ["-"] * 3 + ["--"] * 3  # train solid, eval dashed
        assert {len(line.get_xdata()) for line in lines} == {EPOCHS * POINTS}
        colours = {tuple(np.round(line.get_color(), 3)) for line in lines}
        assert colours == {tuple(np.round(cmap(norm(v)), 3)) for v in lrs.values()}  # one colour per trial, by lr_g
    bar = [ax for ax in fig.axes if ax.get_ylabel() == "lr_g (log)"]
    assert bar, "no lr_g colour bar"
    legend = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert "train split: mean over the batches since the previous point" in legend
    assert "eval split, the same 64 images at every point (inference mode)" in legend
    assert (tmp_path / "loss_curves_lr_g.png").stat().st_size > 1000
    assert "eval split" in (tmp_path / "loss_curves_lr_g.svg").read_text()


@pytest.mark.slow  # several figures drawn
def test_a_categorical_param_or_a_run_set_gets_a_palette_and_a_missing_loss_says_so(tmp_path, monkeypatch):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    pretrain_only = _points("l1 only", losses=("g_total", "g_recon"))  # no critic: no g_gan, no D losses
    hist = _hist(_points("a") + _points("b") + pretrain_only)
    plotted = curve_figures.loss_curves(hist, tmp_path, "loss_curves_norm",
                                        {"a": "batch", "b": "none", "l1 only": "batch"}, "norm")
    assert set(plotted["norm"]) == {"batch", "none"}
    fig = drawn[0]
    legend = next(leg for leg in fig.legends if leg.get_title().get_text() == "norm")
    assert [t.get_text() for t in legend.get_texts()] == ["batch", "none"]
    recon = next(ax for ax in fig.axes if ax.get_title() == "G L1 term")
    by_colour = {}
    for line in recon.get_lines():
        by_colour.setdefault(tuple(line.get_color()), 0)
        by_colour[tuple(line.get_color())] += 1
    assert sorted(by_colour.values()) == [2, 4]  # "batch": two runs x train/eval; "none": one run
    only = _hist(pretrain_only)
    curve_figures.loss_curves(only, tmp_path, "loss_curves")  # a run set: coloured by run
    gan = next(ax for ax in drawn[1].axes if ax.get_title() == "G adversarial loss")
    assert not gan.get_lines() and "not logged" in " ".join(t.get_text() for t in gan.texts)
    assert [t.get_text() for t in drawn[1].legends[-1].get_texts()] == ["l1 only"]


def test_score_curves_draw_the_eval_subset_scores_and_the_gray_image(tmp_path, monkeypatch, declared):
    figures.use_style()
    drawn = _drawn(monkeypatch)
    hist = _hist(_points("a") + _points("b"))
    plotted = curve_figures.score_curves(hist, tmp_path, "score_curves", eval_images=64, declared=declared)
    assert set(plotted["metric"]) == {"curve/eval/psnr_gain", "curve/eval/color_auc_rebal",
                                      "curve/eval/colorfulness_gap"}  # what colorgan graphed before it logged it
    assert (plotted.groupby(["run", "metric"]).size() == EPOCHS * POINTS).all()
    gain = next(ax for ax in drawn[0].axes if ax.get_title().startswith("PSNR"))
    assert {line.get_linestyle() for line in gain.get_lines() if line.get_gid() != figures.GRAY_ID} == {"--"}
    assert f'id="{figures.GRAY_ID}' in (tmp_path / "score_curves.svg").read_text()


def test_curve_points_join_the_fractional_epoch_on_run_and_step():
    rows = _points("a", epochs=1) + [("b", "curve/train/g_recon", 3, 0.5)]  # b logged no curve/epoch: no x
    points = curve_figures.curve_points(_hist(rows + rows[:1]))  # an epoch read twice is one x, not two points
    assert set(points["run"]) == {"a"}
    recon = points[points["metric"] == "curve/train/g_recon"]
    assert list(recon["epoch"]) == [0.25, 0.5, 0.75, 1.0] and list(recon["step"]) == [2, 4, 6, 8]
    assert set(points["split"]) == {"train", "eval"} and "g_recon" in set(points["name"])


def test_figure_names_and_keys_match_what_colorgan_logs():
    """The report never imports colorgan; this test holds the two sides to the same key names."""
    from colorgan.model import gan
    from colorgan.training import curves

    assert curve_figures.CURVE_EPOCH == curves.EPOCH_KEY
    from colorgan.scoring import metrics

    for plots in (PLOTS_BEFORE, {**gan.PLOTS, **metrics.PLOTS}):  # runs logged before plots were, and since
        assert set(plots) == {"losses", "quality", "loss_curves", "score_curves"}
        assert {*plots["losses"], *plots["loss_curves"]} <= set(gan.ADVERSARIAL_LOSSES)
        assert set(plots["quality"]) <= {*metrics.QUALITY, *metrics.GAINS}
        assert set(plots["score_curves"]) <= set(curves.SCORES)


def test_curve_figures_are_drawn_by_default_for_studies_and_run_sets():
    assert {"loss_curves", "score_curves"} <= set(spec.load("no_such_file_so_a_study").figures)
    for name in ("precision", "recipe", "recipe_compute", "seed_graphs"):  # the run-set reports of reports/
        assert {"loss_curves", "score_curves"} <= set(spec.load(name).figures), name


# --- wired into a report: a real MLflow store and Optuna study with synthetic curve points ------------------------

def _log(client: MlflowClient, exp: str, name: str, curves: bool = True, epochs: int = EPOCHS,
         lr_g: float = 1e-3) -> str:
    """A FINISHED run named ``name`` with per-epoch metrics and, if ``curves``, curve points as colorgan logs them."""
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, s) for e in range(1, epochs + 1) for k, v, s in
               (("train/g_total", 1.0 / e, e), ("phase", 1.0, e))]
    if curves:
        metrics += [Metric(m, v, now, s) for _, m, s, v in _points(name, epochs=epochs, scale=lr_g * 1e3)]
    return finished_run(client, exp, name, metrics=metrics,
                        params={"lr_g": lr_g, "curve_points": POINTS, "curve_eval_images": 64, "n_eval": 100})


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """One store: experiment "set" (two runs with curve points, one logged before them) and a study of 3 trials
    (lr_g log-searched, norm categorical; trial 2 pruned after 1 epoch) whose runs hold curve points."""
    root = tmp_path_factory.mktemp("curves")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        client = MlflowClient(tracking_uri(root))
        exp = client.create_experiment("set")
        for name in ("new_a", "new_b"):
            _log(client, exp, name)
        _log(client, exp, "old", curves=False)
        trials = client.create_experiment("study")
        study = optuna.create_study(study_name="curves", storage=optuna_url(root), direction="maximize")
        space = {"lr_g": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True),
                 "norm": optuna.distributions.CategoricalDistribution(["batch", "instance"])}
        for n, (lr, norm, state) in enumerate(((1e-4, "batch", "COMPLETE"), (1e-3, "instance", "COMPLETE"),
                                               (1e-2, "batch", "PRUNED"))):
            run = _log(client, trials, f"trial-{n}", epochs=1 if state == "PRUNED" else EPOCHS, lr_g=lr)
            study.add_trial(optuna.trial.create_trial(
                params={"lr_g": lr, "norm": norm}, distributions=space, user_attrs={"run_id": run},
                state=optuna.trial.TrialState[state], value=float(n) if state == "COMPLETE" else None))
        yield root


def _report(root: Path, report_spec: spec.ReportSpec, out: Path) -> build.Report:
    """The curve figures of a report (build's own steps, without the evaluations its tables need)."""
    source = Source(root)
    models, curves, study = build.entries(report_spec, source)
    report = build.Report(report_spec, models, curves, [], pd.DataFrame(), study=study)
    figures.use_style()
    build._curve_figures(report, source, out)
    return report


@pytest.mark.slow  # a study and its report
def test_a_study_report_draws_each_trial_coloured_by_each_searched_param(project, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    report = _report(project, spec.ReportSpec("curves", "curves", study="curves", figures=spec.STUDY_DEFAULT),
                     tmp_path)
    assert set(report.plotted) == {f"{f}_{p}" for f in ("loss_curves", "score_curves") for p in ("lr_g", "norm")}
    assert not report.notes
    losses = report.plotted["loss_curves_lr_g"]
    points = losses[losses["split"] == "train"].groupby(["run", "metric"]).size()
    assert (points.loc[["trial 0", "trial 1"]] >= 8).all()  # a 2-epoch trial, 4 points per epoch
    assert (points.loc["trial 2"] == 4).all()  # pruned after its first epoch
    assert dict(zip(losses["run"], losses["lr_g"], strict=True)) == {"trial 0": 1e-4, "trial 1": 1e-3,
                                                                     "trial 2": 1e-2}
    assert dict(zip(losses["run"], report.plotted["loss_curves_norm"]["norm"], strict=True)) == {
        "trial 0": "batch", "trial 1": "instance", "trial 2": "batch"}
    caption = report.captions["loss_curves_lr_g"]
    assert "4 to 8 points per run, 4 per epoch" in caption and "the first 64 images of the eval split" in caption
    assert "coloured by its lr_g (colour bar, log scale)" in caption and "1 pruned trial ends" in caption
    assert "one colour per value" in report.captions["loss_curves_norm"]
    for name in report.plotted:
        assert (tmp_path / f"{name}.png").is_file() and (tmp_path / f"{name}.svg").is_file()


@pytest.mark.slow  # a report of runs
def test_a_run_set_report_colours_by_run_and_notes_runs_without_curve_points(project, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "set.toml").write_text('experiment = "set"\nruns = ["new_a", "new_b", "old"]\n')
    report = _report(project, spec.load("set", tmp_path), tmp_path / "out")
    assert set(report.plotted) == {"loss_curves", "score_curves"}
    losses = report.plotted["loss_curves"]
    assert set(losses["run"]) == {"new_a", "new_b"} and (losses.groupby(["run", "metric"]).size() == 8).all()
    assert "8 points per run, 4 per epoch" in report.captions["loss_curves"]
    (note,) = report.notes
    assert note.startswith("1 of the 3 runs (old) logged no curve points") and "leave them out" in note


@pytest.mark.slow  # a report store
def test_runs_from_before_curve_points_give_a_note_not_a_failure(project, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "old.toml").write_text('experiment = "set"\nruns = ["old"]\n')
    report = _report(project, spec.load("old", tmp_path), tmp_path / "out")
    assert report.plotted == {} and not (tmp_path / "out").exists()
    (note,) = report.notes
    assert note.startswith("None of the runs logged curve points")


@pytest.mark.slow  # a report store, two figures
def test_a_figure_colorgan_declares_is_graphed_though_the_report_never_heard_of_it(project, tmp_path, monkeypatch):
    """A run logs eval/sharpness and curve/eval/sharpness, and its evaluation declares the figure and that the
    quality and score figures graph it (info.json "metrics" and "plots", as colorgan logs them): the report draws
    its panels, labelled as declared, with no edit of reports/."""
    import dataclasses

    from colorgan.scoring import metrics

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    client = MlflowClient(tracking_uri(project))
    run = _log(client, client.get_experiment_by_name("set").experiment_id, "sharp")
    now = int(time.time() * 1000)
    client.log_batch(run, metrics=[Metric("eval/sharpness", 0.5 + 0.1 * e, now, e) for e in range(1, EPOCHS + 1)]
                     + [Metric("curve/eval/sharpness", 0.01 * step, now, step) for step in range(2, 17, 2)])
    sharpness = {"name": "sharpness", "label": "edge sharpness", "unit": "", "better": "higher", "digits": 2,
                 "mean_of": "sharpness", "gain_of": ""}
    plots = {**PLOTS_BEFORE, "quality": [*PLOTS_BEFORE["quality"], "sharpness"],
             "score_curves": [*PLOTS_BEFORE["score_curves"], "sharpness"]}
    info = {"metrics": [*(dataclasses.asdict(m) for m in metrics.QUALITY.values()), sharpness], "plots": plots}
    source = Source(project)
    report_spec = spec.ReportSpec("sharp", "sharp", experiment="set", runs=("sharp",),
                                  figures=("quality", "score_curves"))
    models, curves, _ = build.entries(report_spec, source)
    evaluated = Evaluated(models[0], pd.DataFrame(), pd.DataFrame(), info, np.zeros((1, 1, 3), np.uint8))
    report = build.Report(report_spec, models, curves, [evaluated], pd.DataFrame())
    figures.use_style()
    drawn = _drawn(monkeypatch)
    build._epoch_figures(report, source, tmp_path)
    build._curve_figures(report, source, tmp_path)
    assert set(report.plotted) == {"quality", "score_curves"}
    quality = report.plotted["quality"]
    assert list(quality.loc[quality["metric"] == "eval/sharpness", "value"]) == pytest.approx([0.6, 0.7])
    scores = report.plotted["score_curves"]
    assert len(scores[scores["metric"] == "curve/eval/sharpness"]) == EPOCHS * POINTS
    titles = [[ax.get_title() for ax in fig.axes if ax.get_title()] for fig in drawn]
    assert titles[0] == ["PSNR pooled, eval split", "colourfulness, eval split", "edge sharpness, eval split"]
    assert titles[1][-1] == "edge sharpness (higher is better)" and len(titles[1]) == 4
