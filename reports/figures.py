"""Every figure of a report, in one seaborn style, saved as PNG (300 dpi) and SVG, byte-for-byte reproducible.

Each function takes plain pandas tables (already read from MLflow / Optuna), draws, saves, and returns the
table it plotted, so tests can compare the plotted points with the store.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402

DPI = 300
PALETTE = "colorblind"
WIDTH = 7.0  # inches: a page width


def use_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=1.1)
    plt.rcParams.update({"svg.hashsalt": "colorgan-report", "savefig.bbox": "tight", "savefig.pad_inches": 0.1,
                         "axes.titleweight": "bold", "legend.frameon": True})


def save(fig: plt.Figure, folder: Path, name: str) -> list[Path]:
    """PNG + SVG with no timestamps or version strings, so the same data gives the same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    png, svg = folder / f"{name}.png", folder / f"{name}.svg"
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return [png, svg]


def _legend_outside(ax: plt.Axes, title: str) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if handles:
        ax.figure.legend(handles, labels, title=title, loc="center left", bbox_to_anchor=(1.0, 0.5))


def _short(v: float) -> str:
    return f"{v:.2g}" if v >= 0.01 else f"{v:.1e}".replace("e-0", "e-").replace(".0e", "e")


def log_ticks(axis, low: float, high: float) -> None:
    """Label a log axis at powers of ten (and 2x, 5x within a decade or less), or at its two ends when the range
    is narrower than that, in short notation: readable, never overlapping minor labels."""
    subs = (1,) if high / low > 10 else (1, 2, 5)
    ticks = [m * 10.0**e for e in range(int(np.floor(np.log10(low))), int(np.ceil(np.log10(high))) + 1)
             for m in subs if low <= m * 10.0**e <= high]
    if len(ticks) < 2:
        ticks = sorted({low, high})
    axis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: _short(v)))
    axis.set_minor_locator(matplotlib.ticker.NullLocator())


def curves(hist: pd.DataFrame, panels: list[tuple[str, str]], ylabel_by_row: list[str], folder: Path, name: str,
           ncols: int = 2, sharey: bool = True) -> pd.DataFrame:
    """Runs overlaid per panel (metric vs epoch), panels laid out ``ncols`` wide; with ``sharey`` each row shares
    its y axis (train vs eval of one loss), else every panel has its own (different quantities)."""
    keys = [k for k, _ in panels]
    plotted = hist[hist["metric"].isin(keys)].reset_index(drop=True)
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.8 * nrows), sharex=True, sharey="row" if sharey else False,
                             squeeze=False)
    runs = list(dict.fromkeys(plotted["run"]))
    colours = dict(zip(runs, sns.color_palette(PALETTE, len(runs)), strict=True))
    for ax, (key, title) in zip(axes.flat, panels, strict=False):
        sub = plotted[plotted["metric"] == key]
        if len(sub):
            sns.lineplot(sub, x="step", y="value", hue="run", hue_order=runs, palette=colours, marker="o", ax=ax,
                         legend=ax is axes.flat[0])
        else:
            ax.text(0.5, 0.5, f"{key}: not logged", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_xlabel("epoch")
    for row, label in enumerate(ylabel_by_row):
        axes[row, 0].set_ylabel(label)
        for ax in axes[row, 1:]:
            ax.set_ylabel("" if sharey else label)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    if len(plotted):
        axes.flat[0].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for run, step in phase_boundaries(hist).items():
        for ax in axes.flat[:len(panels)]:
            ax.axvline(step, color=colours.get(run, "grey"), linestyle="--", linewidth=1,
                       label="GAN phase starts" if ax is axes.flat[0] and run == runs[0] else None)
    _legend_outside(axes.flat[0], "run")
    fig.tight_layout()
    save(fig, folder, name)
    return plotted


def phase_boundaries(hist: pd.DataFrame) -> dict[str, float]:
    """Run -> x of the line between its last generator pre-training epoch (phase 0) and its first GAN epoch
    (phase 1); runs without both phases have none."""
    out = {}
    phases = hist[hist["metric"] == "phase"]
    for run, sub in phases.groupby("run", sort=False):
        pre, gan = sub.loc[sub["value"] == 0, "step"], sub.loc[sub["value"] == 1, "step"]
        if len(pre) and len(gan):
            out[run] = (pre.max() + gan.min()) / 2.0
    return out


def losses(hist: pd.DataFrame, folder: Path) -> pd.DataFrame:
    panels = [("train/g_total", "generator total loss, train"), ("eval/g_total", "generator total loss, eval"),
              ("train/d_loss", "discriminator loss, train"), ("eval/d_loss", "discriminator loss, eval")]
    return curves(hist, panels, ["generator loss (GAN + λ·L1)", "discriminator loss"], folder, "losses")


def quality(hist: pd.DataFrame, folder: Path) -> pd.DataFrame:
    panels = [("eval/psnr", "eval PSNR (pooled), dB"), ("eval/colorfulness", "eval colourfulness")]
    return curves(hist, panels, [""], folder, "quality", ncols=2, sharey=False)


def trial_curves(hist: pd.DataFrame, values: dict[str, float], param: str, log: bool, metric: str,
                 folder: Path) -> pd.DataFrame:
    """Every trial's eval curve, coloured by the value of the varied hyper-parameter (a colour bar)."""
    plotted = hist[hist["metric"] == metric].copy()
    plotted[param] = plotted["run"].map(values)
    plotted = plotted.dropna(subset=[param]).reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6))
    low, high = float(plotted[param].min()), float(plotted[param].max())
    norm = LogNorm(low, high) if log and low > 0 and high > low else Normalize(low, high if high > low else low + 1)
    cmap = sns.color_palette("viridis", as_cmap=True)
    for run, sub in plotted.groupby("run", sort=False):
        ax.plot(sub["step"], sub["value"], marker="o", color=cmap(norm(sub[param].iloc[0])), label=run)
    label = param + (" (log)" if log else "")
    bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=label)
    if log:
        log_ticks(bar.ax.yaxis, low, high)
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.set_title(f"every trial's {metric}, coloured by {param}")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.tight_layout()
    save(fig, folder, f"trial_curves_{param}")
    return plotted


def objective_vs_params(trials: pd.DataFrame, params: dict[str, bool], objective: str, folder: Path) -> pd.DataFrame:
    """The final objective against each varied hyper-parameter; log x axis where the search was log."""
    fig, axes = plt.subplots(1, len(params), figsize=(WIDTH, 3.2), sharey=True, squeeze=False)
    for ax, (param, log) in zip(axes[0], params.items(), strict=True):
        sns.scatterplot(trials, x=param, y=objective, hue="state", ax=ax, s=50, legend=ax is axes[0][0])
        if log:
            ax.set_xscale("log")
            log_ticks(ax.xaxis, float(trials[param].min()), float(trials[param].max()))
        ax.set_title(param)
    _legend_outside(axes[0][0], "trial state")
    fig.tight_layout()
    save(fig, folder, "objective_vs_params")
    return trials[[*params, objective, "state"]]


def importances(values: dict[str, float], folder: Path) -> pd.DataFrame:
    plotted = pd.DataFrame({"parameter": list(values), "importance": list(values.values())})
    fig, ax = plt.subplots(figsize=(WIDTH * 0.7, 1.4 + 0.4 * len(plotted)))
    sns.barplot(plotted, x="importance", y="parameter", ax=ax, color=sns.color_palette(PALETTE)[0])
    ax.set_xlim(0, 1)
    ax.set_ylabel("")
    ax.set_title("hyper-parameter importance (fANOVA)")
    fig.tight_layout()
    save(fig, folder, "importances")
    return plotted


def history(trials: pd.DataFrame, objective: str, maximize: bool, folder: Path) -> pd.DataFrame:
    """Objective per trial (pruned ones at their last reported value) and the best complete trial so far."""
    plotted = trials[["number", "state", objective]].dropna().sort_values("number").reset_index(drop=True)
    complete = plotted[objective].where(plotted["state"] == "COMPLETE")
    plotted["best so far"] = (complete.cummax() if maximize else complete.cummin()).ffill()
    fig, ax = plt.subplots(figsize=(WIDTH, 3.2))
    sns.scatterplot(plotted, x="number", y=objective, hue="state", ax=ax, s=50)
    ax.step(plotted["number"], plotted["best so far"], where="post", color="0.3", label="best so far")
    ax.set_xlabel("trial")
    ax.set_title("optimisation history")
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    _legend_outside(ax, "")
    fig.tight_layout()
    save(fig, folder, "history")
    return plotted


def pareto(trials: pd.DataFrame, objectives: list[str], front: list[int], folder: Path) -> pd.DataFrame:
    plotted = trials[["number", *objectives]].dropna().copy()
    plotted["Pareto front"] = plotted["number"].isin(front)
    fig, ax = plt.subplots(figsize=(WIDTH * 0.8, 4))
    sns.scatterplot(plotted, x=objectives[0], y=objectives[1], hue="Pareto front", hue_order=[False, True], ax=ax,
                    s=60)
    ax.set_title("two objectives: the Pareto front")
    fig.tight_layout()
    save(fig, folder, "pareto")
    return plotted


def sample_grid(columns: list[tuple[str, np.ndarray]], folder: Path) -> pd.DataFrame:
    """Tiles [N, S, S, 3] per labelled column (gray | models and baselines | original), fixed test images."""
    rows = min(len(tiles) for _, tiles in columns)
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.1 * len(columns), 1.1 * rows + 0.5), squeeze=False)
    for c, (label, tiles) in enumerate(columns):
        for r in range(rows):
            ax = axes[r, c]
            ax.imshow(tiles[r], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(label, fontsize=7, rotation=30, ha="left", loc="left")
    fig.subplots_adjust(wspace=0.04, hspace=0.04)
    save(fig, folder, "samples")
    return pd.DataFrame({"column": [label for label, _ in columns], "rows": rows})


def per_class(table: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """PSNR (pooled) and colourfulness gap per class, models and baselines side by side."""
    plotted = table[table["group"] != "all"][["label", "group", "psnr", "colorfulness_gap"]].reset_index(drop=True)
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH * 1.3, 3.6), sharey=False)
    order = list(dict.fromkeys(plotted["label"]))
    for ax, (col, title) in zip(axes, [("psnr", "PSNR (pooled), dB"), ("colorfulness_gap", "colourfulness gap")],
                                strict=True):
        sns.barplot(plotted, x="group", y=col, hue="label", hue_order=order, ax=ax, legend=ax is axes[0])
        ax.set_title(title + (" (higher is better)" if col == "psnr" else " (lower is better)"))
        ax.set_xlabel("class")
        ax.set_ylabel(title)
        ax.tick_params(axis="x", rotation=30)
    _legend_outside(axes[0], "model / baseline")
    fig.tight_layout()
    save(fig, folder, "per_class")
    return plotted
