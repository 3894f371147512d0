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

from reports import critic  # noqa: E402
from reports.declared import Declared  # noqa: E402

DPI = 300
PALETTE = "colorblind"
WIDTH = 7.0  # inches: a page width


def use_style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=1.1)
    plt.rcParams.update({"svg.hashsalt": "colorgan-report", "savefig.bbox": "tight", "savefig.pad_inches": 0.1,
                         "axes.titleweight": "bold", "legend.frameon": True,
                         "svg.fonttype": "none"})  # SVG text stays text: searchable, selectable, smaller


def save(fig: plt.Figure, folder: Path, name: str) -> list[Path]:
    """PNG + SVG with no timestamps or version strings, so the same data gives the same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    png, svg = folder / f"{name}.png", folder / f"{name}.svg"
    fig.savefig(png, dpi=DPI, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return [png, svg]


GRAY_STYLE = {"color": "0.2", "linestyle": ":", "linewidth": 1.8}
GRAY_ID = "gray-image"  # the SVG id of every gray-image line (tests find them by it)
PRUNED_ID = "pruned"  # the SVG id of the pruned trials' markers
STATES = {"COMPLETE": "finished", "PRUNED": "pruned (value at the epoch it stopped)"}
MARKERS = {"COMPLETE": "o", "PRUNED": "X"}


def _legend_outside(axes, title: str) -> None:
    """One legend right of the figure, gathering every labelled artist of ``axes`` (one or several), once."""
    axes = [axes] if isinstance(axes, plt.Axes) else list(axes)
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    if entries:
        axes[0].figure.legend(list(entries.values()), list(entries), title=title, loc="center left",
                              bbox_to_anchor=(1.0, 0.5))


def gray_line(ax: plt.Axes, values: dict[str, float], where: str, unit: str = "dB", vertical: bool = False,
              colours: dict | None = None) -> None:
    """The gray image's figure (the input itself, no colour added) as a dotted reference line labelled
    "gray image": one line when every run has the same value (same split), else one per run in its colour."""
    if not values:
        return
    draw = ax.axvline if vertical else ax.axhline
    distinct = sorted({round(v, 6) for v in values.values()})
    if len(distinct) == 1:
        draw(distinct[0], **GRAY_STYLE, label=f"gray image, {where}: {distinct[0]:.2f} {unit}", gid=GRAY_ID)
        return
    for i, (run, value) in enumerate(values.items()):
        draw(value, **{**GRAY_STYLE, "color": (colours or {}).get(run, GRAY_STYLE["color"])},
             label=f"gray image, {where}, each run's" if i == 0 else None, gid=f"{GRAY_ID}-{i}")


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


def curves(hist: pd.DataFrame, panels: list[tuple[str, str, str]], folder: Path, name: str, ncols: int = 2,
           sharey: bool = True, gray: dict[str, dict[str, float]] | None = None,
           decorate: dict | None = None) -> pd.DataFrame:
    """Runs overlaid per panel (key, title, y label: metric vs epoch), panels laid out ``ncols`` wide; with
    ``sharey`` each row shares its y axis (train vs eval of one loss), else every panel has its own. ``gray``:
    panel key -> run -> the gray image's value there, drawn as a reference line. ``decorate``: panel key ->
    ``f(ax, hist, run colours)``, what a panel draws besides its lines (the critic's interval and chance line)."""
    keys = [k for k, _, _ in panels]
    plotted = hist[hist["metric"].isin(keys)].reset_index(drop=True)
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.8 * nrows), sharex=True, sharey="row" if sharey else False,
                             squeeze=False)
    runs = list(dict.fromkeys(plotted["run"]))
    colours = dict(zip(runs, sns.color_palette(PALETTE, len(runs)), strict=True))
    for i, (ax, (key, title, ylabel)) in enumerate(zip(axes.flat, panels, strict=False)):
        sub = plotted[plotted["metric"] == key]
        if len(sub):
            sns.lineplot(sub, x="step", y="value", hue="run", hue_order=runs, palette=colours, marker="o", ax=ax,
                         legend=ax is axes.flat[0])
        else:
            ax.text(0.5, 0.5, f"{key}: not logged", ha="center", va="center", transform=ax.transAxes)
        if gray and key in gray:
            gray_line(ax, gray[key], "eval split", colours=colours)
        if decorate and key in decorate:
            decorate[key](ax, hist, colours)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel if not sharey or i % ncols == 0 else "")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    if len(plotted):
        axes.flat[0].xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    for run, step in phase_boundaries(hist).items():
        for ax in axes.flat[:len(panels)]:
            ax.axvline(step, color=colours.get(run, "grey"), linestyle="--", linewidth=1,
                       label="GAN phase starts" if ax is axes.flat[0] and run == runs[0] else None)
    _legend_outside(axes.flat[:len(panels)], "run")
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
    panels = [("train/g_total", "generator total loss, train split", "generator loss (GAN + λ·L1)"),
              ("eval/g_total", "generator total loss, eval split", "generator loss (GAN + λ·L1)"),
              ("train/d_loss", "discriminator loss, train split", "discriminator loss"),
              ("eval/d_loss", "discriminator loss, eval split", "discriminator loss"),
              critic.EPOCH_PANEL]  # beside the losses: whether the discriminator they come from learned anything
    return curves(hist, panels, folder, "losses", decorate={critic.AUC: critic.interval})


def quality(hist: pd.DataFrame, folder: Path, gray: dict[str, float] | None = None,
            declared: Declared | None = None) -> pd.DataFrame:
    """Eval-split PSNR (with the gray image's) and colourfulness per epoch, labelled as ``declared``."""
    declared = declared or Declared()
    panels = [(key, f"{declared.name(key)}, eval split", declared.label(key))
              for key in ("eval/psnr", "eval/colorfulness")]
    return curves(hist, panels, folder, "quality", ncols=2, sharey=False, gray={"eval/psnr": gray or {}})


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
    norm = _norm(low, high, log)
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
    save(fig, folder, f"trial_curves_{param}")
    return plotted


CURVE_EPOCH = "curve/epoch"  # the fractional epoch of each within-epoch point (colorgan logs it): the x of its curves
SPLIT_STYLE = {"train": "-", "eval": "--"}  # train solid, the eval split's fixed subset dashed, in the run's colour
LOSS_CURVES = (("g_gan", "G adversarial loss", "BCE (fakes as real)"),
               ("g_recon", "G L1 term", "L1 (unweighted)"),
               ("d_loss_real", "D loss on real patches", "BCE"),
               ("d_loss_fake", "D loss on generated patches", "BCE"))
LOSS_PANELS = (*LOSS_CURVES, critic.PANEL)  # the loss graphs and, beside them, the critic's held-out AUC
SCORE_CURVES = ("psnr_gain", "color_auc_rebal", "colorfulness_gap")  # titled and labelled as colorgan declared them


def curve_keys(names: tuple[str, ...]) -> tuple[str, ...]:
    """The MLflow keys the panels of these curve names may draw (curve/train/NAME, curve/eval/NAME) and their x,
    CURVE_EPOCH."""
    return tuple(f"curve/{split}/{n}" for n in names for split in SPLIT_STYLE) + (CURVE_EPOCH,)


def score_panels(declared: Declared) -> tuple[tuple[str, str, str], ...]:
    """SCORE_CURVES as panels (name, title, y label): the declared label, "(higher is better)" where declared so,
    and the label with its unit."""
    return tuple((n, declared.name(n) + (f" ({declared.better(n)} is better)" if declared.better(n) else ""),
                  declared.label(n)) for n in SCORE_CURVES)


def curve_points(hist: pd.DataFrame) -> pd.DataFrame:
    """The curve/SPLIT/NAME points of a history with their fractional epoch joined on (run, step), the step being
    the global batch number: columns run, metric, split, name, step, epoch, value. A point with no epoch has no x
    and is left out."""
    epochs = hist.loc[hist["metric"] == CURVE_EPOCH, ["run", "step", "value"]].rename(columns={"value": "epoch"})
    epochs = epochs.drop_duplicates(["run", "step"])  # one x per point, however often its key was read
    points = hist[hist["metric"].str.startswith("curve/") & (hist["metric"] != CURVE_EPOCH)]
    points = points.merge(epochs, on=["run", "step"], how="inner")
    parts = points["metric"].str.split("/")
    points.insert(2, "split", parts.str[1])
    points.insert(3, "name", parts.str[2])
    return points[["run", "metric", "split", "name", "step", "epoch", "value"]].reset_index(drop=True)


def _norm(low: float, high: float, log: bool) -> Normalize:
    """A colour scale over [low, high]: logarithmic where the search was (and the values allow it)."""
    if log and low > 0 and high > low:
        return LogNorm(low, high)
    return Normalize(low, high if high > low else low + 1)


def _run_colours(values: dict[str, float | str], log: bool) -> tuple[dict, Normalize | None, dict]:
    """(run -> colour, the norm of a viridis colour bar or None, value -> colour for a legend): numeric values get
    the colour bar (as trial_curves), anything else one palette colour per distinct value, in first-seen order."""
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()):
        norm = _norm(float(min(values.values())), float(max(values.values())), log)
        cmap = sns.color_palette("viridis", as_cmap=True)
        return {run: cmap(norm(v)) for run, v in values.items()}, norm, {}
    levels = list(dict.fromkeys(values.values()))
    palette = dict(zip(levels, sns.color_palette(PALETTE, len(levels)), strict=True))
    return {run: palette[v] for run, v in values.items()}, None, palette


def _gan_starts(hist: pd.DataFrame) -> dict[str, float]:
    """Run -> the fractional epoch its GAN phase began (the end of its last pre-training epoch), from the per-epoch
    ``phase`` metric (step = epoch number); runs without both phases have none."""
    out = {}
    for run, sub in hist[hist["metric"] == "phase"].groupby("run", sort=False):
        pre, gan = sub.loc[sub["value"] == 0, "step"], sub.loc[sub["value"] == 1, "step"]
        if len(pre) and len(gan):
            out[run] = float(pre.max())
    return out


def epoch_curves(hist: pd.DataFrame, panels: tuple[tuple[str, str, str], ...], folder: Path, name: str,
                 colour_by: dict[str, float | str] | None = None, key: str = "run", log: bool = False,
                 eval_images: int | None = None, title: str = "", gray: dict[str, float] | None = None,
                 decorate: dict | None = None) -> pd.DataFrame:
    """The within-epoch curve points of each panel (name, title, y label) against the fractional epoch: each run
    one line, train solid and the eval split's fixed subset dashed in the same colour, so runs compare on one axis
    as in the original report's graphs. ``colour_by`` (run -> value of ``key``; runs not in it are left out)
    colours by a hyper-parameter: a colour bar if numeric (log where ``log``), else a palette; by default each run
    its own colour. A panel no run logged says so; ``gray`` (panel name -> value) draws the gray image's line;
    ``decorate`` (panel name -> ``f(ax, hist, run colours)``) what else a panel draws (the critic's chance line)."""
    points = curve_points(hist)
    plotted = points[points["name"].isin([n for n, _, _ in panels])]
    values = colour_by if colour_by is not None else {run: run for run in dict.fromkeys(plotted["run"])}
    plotted = plotted[plotted["run"].isin(values)].copy()
    plotted[key] = plotted["run"].map(values)
    plotted = plotted.reset_index(drop=True)
    colours, norm, levels = _run_colours({run: values[run] for run in dict.fromkeys(plotted["run"])}, log)
    ncols = min(len(panels), 2)
    nrows = int(np.ceil(len(panels) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH * 1.15, 2.5 * nrows + 1.0), sharex=True, squeeze=False,
                             layout="constrained")
    starts = _gan_starts(hist)
    for ax, (panel, panel_title, ylabel) in zip(axes.flat, panels, strict=False):
        sub = plotted[plotted["name"] == panel]
        for (run, split), line in sub.groupby(["run", "split"], sort=False):
            ax.plot(line["epoch"], line["value"], linestyle=SPLIT_STYLE.get(split, ":"), color=colours[run],
                    marker="o", markersize=2.5, linewidth=1.2)
        if not len(sub):
            ax.text(0.5, 0.5, f"curve/train|eval/{panel}:\nnot logged", ha="center", va="center",
                    transform=ax.transAxes)
        if gray and panel in gray:
            gray_line(ax, {"all": gray[panel]}, "eval split")
        if decorate and panel in decorate:
            decorate[panel](ax, hist, colours)
        for i, (run, x) in enumerate((r, x) for r, x in starts.items() if r in colours):
            ax.axvline(x, color=colours[run], linestyle="-.", linewidth=0.9,
                       label="GAN phase starts" if i == 0 else None)
        ax.set_title(panel_title, fontsize=9)
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    shown = list(axes.flat)[:len(panels)]
    for ax in shown[-ncols:]:  # the lowest panel of each column: its x axis is labelled
        ax.set_xlabel("epoch")
        ax.tick_params(labelbottom=True)
    subset = f"the same {eval_images} images at every point" if eval_images else "a fixed subset"
    splits = {"train": "train split: mean over the batches since the previous point",
              "eval": f"eval split, {subset} (inference mode)"}
    handles = {label: matplotlib.lines.Line2D([], [], color="0.25", linestyle=SPLIT_STYLE[split], marker="o",
                                              markersize=2.5) for split, label in splits.items()
               if split in set(plotted["split"])}
    for ax in shown:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncol=2, fontsize=8)
    if norm is not None:
        bar = fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=sns.color_palette("viridis", as_cmap=True)),
                           ax=shown, label=key + (" (log)" if isinstance(norm, LogNorm) else ""))
        if isinstance(norm, LogNorm):
            log_ticks(bar.ax.yaxis, float(norm.vmin), float(norm.vmax))
    elif levels:
        fig.legend([matplotlib.lines.Line2D([], [], color=c, linewidth=2) for c in levels.values()],
                   [str(v) for v in levels], title=key, loc="outside right center", fontsize=8)
    fig.suptitle(title or f"within-epoch curves, train and eval split, coloured by {key}", fontsize=10)
    save(fig, folder, name)
    return plotted


def loss_curves(hist: pd.DataFrame, folder: Path, name: str = "loss_curves",
                colour_by: dict[str, float | str] | None = None, key: str = "run", log: bool = False,
                eval_images: int | None = None) -> pd.DataFrame:
    """The original report's loss-vs-epoch graphs, several points per epoch: the generator's adversarial loss and
    L1 term, the discriminator's loss on real and on generated patches, and beside them the critic's AUC on the
    eval subset with its chance line, which says whether those losses come from a game (epoch_curves draws them)."""
    title = f"losses within epochs, train and eval split, coloured by {key}"
    return epoch_curves(hist, LOSS_PANELS, folder, name, colour_by, key, log, eval_images, title,
                        decorate={critic.CURVE_NAME: critic.chance})


def score_curves(hist: pd.DataFrame, folder: Path, name: str = "score_curves",
                 colour_by: dict[str, float | str] | None = None, key: str = "run", log: bool = False,
                 eval_images: int | None = None, declared: Declared | None = None) -> pd.DataFrame:
    """The fixed eval subset's scores at each curve point: PSNR gain over the gray image (whose line is 0 by
    definition), rebalanced colour AuC and colourfulness gap (epoch_curves draws them)."""
    title = f"scores within epochs on the eval split's fixed subset, coloured by {key}"
    return epoch_curves(hist, score_panels(declared or Declared()), folder, name, colour_by, key, log, eval_images,
                        title, gray={"psnr_gain": 0.0})


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
    _legend_outside(axes[0], "trial")
    fig.tight_layout()
    save(fig, folder, "objective_vs_params")
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
    save(fig, folder, "importances")
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
    _legend_outside(ax, "")
    fig.tight_layout()
    save(fig, folder, "history")
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
    _legend_outside(ax, "")
    fig.tight_layout()
    save(fig, folder, "pareto")
    return plotted


def sample_grid(columns: list[tuple[str, np.ndarray]], folder: Path, classes: list[str] | None = None,
                title: str = "") -> pd.DataFrame:
    """Tiles [N, S, S, 3] per labelled column (gray | models and baselines | original) on the evaluation's fixed
    images; each row labelled with its class (``classes``, top down)."""
    rows = min(len(tiles) for _, tiles in columns)
    classes = list(classes or [""] * rows)[:rows]
    fig, axes = plt.subplots(rows, len(columns), figsize=(1.1 * len(columns) + 0.6, 1.1 * rows + 0.8), squeeze=False)
    for c, (label, tiles) in enumerate(columns):
        for r in range(rows):
            ax = axes[r, c]
            ax.imshow(tiles[r], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(label, fontsize=7, rotation=30, ha="left", loc="left")
            if c == 0:
                ax.set_ylabel(classes[r], fontsize=7, rotation=0, ha="right", va="center")
    fig.subplots_adjust(wspace=0.04, hspace=0.04)
    if title:  # under the grid: above it are the rotated column labels
        fig.text(0.5, axes[-1, 0].get_position().y0 - 0.01, title, ha="center", va="top", fontsize=8)
    save(fig, folder, "samples")
    return pd.DataFrame({"row": range(rows), "class": classes})


def per_class(plotted: pd.DataFrame, folder: Path, where: str, gray: str | None = "gray",
              declared: Declared | None = None) -> pd.DataFrame:
    """PSNR pooled (with its 95% interval, psnr_lo..psnr_hi) and colourfulness gap (± colorfulness_gap_ci95) per
    class, one bar per model and baseline; the PSNR axis spans the data, not 0. The ``gray`` entry is drawn as a
    dotted reference line across each class instead of a bar."""
    fig, axes = plt.subplots(1, 2, figsize=(WIDTH * 1.3, 3.8), sharey=False)
    classes = list(dict.fromkeys(plotted["group"]))
    bars = [label for label in dict.fromkeys(plotted["label"]) if label != gray]
    colours = dict(zip(bars, sns.color_palette(PALETTE, len(bars)), strict=True))
    width = 0.8 / max(len(bars), 1)
    declared = declared or Declared()
    panels = [(col, declared.label(col), f"{declared.better(col)} is better" if declared.better(col) else "")
              for col in ("psnr", "colorfulness_gap")]
    for ax, (col, ylabel, better) in zip(axes, panels, strict=True):
        lo, hi = ((plotted["psnr_lo"], plotted["psnr_hi"]) if col == "psnr" else
                  (plotted[col] - plotted[f"{col}_ci95"], plotted[col] + plotted[f"{col}_ci95"]))
        for i, label in enumerate(bars):
            sub = plotted["label"] == label
            x = np.array([classes.index(g) for g in plotted.loc[sub, "group"]]) - 0.4 + width * (i + 0.5)
            value = plotted.loc[sub, col].to_numpy()
            err = np.vstack([value - lo[sub].to_numpy(), hi[sub].to_numpy() - value])
            ax.bar(x, value, width, color=colours[label], label=label)
            ax.errorbar(x, value, yerr=np.nan_to_num(err), fmt="none", ecolor="0.15", elinewidth=0.9, capsize=2,
                        label="95% interval" if i == 0 else None)
        reference = plotted[plotted["label"] == gray]
        for n, (_, row) in enumerate(reference.iterrows()):
            c = classes.index(row["group"])
            ax.hlines(row[col], c - 0.45, c + 0.45, **GRAY_STYLE, gid=f"{GRAY_ID}-{n}",
                      label=f"gray image, {where}" if n == 0 else None)
        if col == "psnr":
            low, high = min(lo.min(), plotted[col].min()), max(hi.max(), plotted[col].max())
            pad = max(0.5, 0.08 * (high - low))
            ax.set_ylim(np.floor(low - pad), np.ceil(high + pad))  # not from 0: the differences are a few dB
        else:
            ax.set_ylim(bottom=0)  # a gap is never negative, even where a small class's interval reaches below 0
        ax.set_xticks(range(len(classes)), classes, rotation=30)
        ax.set_title(f"{declared.name(col)}, {where}" + (f" ({better})" if better else ""), fontsize=10)
        ax.set_xlabel("class")
        ax.set_ylabel(ylabel)
    _legend_outside(axes, "model / baseline")
    fig.tight_layout()
    save(fig, folder, "per_class")
    return plotted


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
    _legend_outside([ax, axes[0, -1]], "configuration")
    fig.tight_layout()
    save(fig, folder, name)
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
    save(fig, folder, name)
    return table
