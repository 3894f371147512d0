"""A report declaration: ``reports/NAME.toml``, or, for a study with no file, a default study report.

Unknown keys and figures are errors, so a typo never silently drops a figure.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

CURVE_FIGURES = ("loss_curves", "score_curves")  # within-epoch points (curve/*): a run set's and a study's
RUN_FIGURES = ("losses", "quality", *CURVE_FIGURES, "samples", "per_class")
STUDY_FIGURES = ("trial_curves", "objective_vs_params", "importances", "history", "pareto")
STUDY_DEFAULT = STUDY_FIGURES + CURVE_FIGURES + ("samples", "per_class")  # a study report with no figures key
KEYS = {"title", "experiment", "runs", "study", "baselines", "figures", "data", "claims"}
BASELINES = ("gray", "welsh")  # non-learned; the learned l1_only baseline is a run (see seed_graphs.toml)
HERE = Path(__file__).resolve().parent


class SpecError(ValueError):
    """A report file that cannot be used; the message names the problem."""


@dataclass(frozen=True)
class ReportSpec:
    name: str
    title: str
    experiment: str = "colorgan"  # MLflow experiment of the declared runs
    runs: tuple[str, ...] = ()  # run names (= experiment file names): the newest FINISHED run of each
    study: str = ""  # or a study: its trials (curves) and its best trial (tables, grids)
    baselines: tuple[str, ...] = BASELINES
    figures: tuple[str, ...] = RUN_FIGURES
    data: str | None = None  # a folder evaluated whole; None = each model's test split
    source: str = "the default study report (no reports/NAME.toml)"  # the file it came from
    claims: str = ""  # reports/CLAIMS.toml: claims checked on the runs `make reproduce` trains (reports/claims.py)


def load(name: str, folder: Path = HERE) -> ReportSpec:
    path = folder / f"{name}.toml"
    if not path.is_file():  # `make report NAME=<study>` works without a file
        return ReportSpec(name, f"Study {name}", study=name, figures=STUDY_DEFAULT)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - KEYS)
    if unknown:
        raise SpecError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(KEYS))}")
    runs, study = tuple(raw.get("runs", ())), str(raw.get("study", ""))
    if bool(runs) == bool(study):
        raise SpecError(f"{path}: declare either runs = [...] or study = \"NAME\"")
    figures = tuple(raw.get("figures", STUDY_DEFAULT if study else RUN_FIGURES))
    bad = sorted(set(figures) - set(RUN_FIGURES + STUDY_FIGURES))
    if bad:
        raise SpecError(f"{path}: unknown figure(s) {', '.join(bad)}; known: {', '.join(RUN_FIGURES + STUDY_FIGURES)}")
    if not study and set(figures) & set(STUDY_FIGURES):
        raise SpecError(f"{path}: study figures need study = \"NAME\"")
    baselines = tuple(raw.get("baselines", BASELINES))
    if set(baselines) - set(BASELINES):
        raise SpecError(f"{path}: baselines must be among {', '.join(BASELINES)}; l1_only is a run, list it in runs")
    return ReportSpec(name, str(raw.get("title", name)), str(raw.get("experiment", "colorgan")), runs, study,
                      baselines, figures, raw.get("data"), str(path), str(raw.get("claims", "")))
