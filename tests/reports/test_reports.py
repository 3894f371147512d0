"""End to end: two tiny runs and a smoke study in a real MLflow store, evaluated, then a report drawn from it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from conftest import write_colour_images
from helpers import smoke_config
from layering import imports
from mlflow.tracking import MlflowClient
from PIL import Image

from colorgan import studies
from colorgan.evaluation import evaluate
from colorgan.studies import runner
from colorgan.training import train
from reports import __main__ as reports_cli
from reports import build, curve_figures, source, spec, verdicts

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

UI = "http://127.0.0.1:5123"  # the MLflow UI the report links to ($COLORGAN_UI_URL), not the default port

REPORT = """title = "two smoke runs"
experiment = "colorgan-smoke"
runs = ["smoke", "smoke_l1"]
baselines = ["gray", "welsh"]
figures = ["losses", "quality", "loss_curves", "score_curves", "samples", "per_class"]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A real store: two smoke runs of different configs and a 2-trial smoke study, all evaluated by the plan."""
    tmp = tmp_path_factory.mktemp("reports")
    photos, root, specs = tmp / "photos", tmp / "project", tmp / "specs"
    write_colour_images(photos, 60)
    root.mkdir()
    specs.mkdir()
    (specs / "two_runs.toml").write_text(REPORT)
    # the whole folder: 60 images whose 10 first sorted files are all of class "a", so a grid of the first files
    # would show one class
    (specs / "whole_folder.toml").write_text(f'title = "whole folder"\nexperiment = "colorgan-smoke"\n'
                                             f'runs = ["smoke"]\nbaselines = ["gray"]\nfigures = ["samples"]\n'
                                             f'data = "{photos}"\n')
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("COLORGAN_DATA", str(photos))
        mp.setenv("COLORGAN_HOME", str(root))
        train.run_training(smoke_config(photos, "epochs=2"), root=root, verbose=0)
        train.run_training(smoke_config(photos, "epochs=2", "adversarial=false", "run_name=smoke_l1"), root=root,
                           verbose=0)
        runner.run_study(studies.load_spec(ROOT / "studies" / "smoke.toml"), trials=2, epochs=2, root=root)
        for name, folder in (("two_runs", specs), ("smoke", spec.HERE), ("whole_folder", specs)):
            commands = build.plan(spec.load(name, folder), source.Source(root))
            assert commands, "nothing was evaluated yet, so the plan must list evaluate commands"
            for command in commands:
                subprocess.run(command, shell=True, check=True, cwd=ROOT, capture_output=True)
            assert build.plan(spec.load(name, folder), source.Source(root)) == []
        yield {"root": root, "photos": photos, "specs": specs, "tmp": tmp}


@pytest.fixture(scope="module")
def runs_report(project):
    out = project["tmp"] / "out-runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("COLORGAN_UI_URL", UI)
        report = reports_cli.generate("two_runs", project["root"], out=out, spec_dir=project["specs"])
    return report, out


@pytest.fixture(scope="module")
def study_report(project):
    out = project["tmp"] / "out-study"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.delenv("COLORGAN_UI_URL", raising=False)
        report = reports_cli.generate("smoke", project["root"], out=out)  # no reports/smoke.toml: a study report
    return report, out


def _valid_image(path: Path) -> None:
    assert path.is_file() and path.stat().st_size > 1000, path
    if path.suffix == ".png":
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.size[0] > 300 and img.size[1] > 300
            assert np.asarray(img.convert("L")).std() > 1, f"{path} is blank"
    else:
        assert path.read_text().lstrip().startswith("<?xml") and "<svg" in path.read_text()


def test_every_declared_figure_is_a_valid_image(runs_report):
    report, out = runs_report
    assert set(report.figure_files) == set(report.spec.figures)
    for files in report.figure_files.values():
        for path in files:
            _valid_image(path)
    for name in ("index.html", "report.md", "metrics.csv"):
        assert (out / name).stat().st_size > 0


def test_plotted_points_are_the_mlflow_histories(runs_report, project):
    report, _ = runs_report
    client = MlflowClient(source.tracking_uri(project["root"]))
    assert report.declared.plotted == {k: tuple(v) for k, v in report.evaluations[0].info["plots"].items()}
    losses = [key for key, _, _ in curve_figures.loss_panels(report.declared)]  # what colorgan logged it graphs
    assert losses == ["train/g_total", "eval/g_total", "train/d_loss", "eval/d_loss", "eval/critic_auc"]
    for figure, keys in (("losses", losses), ("quality", curve_figures.quality_keys(report.declared))):
        plotted = report.plotted[figure]
        for entry in report.curves:
            for key in keys:
                want = sorted((m.step, m.value) for m in client.get_metric_history(entry.run_id, key))
                got = plotted[(plotted["run"] == entry.label) & (plotted["metric"] == key)]
                assert sorted(zip(got["step"], got["value"], strict=True)) == want, (figure, entry.label, key)
    # the l1-only run has no discriminator: its d_loss panel shows nothing for it rather than made-up points
    assert not ((report.plotted["losses"]["run"] == "smoke_l1")
                & (report.plotted["losses"]["metric"] == "train/d_loss")).any()


def test_curve_figures_plot_every_curve_point_coloured_by_run_or_by_the_searched_param(runs_report, study_report,
                                                                                      project):
    client = MlflowClient(source.tracking_uri(project["root"]))
    for (report, _), name, key in ((runs_report, "loss_curves", "run"), (study_report, "loss_curves_lr_g", "lr_g")):
        assert {name, name.replace("loss_", "score_")} <= set(report.figure_files)
        plotted = report.plotted[name]
        for entry in report.curves:
            epochs = {m.step: m.value for m in client.get_metric_history(entry.run_id, "curve/epoch")}
            assert len(epochs) >= 8 and max(epochs.values()) == 2.0  # 2 epochs, 4 points each
            for metric in ("curve/train/g_recon", "curve/eval/g_recon", "curve/eval/d_loss_fake"):
                want = sorted((epochs[m.step], m.value) for m in client.get_metric_history(entry.run_id, metric))
                got = plotted[(plotted["run"] == entry.label) & (plotted["metric"] == metric)]
                assert sorted(zip(got["epoch"], got["value"], strict=True)) == want, (name, entry.label, metric)
            want_key = entry.label if key == "run" else float(entry.params[key])
            assert set(plotted.loc[plotted["run"] == entry.label, key]) == {want_key}
        assert "points per run, 4 per epoch" in report.captions[name]
    assert not any("curve points" in note for note in runs_report[0].notes + study_report[0].notes)


def test_table_numbers_equal_colorgan_evaluate(runs_report, project):
    report, out = runs_report
    table = pd.read_csv(out / "metrics.csv", keep_default_na=False)
    assert set(table["label"]) == {"smoke", "smoke_l1", "gray", "welsh"}
    assert set(table["group"]) == {"all", "a", "b"}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("COLORGAN_DATA", str(project["photos"]))
        fresh = evaluate.evaluate_model(report.models[0].run_id, root=project["root"])
    mine = table[table["label"] == "smoke"].set_index("group")
    for _, row in fresh.summary.iterrows():
        for col in ("n", "psnr", "psnr_mean", "psnr_ci95", "psnr_median", "ssim", "ssim_ci95", "colorfulness",
                    "colorfulness_gap", "colorfulness_gap_ci95"):
            assert mine.loc[row["group"], col] == pytest.approx(row[col], rel=1e-5), (row["group"], col)
    gray = table[(table["label"] == "gray") & (table["group"] == "all")].iloc[0]
    assert gray["n"] == mine.loc["all", "n"]  # baselines scored on exactly the models' test images
    html = (out / "index.html").read_text()
    assert f"{mine.loc['all', 'psnr']:.2f}" in html and "welsh" in html and "data:image/png;base64," in html


def test_report_is_deterministic(runs_report, project):
    _, out = runs_report
    again = project["tmp"] / "out-again"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("COLORGAN_UI_URL", UI)
        reports_cli.generate("two_runs", project["root"], out=again, log=False, spec_dir=project["specs"])
    for path in sorted(out.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (again / path.relative_to(out)).read_bytes(), path.name


def test_study_report_has_the_study_figures_and_the_best_trial(study_report, project):
    report, out = study_report
    assert {"trial_curves_lr_g", "objective_vs_params", "history", "samples", "per_class"} \
        <= set(report.figure_files)
    for files in report.figure_files.values():
        for path in files:
            _valid_image(path)
    assert list(report.best["trial"]) == [report.study.best_trial.number]
    parent = report.study.user_attrs["mlflow_parent_run_id"]
    logged = {a.path for a in MlflowClient(source.tracking_uri(project["root"])).list_artifacts(parent, "report")}
    assert "report/index.html" in logged
    curves = report.plotted["trial_curves_lr_g"]
    assert sorted(curves["run"].unique()) == sorted(e.label for e in report.curves)
    # What this study says: the best trial against the other one (trial 0 is the default), paired, in words.
    best, other = report.study.best_trial.number, 1 - report.study.best_trial.number
    (row,) = report.says.to_dict("records")
    assert row["trial"] == other and row["compared with"] in verdicts.ROLES.values()
    assert row["PSNR mean verdict"] in ("better", "worse", "within noise")
    assert " dB [" in row["PSNR mean difference, 95% CI"]
    md = (out / "report.md").read_text()
    assert "## What this study says (eval split, paired on the same images)" in md
    assert f"The best configuration is trial {best} (lr_g = " in md and f"trial {other} (lr_g = " in md


def test_missing_runs_name_the_command_to_run(project, tmp_path):
    (tmp_path / "more.toml").write_text(REPORT.replace('"smoke_l1"]', '"smoke_l1", "lab_tuned"]'))
    with pytest.raises(source.Missing, match="make train EXP=lab_tuned"):
        build.plan(spec.load("more", tmp_path), source.Source(project["root"]))
    with pytest.raises(source.Missing, match="make study NAME=nosuchstudy"):
        build.plan(spec.load("nosuchstudy", tmp_path), source.Source(project["root"]))
    out = subprocess.run([sys.executable, "-m", "reports", "nosuchstudy"], capture_output=True, text=True,
                         cwd=ROOT, env={**_env(), "COLORGAN_HOME": str(project["root"])}, timeout=120)
    assert out.returncode == 3 and "make study NAME=nosuchstudy" in out.stderr


def test_unknown_report_key_is_an_error(tmp_path):
    (tmp_path / "bad.toml").write_text(REPORT + 'figures_extra = ["x"]\n')
    with pytest.raises(spec.SpecError, match="unknown key"):
        spec.load("bad", tmp_path)
    (tmp_path / "bad2.toml").write_text(REPORT.replace('"per_class"]', '"per_klass"]'))
    with pytest.raises(spec.SpecError, match="unknown figure"):
        spec.load("bad2", tmp_path)


def test_html_renders_in_headless_chromium(runs_report, tmp_path):
    _, out = runs_report
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "Debian's chromium is needed (.ci/run installs it)"
    shot = tmp_path / "shot.png"
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,2400", f"--screenshot={shot}",
                    (out / "index.html").as_uri()], check=True, capture_output=True, timeout=120)
    with Image.open(shot) as img:
        pixels = np.asarray(img.convert("L"))
    assert pixels.shape == (2400, 1200)
    assert (pixels < 128).mean() > 0.01, "the page rendered (almost) nothing"


def _captions(out: Path) -> list[str]:
    found = re.findall(r"<figcaption>(.*?)</figcaption>", (out / "index.html").read_text(), re.S)
    return [unescape(re.sub(r"<[^>]+>", "", c)).replace("Vector version (SVG).", "").strip() for c in found]


def test_captions_say_what_each_figure_shows_and_every_figure_names_its_split(runs_report, study_report):
    for report, out in (runs_report, study_report):
        captions = _captions(out)
        assert len(captions) == len(report.figure_files)
        md = (out / "report.md").read_text()
        for name, caption in zip(report.figure_files, captions, strict=True):
            assert not caption.startswith(name) and "(SVG)" not in caption, caption  # not a file name
            assert len(caption.split()) >= 30 and "split" in caption, caption
            assert f"*{caption}*" in md and f"![{name}]" not in md
            assert "split" in report.figure_files[name][1].read_text(), f"{name}.svg does not name its split"


def test_tables_name_their_split(runs_report, study_report):
    _, out = runs_report
    html = (out / "index.html").read_text()
    assert "Runs and baselines on the test split (" in html
    assert set(pd.read_csv(out / "metrics.csv")["split"]) == {"test split"}
    report, out = study_report
    columns = list(report.best.columns)
    objective = "PSNR pooled gain over the gray image (dB), eval split, final epoch"  # smoke: eval/psnr_gain
    assert objective in columns and "PSNR pooled (dB), test split" in columns
    evaluated = report.table[(report.table["group"] == "all") & (report.table["kind"] == "model")]["psnr"].iloc[0]
    assert report.best["PSNR pooled (dB), test split"].iloc[0] == pytest.approx(evaluated)
    assert report.best[objective].iloc[0] == pytest.approx(report.study.best_value)


def test_every_psnr_figure_draws_the_gray_image(runs_report, study_report):
    for (report, _), names in ((runs_report, ("quality", "per_class")),
                               (study_report, ("trial_curves_lr_g", "objective_vs_params", "history", "per_class"))):
        for name in names:
            svg = report.figure_files[name][1].read_text()
            assert 'id="gray-image' in svg and "gray image" in svg, name
        assert "dotted line" in report.captions[names[0]] and " dB" in report.captions[names[0]]
    report, _ = runs_report
    gray = report.plotted["per_class"]
    assert (gray["psnr_lo"] < gray["psnr"]).all() and (gray["psnr"] < gray["psnr_hi"]).all()


def test_importances_need_five_finished_trials(study_report):
    report, out = study_report
    assert len(report.study.trials) == 2 and "importances" not in report.figure_files
    assert "they need at least 5 finished trials and this study has 2" in (out / "index.html").read_text()


def test_sample_grid_is_a_fixed_set_spread_over_the_classes(runs_report, study_report, project):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        whole = reports_cli.generate("whole_folder", project["root"], out=project["tmp"] / "out-whole", log=False,
                                     spec_dir=project["specs"])
    files = sorted(p.relative_to(project["photos"]).as_posix() for p in project["photos"].rglob("*.png"))
    assert {f.split("/")[0] for f in files[:10]} == {"a"}  # the first sorted files are all of one class
    for report, _ in (runs_report, study_report, (whole, None)):
        grid = report.plotted["samples"]
        n_classes = report.evaluations[0].per_image["class"].nunique()
        assert grid["class"].nunique() >= min(n_classes, len(grid)), list(grid["class"])
        assert list(grid["class"]) == build.sample_classes(report.evaluations[0])
        layout = report.evaluations[0].info["sample_grid"]  # logged with the grid by `colorgan evaluate`
        assert layout["rows"] == len(grid) and layout["names"] == ["gray", "prediction", "original"]
    assert len(whole.plotted["samples"]) == 10 and list(whole.plotted["samples"]["class"]) == ["a", "b"] * 5


def test_an_evaluation_older_than_its_grid_record_is_evaluated_again(project):
    report_spec = spec.load("whole_folder", project["specs"])
    store = source.Source(project["root"])
    model = store.runs(report_spec)[0]
    path = f"evaluation/{evaluate.data_key(report_spec.data)}/info.json"
    original = store.artifact_text(model.run_id, path)
    old = {k: v for k, v in json.loads(original).items() if k != "sample_files"}
    try:
        store.client.log_text(model.run_id, json.dumps(old), path)
        commands = build.plan(report_spec, source.Source(project["root"]))
        assert len(commands) == 1 and model.run_id in commands[0] and "evaluate" in commands[0]
    finally:
        store.client.log_text(model.run_id, original, path)
    assert build.plan(report_spec, source.Source(project["root"])) == []


def test_mlflow_links_use_the_ui_url_setting(runs_report, study_report):
    for (report, out), ui in ((runs_report, UI), (study_report, "http://127.0.0.1:5000")):
        links = re.findall(r"<summary><a href='([^']+)'", (out / "index.html").read_text())
        assert len(links) == len(report.configs)
        assert all(link.startswith(ui + "/#/experiments/") for link in links), links
    assert ":5000" not in (runs_report[1] / "index.html").read_text()


def _env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}


def test_tracking_is_untouched_by_reports():
    """The report generator reads MLflow and Optuna only: no import of it (indented, relative or lazy ones
    included) names colorgan."""
    files = sorted((ROOT / "reports").rglob("*.py"))
    assert files
    found = [f"{path.relative_to(ROOT)}:{line}: {text}" for path in files
             for line, module, text in imports(path, ROOT) if module.split(".")[0] == "colorgan"]
    assert not found, "reports imports colorgan:\n" + "\n".join(found)


def test_study_says_words_a_known_comparison(declared):
    """A synthetic study and comparisons table with a known answer: the best beats the default, ties the
    runner-up; each score labelled as colorgan declared its mean over images."""
    study = optuna.create_study(direction="maximize")
    dist = {"lr_g": optuna.distributions.FloatDistribution(1e-5, 1e-2, log=True)}
    for lr, value, base in ((2e-4, 0.5, True), (1e-3, 1.5, False), (5e-4, 1.4, False)):
        study.add_trial(optuna.trial.create_trial(params={"lr_g": lr}, distributions=dist, value=value,
                                                  user_attrs={"base": base, "seeds:eval/psnr_gain": [value] * 2}))
    rows = [(0, "base", "psnr", 1.0, 0.8, 1.2, "better"), (0, "base", "colorfulness_gap", -2.0, -3.0, -1.0, "better"),
            (2, "runner-up", "psnr", 0.1, -0.1, 0.3, "within noise"),
            (2, "runner-up", "colorfulness_gap", 0.5, -0.5, 1.5, "within noise")]
    compared = pd.DataFrame([{"best": 1, "against": a, "against_is": role, "score": score, "difference": d,
                              "ci95_low": lo, "ci95_high": hi, "images": 40, "verdict": v}
                             for a, role, score, d, lo, hi, v in rows])
    table, lines = verdicts.study_says(study, compared, declared)
    assert list(table["compared with"]) == ["the default (base experiment)", "the runner-up"]
    assert list(table["best lr_g"]) == ["0.001", "0.001"] and list(table["lr_g"]) == ["0.0002", "0.0005"]
    assert list(table["PSNR mean difference, 95% CI"]) == ["+1.00 dB [+0.80, +1.20]", "+0.10 dB [-0.10, +0.30]"]
    assert lines[0] == "The best configuration is trial 1 (lr_g = 0.001)."
    assert lines[1].startswith("Against the default (base experiment), trial 0 (lr_g = 0.0002), trial 1 differs by "
                               "PSNR mean +1.00 dB [+0.80, +1.20] (better); colourfulness gap to original -2.0 "
                               "[-3.0, -1.0] (better), "
                               "paired over the same 40 eval-split images, each configuration the mean of 2 seeds")
    empty, (why,) = verdicts.study_says(study, None, declared)
    assert empty.empty and why.startswith("No paired comparison yet")
    assert not any("detectable" in column for column in table.columns)  # a comparisons.csv from before the figures
    # with the figures (comparisons.csv now): a "within noise" row says what it would need; a clear one is blank
    compared["detectable"] = [None, None, 0.2468, 0.9]
    compared["needed"] = pd.array([None, None, 2300, None], dtype="Int64")
    auc = {**compared.iloc[3].to_dict(), "score": "color_auc_rebal", "difference": 0.004, "ci95_low": -0.002,
           "ci95_high": 0.01, "detectable": 0.0085, "needed": 97}
    table, lines = verdicts.study_says(study, pd.concat([compared, pd.DataFrame([auc])], ignore_index=True), declared)
    assert list(table["PSNR mean detectable at this budget"]) == ["", "±0.25 dB"]
    assert list(table["PSNR mean images to resolve"]) == ["", "2,300"]
    assert table["colour AuC, rebalanced images to resolve"].iloc[1] == "97"  # the runner-up's row alone has AuC
    assert "PSNR mean +1.00 dB [+0.80, +1.20] (better);" in lines[1]
    assert ("PSNR mean +0.10 dB [-0.10, +0.30] (within noise; detectable at this budget: ±0.25 dB; 2,300 images "
            "would resolve +0.10); colourfulness gap to original +0.5 [-0.5, +1.5] (within noise; detectable at this "
            "budget: ±0.90); colour AuC, rebalanced +0.0040 [-0.0020, +0.0100] (within noise; detectable at this "
            "budget: ±0.0085; 97 images would resolve +0.0040)") in lines[2]
