"""Assemble one report: find its runs, check their evaluations, draw the figures, build the tables.

``plan`` lists the `colorgan evaluate` commands a report still needs; ``build`` refuses to draw until none is
missing, so a table never mixes evaluated and unevaluated entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

from reports import captions, claims, critic, curve_figures, figures, front, sample_figures, study_figures, verdicts
from reports.declared import GAIN_SUFFIX, Declared
from reports.source import Entry, Evaluated, Missing, Source, evaluate_command
from reports.spec import CURVE_FIGURES, STUDY_FIGURES, ReportSpec

SPLIT_KEYS = ("eval_fraction", "test_fraction", "grey_threshold")  # what decides a model's test split
MIN_TRIALS_FOR_IMPORTANCES = 5  # finished trials; fANOVA on fewer ranks noise


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
    says: pd.DataFrame | None = None  # a study's best configuration against the default and the runner-up
    says_lines: list[str] = field(default_factory=list)  # the same, in sentences
    says_title: str = "What this study says (eval split, paired on the same images)"
    configs: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)  # figure name -> what it shows and how to read it
    notes: list[str] = field(default_factory=list)  # why a declared figure is not drawn
    critic: pd.DataFrame | None = None  # per run (trial): its critic's final held-out AUC and verdict
    critic_lines: list[str] = field(default_factory=list)  # what the verdicts say about the GAN phases
    critic_alarm: str = ""  # said up front when every GAN phase's critic stayed at chance
    where: str = "test split"  # what the evaluations scored: the test split, or a named folder

    @property
    def declared(self) -> Declared:
        """The metric declarations colorgan logged with the evaluations: every label, unit and decimal shown."""
        return Declared.logged(self.evaluations)

    def label(self, key: str) -> str:
        """An axis label with its unit for a logged key: "eval/psnr" -> "PSNR pooled (dB)"."""
        return self.declared.label(key)


def entries(spec: ReportSpec, source: Source) -> tuple[list[Entry], list[Entry], optuna.Study | None]:
    """(models for the tables, runs for the curves, the study or None); Missing names what to run."""
    if spec.study:
        study = source.study(spec.study)
        return source.best_trials(study), source.trials(study), study
    models = source.runs(spec)
    return models, models, None


def _evaluations(spec: ReportSpec, source: Source, models: list[Entry]) -> tuple[list[Evaluated], list[str]]:
    data_args = ["--data", str(Path(spec.data).resolve())] if spec.data else []
    found, commands = [], []
    for entry in models:
        evaluated = source.evaluation(entry, spec.data)
        if evaluated is None or not evaluated.info.get("sample_files"):  # absent, or older than its grid's record
            commands.append(evaluate_command("--model", entry.run_id, *data_args))
        else:
            found.append(evaluated)
    rows = found[0].info["sample_files"] if found else None
    params = source.client.get_run(models[0].run_id).data.params
    size = int(params["image_size"])
    data_dir = found[0].info["data_dir"] if found else (str(Path(spec.data).resolve()) if spec.data
                                                        else params["data_dir"])
    n_images = found[0].info.get("n_images") if found else None
    split = [f"{k}={params[k]}" for k in SPLIT_KEYS if k in params]
    for name in spec.baselines:
        entry = source.baseline(name, data_dir, size)
        evaluated = source.evaluation(entry, spec.data) if entry else None
        if evaluated is not None and n_images is not None and evaluated.info.get("n_images") != n_images:
            evaluated = None  # evaluated on another split of the same folder: evaluate again on the models' one
        if evaluated is not None and (not evaluated.info.get("sample_files")
                                      or rows is not None and evaluated.info["sample_files"] != rows):
            evaluated = None  # its sample grid shows other images: evaluate again, so every column shows the same
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


def table(evaluations: list[Evaluated], where: str = "test split") -> pd.DataFrame:
    frames = []
    for ev in evaluations:
        frame = ev.summary.copy()
        frame.insert(0, "label", ev.entry.label)
        frame.insert(1, "kind", ev.entry.kind)
        frame.insert(2, "run_id", ev.entry.run_id)
        frame.insert(3, "split", where)
        frame.insert(4, "image_size", ev.info.get("image_size"))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def pooled_psnr_interval(mse: np.ndarray) -> tuple[float, float]:
    """95% interval of PSNR pooled (= -10·log10 of the mean MSE, data range 1): the Student-t interval of the
    images' mean squared error, mapped through that decreasing function. NaN for fewer than two images."""
    from scipy import stats

    mse = np.asarray(mse, np.float64)
    if len(mse) < 2:
        return float("nan"), float("nan")
    mean = float(np.mean(mse))
    half = float(stats.t.ppf(0.975, len(mse) - 1) * np.std(mse, ddof=1) / np.sqrt(len(mse)))
    floor = 1e-10  # colorgan's PSNR cap, 100 dB
    return float(-10 * np.log10(mean + half)), float(-10 * np.log10(max(mean - half, floor)))


def per_class_table(report: Report) -> pd.DataFrame:
    """The per-class rows of the table with PSNR pooled's 95% interval (psnr_lo, psnr_hi) from per_image.csv."""
    rows = report.table[report.table["group"] != "all"].copy()
    bounds = {}
    for ev in report.evaluations:
        if "mse" in ev.per_image:
            for group, sub in ev.per_image.groupby("class"):
                bounds[(ev.entry.label, str(group))] = pooled_psnr_interval(sub["mse"].to_numpy())
    nan = (float("nan"), float("nan"))
    rows["psnr_lo"] = [bounds.get((r.label, str(r.group)), nan)[0] for r in rows.itertuples()]
    rows["psnr_hi"] = [bounds.get((r.label, str(r.group)), nan)[1] for r in rows.itertuples()]
    return rows[["label", "group", "psnr", "psnr_lo", "psnr_hi", "colorfulness_gap",
                 "colorfulness_gap_ci95", "colorfulness_delta", "colorfulness_delta_ci95"]].reset_index(drop=True)


def sample_classes(evaluated: Evaluated) -> list[str]:
    """The class of each row of an evaluation's sample grid, top down (from its info.json and per_image.csv)."""
    by_file = dict(zip(evaluated.per_image["file"], evaluated.per_image["class"].astype(str), strict=True))
    return [by_file.get(f, "") for f in evaluated.info.get("sample_files", [])]


def gray_values(report: Report, source: Source, key: str) -> dict[str, float]:
    """Run -> the gray image's figure behind ``key`` ("eval/psnr") on each plotted run's eval split; a gain's is 0 by
    definition (runs that logged none are left out)."""
    if key.endswith(GAIN_SUFFIX):
        return {e.label: 0.0 for e in report.curves}
    return source.gray(report.curves, key.rsplit("/", 1)[-1])


def _study_figures(report: Report, source: Source, out: Path) -> None:
    study, spec = report.study, report.spec
    metrics = source.objective_names(study)  # e.g. ["eval/psnr"]: the trials' curves are of the first
    hist = source.histories(report.curves, (metrics[0],))
    logs = {name: bool(getattr(d, "log", False)) for name, d in search_space(study).items()}
    trials = study.trials_dataframe(attrs=("number", "state", "values", "params"), multi_index=False)
    values = [f"values_{i}" for i in range(len(metrics))]
    trials = trials.rename(columns={**dict(zip(values, metrics, strict=True)), **{f"params_{p}": p for p in logs}})
    objective, ylabel = metrics[0], report.label(metrics[0])
    states = {f"trial {t.number}": t.state.name for t in study.trials}
    pruned = {label for label, state in states.items() if state == "PRUNED"}
    n_complete = sum(state == "COMPLETE" for state in states.values())
    n_pruned = sum(state == "PRUNED" for state in states.values())
    gray = {m: gray_values(report, source, m) for m in metrics}
    if "trial_curves" in spec.figures:
        for param, log in logs.items():
            by_run = {e.label: float(e.params[param]) for e in report.curves
                      if param in e.params and _is_number(e.params[param])}
            if by_run:
                name = f"trial_curves_{param}"
                report.plotted[name] = study_figures.trial_curves(hist, by_run, param, log, objective, out,
                                                                  ylabel, gray[objective], pruned)
                report.captions[name] = captions.trial_curves(param, log, len(by_run), len(pruned & set(by_run)),
                                                              ylabel, gray[objective])
    numeric = {p: log for p, log in logs.items() if pd.api.types.is_numeric_dtype(trials[p])}
    if "objective_vs_params" in spec.figures and numeric:
        report.plotted["objective_vs_params"] = study_figures.objective_vs_params(trials, numeric, objective, out,
                                                                                  ylabel, gray[objective])
        report.captions["objective_vs_params"] = captions.objective_vs_params(ylabel, n_complete, n_pruned,
                                                                              gray[objective])
    if "importances" in spec.figures:
        multi = len(study.directions) > 1
        if multi or n_complete < MIN_TRIALS_FOR_IMPORTANCES:
            report.notes.append(captions.importances_skipped(n_complete, MIN_TRIALS_FOR_IMPORTANCES, multi))
        else:
            values = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
            report.plotted["importances"] = study_figures.importances(dict(sorted(values.items())), out)
            report.captions["importances"] = captions.importances(n_complete)
    if "history" in spec.figures:
        maximize = study.directions[0].name == "MAXIMIZE"
        report.plotted["history"] = study_figures.history(trials, objective, maximize, out, ylabel, gray[objective])
        report.captions["history"] = captions.history(ylabel, maximize, n_pruned, gray[objective])
    answered = False
    if "pareto" in spec.figures and len(study.directions) == 2:
        labels = [report.label(m) for m in metrics]
        logged, tags = source.pareto(study)
        if logged is not None:  # the study's answer as it logged it: front, reference points, the rule's pick
            rule, pick = tags.get(front.RULE_TAG, "none logged"), str(tags.get(front.PICK_TAG, ""))
            report.plotted["pareto"] = front.figure(logged, metrics, labels, out)
            report.captions["pareto"] = front.caption(labels, rule, pick)
            report.says = front.table(logged, metrics, report.label)
            report.says_title = "What this study says: the Pareto front and the recommended trial (eval split)"
            report.says_lines = front.lines(rule, pick, source.comparisons(study), report.declared)
            answered = True
        else:
            on_front = [t.number for t in study.best_trials]
            report.plotted["pareto"] = study_figures.pareto(trials, metrics, on_front, out, labels, gray)
            report.captions["pareto"] = captions.pareto(labels)
    report.best = best_table(report, metrics)
    if len(study.directions) == 1 and not answered:
        report.says, report.says_lines = verdicts.study_says(study, source.comparisons(study), report.declared)


def search_space(study: optuna.Study) -> dict[str, optuna.distributions.BaseDistribution]:
    """Every searched hyper-parameter and its distribution, by name (trials of a conditional space differ)."""
    distributions = {}
    for t in study.get_trials(deepcopy=False):
        distributions.update(t.distributions)
    return dict(sorted(distributions.items()))


def colourings(report: Report) -> list[tuple[str, dict[str, float | str], str, bool]]:
    """How the curve figures colour their runs, one figure each: (name suffix, run -> value, its name, log). A
    study colours its trials by each searched hyper-parameter (a number, or a categorical choice as text, which
    gets a palette), as trial_curves does; a run set colours each run by its label."""
    if report.study is None:
        return [("", {e.label: e.label for e in report.curves}, "run", False)]
    out = []
    for param, dist in search_space(report.study).items():
        categorical = isinstance(dist, optuna.distributions.CategoricalDistribution)
        values = {e.label: e.params[param] if categorical or not _is_number(e.params[param])
                  else float(e.params[param]) for e in report.curves if param in e.params}
        if values:
            out.append((f"_{param}", values, param, bool(getattr(dist, "log", False))))
    return out


def curve_subset(params: dict[str, str]) -> int | None:
    """The number of eval images a run scored its curve points on: the first curve_eval_images of its eval split
    (fewer when the split is smaller); None when the run logged neither."""
    if "curve_eval_images" not in params:
        return None
    wanted = int(params["curve_eval_images"])
    return min(wanted, int(params["n_eval"])) if "n_eval" in params else wanted


def _epoch_figures(report: Report, source: Source, out: Path) -> None:
    """The per-epoch losses and quality figures, of what colorgan graphs (its logged plots); the gray image's line
    on each quality panel whose figure has a direction (colourfulness, read against the originals', has none)."""
    spec, declared = report.spec, report.declared
    if "losses" not in spec.figures and "quality" not in spec.figures:
        return
    hist = source.histories(report.curves, curve_figures.epoch_keys(declared))
    if "losses" in spec.figures:
        report.plotted["losses"] = curve_figures.losses(hist, out, declared)
        report.captions["losses"] = captions.losses()
    if "quality" in spec.figures:
        gray = {key: gray_values(report, source, key) for key in curve_figures.quality_keys(declared)
                if declared.better(key)}
        report.plotted["quality"] = curve_figures.quality(hist, out, gray, declared)
        report.captions["quality"] = captions.quality(next(iter(gray.values()), {}))


def _curve_figures(report: Report, source: Source, out: Path) -> None:
    """The within-epoch loss and score figures (curve/* points), once per colouring; runs that logged no curve
    points (trained before colorgan logged them) are a note, not an error."""
    wanted = [name for name in CURVE_FIGURES if name in report.spec.figures]
    if not wanted:
        return
    declared = report.declared  # what each figure graphs, as colorgan logged it
    drawers = {"loss_curves": (partial(curve_figures.loss_curves, declared=declared),
                               curve_figures.loss_curve_panels(declared), captions.loss_curves),
               "score_curves": (partial(curve_figures.score_curves, declared=declared),
                                curve_figures.score_panels(declared), captions.score_curves)}
    names = tuple(n for name in wanted for n, _, _ in drawers[name][1])
    keys = curve_figures.curve_keys(source.metric_keys(report.curves), names)  # the curve keys the runs logged
    hist = source.histories(report.curves, (*keys, curve_figures.PHASE_KEY))
    logged = set(hist.loc[hist["metric"] == curve_figures.CURVE_EPOCH, "run"])
    silent = [e.label for e in report.curves if e.label not in logged]
    if silent:
        report.notes.append(captions.no_curve_points(silent, len(report.curves)))
    if not logged:
        return
    params = [source.client.get_run(e.run_id).data.params for e in report.curves if e.label in logged]
    sizes = sorted({curve_subset(p) for p in params} - {None})
    per_epoch = sorted({int(p["curve_points"]) for p in params if "curve_points" in p})
    pruned = {f"trial {t.number}" for t in report.study.trials if t.state.name == "PRUNED"} if report.study else set()
    for figure in wanted:
        draw, _, caption = drawers[figure]
        for suffix, values, key, log in colourings(report):
            values = {run: value for run, value in values.items() if run in logged}
            if not values:  # no run with curve points has this hyper-parameter
                continue
            name = figure + suffix
            plotted = draw(hist, out, name, values, key, log, sizes[0] if len(sizes) == 1 else None)
            runs = plotted.groupby("run", sort=False)["epoch"].nunique()
            numeric = pd.api.types.is_numeric_dtype(plotted[key])
            report.plotted[name] = plotted
            report.captions[name] = caption(key, numeric, log, len(runs), list(runs), per_epoch, sizes,
                                            len(pruned & set(runs.index)))


def _critic(report: Report, source: Source) -> None:
    """The critic's standing per plotted run or trial (its final held-out AUC and verdict), the sentences saying
    which GAN phases were no game, and, when none was, that line first in the report's answer and up front. Runs
    that logged no critic figures (L1-only, older) are a note."""
    attrs = ({f"trial {t.number}": t.user_attrs for t in report.study.get_trials(deepcopy=False)}
             if report.study is not None else None)
    table = critic.standing(source.client, report.curves, attrs)
    report.critic_lines = critic.lines(table, study=report.study is not None)
    if (table["critic AUC, eval split, final epoch"] == "not logged").all() and not report.critic_lines:
        report.notes.append(captions.no_critic(len(table)))
        return
    report.critic = table
    if critic.all_at_chance(table):
        report.critic_alarm = report.critic_lines[0]
        if report.says is not None:
            report.says_lines = [report.critic_alarm, *report.says_lines]


def best_table(report: Report, metrics: list[str]) -> pd.DataFrame:
    """The best trial(s): the objective as the study saw it (eval split, final epoch) next to the evaluation's
    PSNR pooled on the report's test data, each column naming its split."""
    study = report.study
    test = {ev.entry.run_id: ev.summary.loc[ev.summary["group"] == "all", "psnr"].iloc[0]
            for ev in report.evaluations if "psnr" in ev.summary}
    rows = []
    for t in sorted(study.best_trials, key=lambda t: t.number):
        run_id = t.user_attrs.get("run_id", "")
        row = {"study": study.study_name, "trial": t.number}
        row.update({f"{report.label(m)}, eval split, final epoch": v for m, v in zip(metrics, t.values, strict=True)})
        if run_id in test:
            row[f"PSNR pooled (dB), {report.where}"] = test[run_id]
        rows.append({**row, **t.params, "run_id": run_id})
    return pd.DataFrame(rows)


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
    where = "test split" if spec.data is None else f"folder {Path(spec.data).name}"
    report = Report(spec, models, curves, evaluations, table(evaluations, where), study=study, where=where)
    _epoch_figures(report, source, figs)
    if study is not None and set(spec.figures) & set(STUDY_FIGURES):
        _study_figures(report, source, figs)
    _curve_figures(report, source, figs)
    if "samples" in spec.figures:
        classes = sample_classes(evaluations[0])
        title = f"{where}: fixed images, taken in turn from each class"
        report.plotted["samples"] = sample_figures.sample_grid(sample_figures.sample_columns(evaluations), figs,
                                                               classes, title)
        report.captions["samples"] = captions.samples(len(report.plotted["samples"]), classes, where)
    if "per_class" in spec.figures and (report.table["group"] != "all").any():
        report.plotted["per_class"] = sample_figures.per_class(per_class_table(report), figs, where,
                                                               declared=report.declared)
        report.captions["per_class"] = captions.per_class(where, evaluations[0].info.get("n_images"),
                                                          "gray" in report.plotted["per_class"]["label"].values)
    if spec.claims:
        claims_file = Path(spec.source).with_name(f"{spec.claims}.toml")
        report.says_title = (f"{claims.title(claims_file)}, checked (eval split, at the budget of `colorgan reproduce "
                             f"reports/{spec.claims}.toml`)")
        report.says, report.says_lines, plotted, caps = claims.check(source, claims_file, figs, report.declared)
        report.plotted.update(plotted)
        report.captions.update(caps)
    _critic(report, source)
    report.figure_files = {name: [figs / f"{name}.png", figs / f"{name}.svg"] for name in report.plotted}
    for ev in evaluations:
        report.configs[ev.entry.label] = source.config_text(ev.entry.run_id)
        report.links[ev.entry.label] = source.run_link(ev.entry.run_id)
    return report
