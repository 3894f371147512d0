"""Assemble one report: find its runs, check their evaluations, draw the figures, build the tables.

``plan`` lists the `colorgan evaluate` commands a report still needs; ``build`` refuses to draw until none is
missing, so a table never mixes evaluated and unevaluated entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from reports import figures
from reports.source import Entry, Evaluated, Missing, Source, data_key, evaluate_command
from reports.spec import STUDY_FIGURES, ReportSpec

LOSS_KEYS = ("train/g_total", "eval/g_total", "train/d_loss", "eval/d_loss")
QUALITY_KEYS = ("eval/psnr", "eval/colorfulness")
PHASE_KEY = "phase"  # colorgan logs 0 for a generator pre-training epoch, 1 for a GAN epoch
SPLIT_KEYS = ("eval_fraction", "test_fraction", "grey_threshold")  # what decides a model's test split
GRID_BORDER = 2  # colorgan's sample grids put 2 white pixels between tiles


@dataclass
class Report:
    spec: ReportSpec
    models: list[Entry]
    curves: list[Entry]  # the runs whose histories are plotted (the runs, or every trial of a study)
    evaluations: list[Evaluated]
    table: pd.DataFrame  # one row per entry and group ("all" + classes): the numbers of metrics.csv
    plotted: dict[str, pd.DataFrame] = field(default_factory=dict)  # figure name -> the data it shows
    figure_files: dict[str, list[Path]] = field(default_factory=dict)
    study: optuna.Study | None = None
    best: pd.DataFrame | None = None
    configs: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)


def entries(spec: ReportSpec, source: Source) -> tuple[list[Entry], list[Entry], optuna.Study | None]:
    """(models for the tables, runs for the curves, the study or None); Missing names what to run."""
    if spec.study:
        study = source.study(spec.study)
        return source.best_trials(study), source.trials(study), study
    models = source.runs(spec)
    return models, models, None


def _evaluations(spec: ReportSpec, source: Source, models: list[Entry]) -> tuple[list[Evaluated], list[str]]:
    key = data_key(spec.data)
    data_args = ["--data", str(Path(spec.data).resolve())] if spec.data else []
    found, commands = [], []
    for entry in models:
        evaluated = source.evaluation(entry, key)
        if evaluated is None:
            commands.append(evaluate_command("--model", entry.run_id, *data_args))
        else:
            found.append(evaluated)
    params = source.client.get_run(models[0].run_id).data.params
    size = int(params["image_size"])
    data_dir = found[0].info["data_dir"] if found else (str(Path(spec.data).resolve()) if spec.data
                                                        else params["data_dir"])
    n_images = found[0].info.get("n_images") if found else None
    split = [f"{k}={params[k]}" for k in SPLIT_KEYS if k in params]
    for name in spec.baselines:
        entry = source.baseline(name, data_dir, size)
        evaluated = source.evaluation(entry, key) if entry else None
        if evaluated is not None and n_images is not None and evaluated.info.get("n_images") != n_images:
            evaluated = None  # evaluated on another split of the same folder: evaluate again on the models' one
        if evaluated is None:
            where = data_args or ["--set", f"data_dir={data_dir}", *split]
            commands.append(evaluate_command("--model", f"baseline:{name}", "--size", str(size), *where))
        else:
            found.append(evaluated)
    return found, commands


def plan(spec: ReportSpec, source: Source) -> list[str]:
    """The evaluate commands still needed (runs themselves missing raise Missing naming make train/study)."""
    models, _, _ = entries(spec, source)
    return _evaluations(spec, source, models)[1]


def table(evaluations: list[Evaluated]) -> pd.DataFrame:
    frames = []
    for ev in evaluations:
        frame = ev.summary.copy()
        frame.insert(0, "label", ev.entry.label)
        frame.insert(1, "kind", ev.entry.kind)
        frame.insert(2, "run_id", ev.entry.run_id)
        frame.insert(3, "image_size", ev.info.get("image_size"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def tiles(grid: np.ndarray, column: int) -> np.ndarray:
    """Cut column ``column`` of a colorgan sample grid (3 columns: gray | prediction | original) into tiles."""
    side = (grid.shape[1] - GRID_BORDER) // 3 - GRID_BORDER
    rows = (grid.shape[0] - GRID_BORDER) // (side + GRID_BORDER)
    x = GRID_BORDER + column * (side + GRID_BORDER)
    return np.stack([grid[GRID_BORDER + r * (side + GRID_BORDER):][:side, x:x + side] for r in range(rows)])


def _study_figures(report: Report, source: Source, out: Path) -> None:
    study, spec = report.study, report.spec
    metrics = source.objective_names(study)  # e.g. ["eval/psnr"]: the trials' curves are of the first
    hist = source.histories(report.curves, (metrics[0],))
    distributions = {}
    for t in study.get_trials(deepcopy=False):
        distributions.update(t.distributions)
    logs = {name: bool(getattr(d, "log", False)) for name, d in sorted(distributions.items())}
    trials = study.trials_dataframe(attrs=("number", "state", "values", "params"), multi_index=False)
    values = [f"values_{i}" for i in range(len(metrics))]
    trials = trials.rename(columns={**dict(zip(values, metrics, strict=True)), **{f"params_{p}": p for p in logs}})
    objective = metrics[0]
    if "trial_curves" in spec.figures:
        for param, log in logs.items():
            by_run = {e.label: float(e.params[param]) for e in report.curves
                      if param in e.params and _is_number(e.params[param])}
            if by_run:
                report.plotted[f"trial_curves_{param}"] = figures.trial_curves(hist, by_run, param, log, objective, out)
    numeric = {p: log for p, log in logs.items() if pd.api.types.is_numeric_dtype(trials[p])}
    if "objective_vs_params" in spec.figures and numeric:
        report.plotted["objective_vs_params"] = figures.objective_vs_params(trials, numeric, objective, out)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if "importances" in spec.figures and len(complete) >= 2 and len(study.directions) == 1:
        values = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
        report.plotted["importances"] = figures.importances(dict(sorted(values.items())), out)
    if "history" in spec.figures:
        report.plotted["history"] = figures.history(trials, objective, study.directions[0].name == "MAXIMIZE", out)
    if "pareto" in spec.figures and len(study.directions) == 2:
        front = [t.number for t in study.best_trials]
        report.plotted["pareto"] = figures.pareto(trials, metrics, front, out)
    best = []
    for t in sorted(study.best_trials, key=lambda t: t.number):
        best.append({"study": study.study_name, "trial": t.number, **dict(zip(metrics, t.values, strict=True)),
                     **t.params,
                     "mlflow_run_id": t.user_attrs.get("mlflow_run_id", "")})
    report.best = pd.DataFrame(best)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def build(spec: ReportSpec, source: Source, out: Path) -> Report:
    models, curves, study = entries(spec, source)
    evaluations, commands = _evaluations(spec, source, models)
    if commands:
        raise Missing(f"report {spec.name!r} needs evaluations that are not in MLflow yet (or run `make report "
                      f"NAME={spec.name}`, which runs them first)", commands)
    figs = out / "figures"
    figures.use_style()
    report = Report(spec, models, curves, evaluations, table(evaluations), study=study)
    if "losses" in spec.figures or "quality" in spec.figures:
        hist = source.histories(curves, LOSS_KEYS + QUALITY_KEYS + (PHASE_KEY,))
        if "losses" in spec.figures:
            report.plotted["losses"] = figures.losses(hist, figs)
        if "quality" in spec.figures:
            report.plotted["quality"] = figures.quality(hist, figs)
    if study is not None and set(spec.figures) & set(STUDY_FIGURES):
        _study_figures(report, source, figs)
    if "samples" in spec.figures:
        first = evaluations[0].samples
        columns = [("gray", tiles(first, 0))] + [(ev.entry.label, tiles(ev.samples, 1)) for ev in evaluations
                                                 if ev.entry.label != "gray"] + [("original", tiles(first, 2))]
        report.plotted["samples"] = figures.sample_grid(columns, figs)
    if "per_class" in spec.figures and (report.table["group"] != "all").any():
        report.plotted["per_class"] = figures.per_class(report.table, figs)
    report.figure_files = {name: [figs / f"{name}.png", figs / f"{name}.svg"] for name in report.plotted}
    for ev in evaluations:
        report.configs[ev.entry.label] = source.config_text(ev.entry.run_id)
        report.links[ev.entry.label] = source.run_link(ev.entry.run_id)
    return report
