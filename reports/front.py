"""A two-objective study's answer in its report: the Pareto front as a figure with the gray image and the shared
warm start as reference points and the recommended trial starred, the front as a table, and the study file's rule
and its pick in sentences with the recommended trial's paired comparisons (warm start, default, runner-up).

Read from what the study runner logged on the parent run (``pareto.csv``, the tags naming the rule and the pick,
``comparisons.csv``), so the report shows the answer the study gave, never one recomputed differently.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from reports import figures
from reports.declared import Declared

RULE_TAG = "colorgan.recommend_rule"
PICK_TAG = "colorgan.recommended_trial"
REFERENCES = {"gray": "s", "warm start": "D"}  # reference point -> marker
ROLES = {"warm start": "the warm start (no GAN phase)", "base": "the default (base experiment)",
         "runner-up": "the runner-up"}


def figure(table: pd.DataFrame, objectives: list[str], labels: list[str], folder: Path) -> pd.DataFrame:
    """Every finished configuration (mean of its seeds) by the two objectives, the front joined in order, the
    recommended one starred, each labelled with its trial number; the reference points as black markers."""
    x, y = objectives
    trials = table[table["trial"].notna()].copy()
    fig, ax = plt.subplots(figsize=(figures.WIDTH * 0.8, 4.2))
    ax.scatter(trials[x], trials[y], s=36, color="0.65", label="configuration (mean of its seeds)", zorder=2)
    on = trials[trials["on_front"].astype(bool)].sort_values(x)
    ax.plot(on[x], on[y], "o-", color=figures.sns.color_palette(figures.PALETTE)[0], label="Pareto front", zorder=3)
    for _, row in trials.iterrows():
        ax.annotate(str(int(row["trial"])), (row[x], row[y]), fontsize=8, xytext=(4, 3), textcoords="offset points")
    pick = trials[trials["recommended"].astype(bool)]
    if len(pick):
        ax.scatter(pick[x], pick[y], marker="*", s=240, color="tab:red", zorder=4, label="recommended by the rule")
    for name, marker in REFERENCES.items():
        row = table[table["point"] == name]
        if len(row) and row[[x, y]].notna().all(axis=None):
            ax.scatter(row[x], row[y], marker=marker, s=60, color="black", zorder=4, label=name)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title("the two objectives on the eval split: Pareto front and reference points", fontsize=10)
    figures.legend_outside(ax, "")
    fig.tight_layout()
    figures.save(fig, folder, "pareto")
    return table[["point", "trial", *objectives, "on_front", "recommended"]]


def caption(labels: list[str], rule: str, pick: str) -> str:
    chosen = f"trial {pick}" if pick.isdigit() else "none (no front trial met it)"
    return (f"Each finished configuration by its two objectives on the eval split after its last epoch, the mean of "
            f"its seeds: {labels[0]} (x) and {labels[1]} (y); the numbers are trial numbers. The joined points are "
            "the Pareto front: no other configuration is better on both. The black markers are the gray image (the "
            "input itself) and the shared warm start (the generator every trial began from, before any GAN epoch): "
            "a GAN configuration is only worth its cost where it lies beyond the warm start. The star is the "
            f"trial the study file's rule picks ({rule}): {chosen}.")


def table(logged: pd.DataFrame, objectives: list[str], label) -> pd.DataFrame:
    """The reference points and the front, with the searched params (3 figures) and every logged figure (4
    decimals), headed by ``label(key)``, for the report's table."""
    shown = logged[logged["trial"].isna() | logged["on_front"].astype(bool)].copy()
    shown["recommended"] = shown["recommended"].map({True: "recommended", False: ""})
    params = [c for c in logged.columns if c not in {"point", "trial", "on_front", "recommended", "base"}
              and "/" not in c]
    scores = [*objectives, *(c for c in logged.columns if c.startswith("eval/") and c not in objectives)]
    out = shown[["point", *params, *scores, "recommended"]].astype(object)
    for column in params:
        out[column] = [f"{v:.3g}" if isinstance(v, float) and pd.notna(v) else ("" if pd.isna(v) else str(v))
                       for v in shown[column]]
    for column in scores:
        out[column] = ["" if pd.isna(v) else f"{v:+.4f}" if column.endswith("_gain") else f"{v:.4f}"
                       for v in shown[column]]
    return out.rename(columns={k: f"{label(k)}, eval split" for k in scores})


def lines(rule: str, pick: str, compared: pd.DataFrame | None, declared: Declared) -> list[str]:
    """The rule, its pick and the pick's paired comparisons in sentences, each score as ``declared``."""
    out = [f"The study file's rule: {rule}. " + (f"It picks trial {pick}." if pick.isdigit() else
                                                 "No configuration on the front meets it: no GAN phase searched "
                                                 "here bought that much colour over the warm start.")]
    if compared is None or compared.empty:
        return out
    for (other, role), group in compared.groupby(["against", "against_is"], sort=False):
        if role not in ROLES:
            continue
        parts = []
        for r in group.itertuples():
            if r.score not in declared.paired():
                continue
            label, unit, digits = declared.mean(r.score)
            unit = f" {unit}" if unit else ""
            need = ""
            if r.verdict == "within noise" and pd.notna(getattr(r, "detectable", None)):
                need = f"; detectable at this budget ±{r.detectable:.{digits}f}{unit}" + (
                    f", {int(r.needed):,} images would resolve it" if pd.notna(getattr(r, "needed", None)) else "")
            parts.append(f"{label} {r.difference:+.{digits}f}{unit} [{r.ci95_low:+.{digits}f}, "
                         f"{r.ci95_high:+.{digits}f}] ({r.verdict}{need})")
        who = ROLES[role] + ("" if role == "warm start" else f", trial {int(other)}")
        out.append(f"Trial {int(group['best'].iloc[0])} against {who}, paired over the same "
                   f"{int(group['images'].iloc[0])} eval-split images (95% CI of the mean per-image difference): "
                   + "; ".join(parts) + ".")
    return out
