"""A study's figures: every trial's eval curve coloured by a searched hyper-parameter, the objective against each
hyper-parameter, the importances, the optimisation history and two objectives' Pareto front; finished trials as
dots, pruned ones as crosses."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from reports import figures
from reports.figures import PALETTE, WIDTH, colour_norm, gray_line, legend_outside, log_ticks

PRUNED_ID = "pruned"  # the SVG id of the pruned trials' markers
STATES = {"COMPLETE": "finished", "PRUNED": "pruned (value at the epoch it stopped)"}
MARKERS = {"COMPLETE": "o", "PRUNED": "X"}


def _by_state(ax: plt.Axes, frame: pd.DataFrame, x: str, y: str) -> None:
    """Finished trials as dots, pruned ones as crosses (their value is from the epoch they stopped at, not a
    final one), each state once in the legend; other states (failed, running) are not drawn."""
    palette = sns.color_palette(PALETTE)
    for i, (state, label) in enumerate(STATES.items()):
        sub = frame[frame["state"] == state]
        if len(sub):
            ax.scatter(sub[x], sub[y], s=45 if state == "COMPLETE" else 60, marker=MARKERS[state],
                       color=palette[i], edgecolor="white" if state == "COMPLETE" else "0.1", linewidth=0.6,
                       label=label, zorder=3, gid=PRUNED_ID if state == "PRUNED" else None)


def trial_curves(hist: pd.DataFrame, values: dict[str, float], param: str, log: bool, metric: str,
                 folder: Path, ylabel: str = "", gray: dict[str, float] | None = None,
                 pruned: set[str] = frozenset()) -> pd.DataFrame:
    """Every trial's eval curve, coloured by the value of the varied hyper-parameter (a colour bar); a pruned
    trial's curve ends in a cross where the pruner stopped it; the gray image's value as a dotted line."""
    plotted = hist[hist["metric"] == metric].copy()
    plotted[param] = plotted["run"].map(values)
    plotted = plotted.dropna(subset=[param]).reset_index(drop=True)
    plotted["pruned"] = plotted["run"].isin(pruned)
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    low, high = float(plotted[param].min()), float(plotted[param].max())
    norm = colour_norm(low, high, log)
    cmap = sns.color_palette("viridis", as_cmap=True)
    for run, sub in plotted.groupby("run", sort=False):
        colour = cmap(norm(sub[param].iloc[0]))
        ax.plot(sub["step"], sub["value"], marker="o", markersize=4, color=colour)
        if run in pruned:
            ax.scatter(sub["step"].iloc[-1:], sub["value"].iloc[-1:], marker=MARKERS["PRUNED"], s=80, color=colour,
                       edgecolor="0.1", linewidth=0.8, zorder=3, gid=PRUNED_ID,
                       label="pruned trial: stopped here" if not ax.collections else None)
    gray_line(ax, gray or {}, "eval split")
    label = param + (" (log)" if log else "")
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=label)
    if log:
        log_ticks(bar.ax.yaxis, low, high)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or metric)
    ax.set_title(f"every trial's {ylabel or metric} on the eval split, coloured by {param}", fontsize=10)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    figures.save(fig, folder, f"trial_curves_{param}")
    return plotted


def objective_vs_params(trials: pd.DataFrame, params: dict[str, bool], objective: str, folder: Path,
                        ylabel: str = "", gray: dict[str, float] | None = None) -> pd.DataFrame:
    """The objective against each varied hyper-parameter (log x axis where the search was log): finished trials
    as dots, pruned ones as crosses at the value they stopped with; the gray image's value as a dotted line."""
    trials = trials[trials["state"].isin(list(STATES))]
    fig, axes = plt.subplots(1, len(params), figsize=(WIDTH, 3.2), sharey=True, squeeze=False)
    for ax, (param, log) in zip(axes[0], params.items(), strict=True):
        _by_state(ax, trials, param, objective)
        gray_line(ax, gray or {}, "eval split")
        if log:
            ax.set_xscale("log")
            log_ticks(ax.xaxis, float(trials[param].min()), float(trials[param].max()))
        ax.set_title(param)
        ax.set_xlabel(param + (" (log)" if log else ""))
    axes[0][0].set_ylabel(ylabel or objective)
    fig.suptitle(f"{ylabel or objective} on the eval split against each hyper-parameter", fontsize=10)
    legend_outside(axes[0], "trial")
    fig.tight_layout()
    figures.save(fig, folder, "objective_vs_params")
    return trials[[*params, objective, "state"]]


def importances(values: dict[str, float], folder: Path) -> pd.DataFrame:
    plotted = pd.DataFrame({"parameter": list(values), "importance": list(values.values())})
    fig, ax = plt.subplots(figsize=(WIDTH * 0.7, 1.4 + 0.4 * len(plotted)))
    sns.barplot(plotted, x="importance", y="parameter", ax=ax, color=sns.color_palette(PALETTE)[0])
    ax.set_xlim(0, 1)
    ax.set_xlabel("importance (share of the objective's variance, fANOVA)")
    ax.set_ylabel("")
    ax.set_title("hyper-parameter importance, finished trials, eval split", fontsize=10)
    fig.tight_layout()
    figures.save(fig, folder, "importances")
    return plotted


def history(trials: pd.DataFrame, objective: str, maximize: bool, folder: Path, ylabel: str = "",
            gray: dict[str, float] | None = None) -> pd.DataFrame:
    """Objective per trial (pruned ones as crosses at their last reported value) and the best finished trial so
    far; the gray image's value as a dotted line."""
    plotted = trials[["number", "state", objective]].dropna()
    plotted = plotted[plotted["state"].isin(list(STATES))].sort_values("number").reset_index(drop=True)
    complete = plotted[objective].where(plotted["state"] == "COMPLETE")
    plotted["best so far"] = (complete.cummax() if maximize else complete.cummin()).ffill()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    _by_state(ax, plotted, "number", objective)
    ax.step(plotted["number"], plotted["best so far"], where="post", color="0.3", label="best finished so far")
    gray_line(ax, gray or {}, "eval split")
    ax.set_xlabel("trial")
    ax.set_ylabel(ylabel or objective)
    ax.set_title(f"optimisation history: {ylabel or objective} on the eval split", fontsize=10)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    legend_outside(ax, "")
    fig.tight_layout()
    figures.save(fig, folder, "history")
    return plotted


def pareto(trials: pd.DataFrame, objectives: list[str], front: list[int], folder: Path,
           labels: list[str] | None = None, gray: dict[str, dict[str, float]] | None = None) -> pd.DataFrame:
    """Two objectives of the finished trials, the Pareto front highlighted; a gray-image line on each axis whose
    objective the gray image has a value for."""
    labels = labels or objectives
    plotted = trials[trials["state"] == "COMPLETE"][["number", *objectives]].dropna().copy()
    plotted["Pareto front"] = plotted["number"].isin(front)
    fig, ax = plt.subplots(figsize=(WIDTH * 0.8, 4))
    sns.scatterplot(plotted, x=objectives[0], y=objectives[1], hue="Pareto front", hue_order=[False, True], ax=ax,
                    s=60)
    for i, objective in enumerate(objectives):
        gray_line(ax, (gray or {}).get(objective, {}), "eval split", "dB" if "dB" in labels[i] else "",
                  vertical=i == 0)
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_title("two objectives on the eval split: the Pareto front", fontsize=10)
    legend_outside(ax, "")
    fig.tight_layout()
    figures.save(fig, folder, "pareto")
    return plotted
