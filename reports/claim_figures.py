"""A claims file's figures: each claim's two configurations over training, with the critic's AUC beside them,
and the forest plot of every claim part's difference with its 95% interval."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from reports import critic, figures
from reports.figures import PALETTE, WIDTH, legend_outside

CLAIM_CURVES = {  # figure key -> (y label, the run's metric(s): one, or a ratio of two; the x metric, "" = per epoch)
    "overfit": ("eval / train L1 - 1", ("eval/g_recon", "train/g_recon"), ""),
    "d_loss": ("discriminator loss, train (quarter-epoch means)", ("curve/train/d_loss",), "curve/epoch"),
}


def claim_curves(hist: pd.DataFrame, key: str, folder: Path, name: str, per_run: pd.DataFrame | None = None,
                 skip: float = 0.0, per_run_label: str = "") -> pd.DataFrame:
    """A claim's two configurations over training, the mean over seeds with a 95% band (seaborn's bootstrap):
    ``overfit`` the generalisation gap of the L1 term per epoch, ``d_loss`` the discriminator's training loss at
    every curve point. ``per_run`` (config, run, value): the claim's per-run score, drawn beside it one
    dot per seed, so the verdict's samples are visible; ``skip``: the GAN epochs left out of it, shaded. Right: the
    critic's held-out AUC on the same x, with its chance line (critic.by_config)."""
    ylabel, keys, x_key = CLAIM_CURVES[key]
    wide = hist[hist["metric"].isin(keys + ((x_key,) if x_key else ()))].pivot_table(
        index=["config", "run", "step"], columns="metric", values="value").reset_index()
    wide["value"] = wide[keys[0]] / wide[keys[1]] - 1.0 if len(keys) == 2 else wide[keys[0]]
    wide["x"] = wide[x_key] if x_key else wide["step"]
    plotted = wide[["config", "run", "step", "x", "value"]].dropna()
    panels = 1 if per_run is None else 2
    fig, axes = plt.subplots(1, panels + 1, figsize=(WIDTH * (1.05 if panels == 1 else 1.35), 3.2), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 1][:panels] + [2]})
    ax = axes[0, 0]
    sns.lineplot(plotted, x="x", y="value", hue="config", marker="o", markersize=3 if x_key else 6,
                 errorbar=("ci", 95), ax=ax)
    if len(keys) == 2:
        ax.axhline(0.0, color="0.5", linewidth=1)
    if skip:  # from where the curve begins (the GAN phase: after any in-run pre-training)
        start = float(np.floor(plotted["x"].min() - 1e-6))
        ax.axvspan(start, start + skip, color="0.9", zorder=0, label=f"GAN epochs 1-{skip:g}: not counted")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if per_run is not None:
        right = axes[0, 1]
        order = list(dict.fromkeys(plotted["config"]))
        sns.stripplot(per_run, x="config", y="value", hue="config", order=order, hue_order=order, jitter=0.15,
                      size=6, legend=False, ax=right)
        sns.pointplot(per_run, x="config", y="value", order=order, color="0.2", errorbar=("ci", 95),
                      linestyle="none", markers="_", capsize=0.2, ax=right)
        right.set_xlabel("")
        right.set_ylabel(per_run_label)
        right.tick_params(axis="x", rotation=20)
        right.set_ylim(bottom=0)
    critic.by_config(axes[0, -1], hist, x_key, list(dict.fromkeys(plotted["config"])))  # was it a game at all
    legend_outside([ax, axes[0, -1]], "configuration")
    fig.tight_layout()
    figures.save(fig, folder, name)
    return plotted


def effects(table: pd.DataFrame, scores: dict[str, tuple[str, str, int]], folder: Path, name: str) -> pd.DataFrame:
    """Forest plot: each claim part's difference a - b with its 95% CI, one panel per score (stacked, each as
    tall as its rows), 0 marked."""
    used = list(dict.fromkeys(table["score"]))
    counts = [int((table["score"] == score).sum()) for score in used]
    fig, axes = plt.subplots(len(used), 1, figsize=(WIDTH, 0.38 * sum(counts) + 0.9 * len(used)), squeeze=False,
                             gridspec_kw={"height_ratios": counts})
    for ax, score in zip(axes.flat, used, strict=True):
        sub = table[table["score"] == score].reset_index(drop=True)
        y = np.arange(len(sub))[::-1]
        ax.errorbar(sub["mean"], y, xerr=[sub["mean"] - sub["low"], sub["high"] - sub["mean"]], fmt="o",
                    color=sns.color_palette(PALETTE)[0], capsize=3)
        ax.axvline(0.0, color="0.3", linewidth=1, linestyle=":")
        ax.set_yticks(y, [f"{c}: {a} - {b}" for c, a, b in zip(sub["claim"], sub["a"], sub["b"], strict=True)])
        ax.set_ylim(-0.6, len(sub) - 0.4)
        label, unit, _ = scores[score]
        ax.set_xlabel(f"{label}{f' ({unit})' if unit else ''}, a - b")
    fig.tight_layout()
    figures.save(fig, folder, name)
    return table
