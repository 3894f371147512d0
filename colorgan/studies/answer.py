"""What a two-objective study found: its Pareto table (the trials, the gray image and the shared warm start as
reference points), the trial the study file's [recommend] rule picks, logged on the parent run (table, figure,
tags) where `make summary`, the MLflow UI and the report read it.

The reference points are measured on the trials' own eval split: the gray image's figures from the trials'
runs (a gain over gray is 0 by definition), the warm start's from its run's last evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import optuna
import pandas as pd

from colorgan import tracking
from colorgan.scoring import critic, metrics
from colorgan.studies import pareto, summaries
from colorgan.studies.spec import StudySpec
from colorgan.studies.storage import PRETRAIN_ATTR, parent_run_id
from colorgan.tracking import studyruns
from colorgan.tracking.tags import RECOMMEND_RULE_TAG, RECOMMENDED_TRIAL_TAG

# each point's figures; the critic's AUC says whether its GAN phase was a game at all
SHOWN = ("eval/psnr_gain", "eval/color_auc_rebal", "eval/color_auc", "eval/colorfulness_gap", "eval/colorfulness_delta",
         "eval/critic_auc")
DUPLICATE_ATTR = "duplicate_of"


@dataclass(frozen=True)
class Answer:
    table: pd.DataFrame
    recommended: int | None
    rule_text: str
    reference: str  # what the rule's margin is measured from: "warm start" or "gray"
    at_chance: tuple[int, ...] = ()  # trials whose critic never left chance: shown, never recommended
    judged: int = 0  # trials whose critic was judged at all (they had a GAN phase)

    def lines(self, spec: StudySpec) -> list[str]:
        return pareto.lines(self.table, _shown(spec), [p.name for p in spec.params], self.rule_text,
                            self.recommended, self.reference) + chance_lines(self.at_chance, self.judged)


def verdicts(done: list[optuna.trial.FrozenTrial]) -> tuple[tuple[int, ...], int]:
    """(the trials whose critic stayed at chance, how many trials were judged at all) among finished ``done``."""
    at_chance = tuple(t.number for t in done if t.user_attrs.get(summaries.CRITIC_ATTR) == critic.CHANCE)
    return at_chance, sum(summaries.CRITIC_ATTR in t.user_attrs for t in done)


def chance_lines(at_chance: tuple[int, ...], judged: int) -> list[str]:
    """What the critic's verdicts say about the study's answer (critic.verdict per seed, summaries.CRITIC_ATTR
    per trial)."""
    if not at_chance:
        return []
    if len(at_chance) == judged:
        return ["The critic never left chance in any trial: this study says nothing about the knobs searched "
                "(their GAN phase was no game; see each run's colorgan.scoring.critic tag)."]
    return [f"The critic never left chance in trial{'s' if len(at_chance) > 1 else ''} "
            f"{', '.join(map(str, at_chance))}: their GAN phase says nothing about the knobs searched, and the rule "
            "does not recommend from them."]


def _shown(spec: StudySpec) -> list[str]:
    return list(dict.fromkeys([*spec.metrics, *SHOWN]))


def rule(spec: StudySpec) -> pareto.Rule | None:
    r = spec.recommend
    return pareto.Rule(r["best"], r["require"], float(r["margin"])) if r else None


def reference_points(spec: StudySpec, root: Path, parent: str, warm_start: str) -> dict[str, dict[str, float]]:
    """{"gray": figures, "warm start": figures} by logged key (eval/...), for every shown figure they have."""
    gray_runs = [g for g in studyruns.gray_by_run(root, parent).values() if g]
    gray = gray_runs[0] if gray_runs else {}
    points = {}
    if gray:
        points[pareto.GRAY] = {k: (0.0 if m.gain_of else gray[m.name]) for k in _shown(spec)
                               if (m := metrics.declared(k)) is not None and (m.gain_of or m.name in gray)}
    if warm_start:
        logged = tracking.run_data(root, warm_start).metrics
        points[pareto.WARM_START] = {k: float(logged[k]) for k in _shown(spec) if k in logged}
    return points


def answer(study: optuna.Study, spec: StudySpec, root: Path, parent: str, warm_start: str) -> Answer | None:
    """The Pareto table and the recommended trial; None for a one-objective study or before any trial ended."""
    found = rule(spec)
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if DUPLICATE_ATTR not in t.user_attrs and all(math.isfinite(v) for v in t.values)]
    if found is None or not done:
        return None
    refs = reference_points(spec, root, parent, warm_start)
    reference = pareto.WARM_START if pareto.WARM_START in refs else pareto.GRAY
    objectives = list(spec.metrics)
    points = {t.number: tuple(t.values) for t in done}
    base = refs.get(reference, {})
    ref_values = tuple(base.get(k, math.nan) for k in objectives)
    at_chance, judged = verdicts(done)
    games = {k: v for k, v in points.items() if k not in at_chance}  # a constant critic's trial answers nothing
    pick = pareto.pick(games, objectives, list(spec.directions), found, ref_values) \
        if games and all(math.isfinite(v) for v in ref_values) else None
    extra = {t.number: {k.removeprefix(summaries.MEAN_ATTR): v for k, v in t.user_attrs.items()
                        if k.startswith(summaries.MEAN_ATTR)}
             for t in done}
    references = {name: tuple(values.get(k, math.nan) for k in objectives) for name, values in refs.items()}
    frame = pareto.table(points, {t.number: t.params for t in done}, objectives, list(spec.directions), references,
                         pick, extra)
    for name, values in refs.items():  # the reference rows' other shown figures
        for key, value in values.items():
            frame.loc[frame["point"] == name, key] = value
    if any(t.user_attrs.get(summaries.BASE_ATTR) for t in done):
        frame["base"] = frame["trial"].map({t.number: bool(t.user_attrs.get(summaries.BASE_ATTR)) for t in done})
    if judged:
        frame[summaries.CRITIC_ATTR] = frame["trial"].map({t.number: t.user_attrs.get(summaries.CRITIC_ATTR, "")
                                                           for t in done})
    return Answer(frame, pick, found.text(spec.directions_by_metric, reference), reference, at_chance, judged)


def study_answer(study: optuna.Study, spec: StudySpec, root: Path | None) -> Answer | None:
    """A two-objective study's Pareto table and recommended trial, read from its parent run and warm start; None
    for one objective, without a project root or before the parent run exists."""
    parent = parent_run_id(study)
    if root is None or parent is None or not spec.multi_objective:
        return None
    return answer(study, spec, root, parent, study.user_attrs.get(PRETRAIN_ATTR, ""))


def record(found: Answer, spec: StudySpec, root: Path, parent: str) -> None:
    """The table, the figure and the pick on the parent run."""
    tracking.log_table(root, parent, found.table.to_csv(index=False), pareto.TABLE_ARTIFACT)
    tracking.set_run_tags(root, parent, {RECOMMEND_RULE_TAG: found.rule_text,
                                         RECOMMENDED_TRIAL_TAG: "none" if found.recommended is None
                                         else found.recommended})
    studyruns.log_figure(root, parent, figure(found, spec), pareto.FIGURE_ARTIFACT)


def figure(found: Answer, spec: StudySpec):
    """The two objectives of every finished configuration, the front joined, the recommended one starred, the
    gray image and the warm start as reference points (a matplotlib Figure)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = spec.metrics
    frame = found.table
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    trials = frame[frame["trial"].notna()]
    ax.scatter(trials[x], trials[y], s=30, color="0.6", label="configuration (mean of its seeds)")
    on = trials[trials["on_front"]].sort_values(x)
    ax.plot(on[x], on[y], "o-", color="tab:blue", label="Pareto front")
    for _, row in trials.iterrows():
        ax.annotate(str(int(row["trial"])), (row[x], row[y]), fontsize=8, xytext=(3, 3), textcoords="offset points")
    pick = trials[trials["recommended"]]
    if len(pick):
        ax.scatter(pick[x], pick[y], marker="*", s=220, color="tab:red", zorder=3, label="recommended")
    for name, marker in ((pareto.GRAY, "s"), (pareto.WARM_START, "D")):
        row = frame[frame["point"] == name]
        if len(row) and row[[x, y]].notna().all(axis=None):
            ax.scatter(row[x], row[y], marker=marker, s=60, color="black", zorder=3, label=name)
    ax.set_xlabel(metrics.heading_of(x))
    ax.set_ylabel(metrics.heading_of(y))
    ax.set_title(f"study {spec.name}: eval split, final epoch", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
