"""The curve figures: each run's losses and scores per epoch (``curves``: losses, quality) with the boundary of its
GAN phase, and within epochs (``epoch_curves``: loss_curves, score_curves) against the fractional epoch, train
solid and the eval split's fixed subset dashed, coloured by run or by a searched hyper-parameter."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm, Normalize

from reports import critic, figures
from reports.declared import GAIN_SUFFIX, Declared
from reports.figures import PALETTE, WIDTH, colour_norm, gray_line, legend_outside, log_ticks


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
    legend_outside(axes.flat[:len(panels)], "run")
    fig.tight_layout()
    figures.save(fig, folder, name)
    return plotted


def phase_boundaries(hist: pd.DataFrame) -> dict[str, float]:
    """Run -> x of the line between its last generator pre-training epoch (phase 0) and its first GAN epoch
    (phase 1); runs without both phases have none."""
    out = {}
    phases = hist[hist["metric"] == PHASE_KEY]
    for run, sub in phases.groupby("run", sort=False):
        pre, gan = sub.loc[sub["value"] == 0, "step"], sub.loc[sub["value"] == 1, "step"]
        if len(pre) and len(gan):
            out[run] = (pre.max() + gan.min()) / 2.0
    return out


PHASE_KEY = "phase"  # colorgan logs 0 for a generator pre-training epoch, 1 for a GAN epoch
# What a loss colorgan graphs (Declared.plots "losses", "loss_curves") is called on its panel: (title, y label). A
# loss not named here is titled by its name.
LOSS_LABELS = {"g_total": ("generator total loss", "generator loss (GAN + λ·L1)"),
               "d_loss": ("discriminator loss", "discriminator loss"),
               "g_gan": ("G adversarial loss", "BCE (fakes as real)"),
               "g_recon": ("G L1 term", "L1 (unweighted)"),
               "d_loss_real": ("D loss on real patches", "BCE"),
               "d_loss_fake": ("D loss on generated patches", "BCE")}
SPLITS = ("train", "eval")  # each loss of the per-epoch figure on the train split, then the eval split


def loss_panels(declared: Declared) -> list[tuple[str, str, str]]:
    """The per-epoch loss figure's panels (key, title, y label): each loss colorgan graphs on the train split and
    the eval split, a row each, and last, beside them, the critic's held-out AUC."""
    panels = []
    for name in declared.plots("losses"):
        title, ylabel = LOSS_LABELS.get(name, (name, name))
        panels += [(f"{split}/{name}", f"{title}, {split} split", ylabel) for split in SPLITS]
    return [*panels, critic.EPOCH_PANEL]  # whether the discriminator the losses come from learned anything


def quality_keys(declared: Declared) -> list[str]:
    """The keys of the per-epoch quality figure's panels: each figure colorgan graphs, on the eval split."""
    return [f"eval/{name}" for name in declared.plots("quality")]


def epoch_keys(declared: Declared) -> tuple[str, ...]:
    """Every per-epoch key the losses and quality figures read from each run (their panels, the critic's interval
    and the phase)."""
    return tuple(dict.fromkeys([*(k for k, _, _ in loss_panels(declared)), *critic.EPOCH_KEYS,
                                *quality_keys(declared), PHASE_KEY]))


def losses(hist: pd.DataFrame, folder: Path, declared: Declared | None = None) -> pd.DataFrame:
    return curves(hist, loss_panels(declared or Declared()), folder, "losses", decorate={critic.AUC: critic.interval})


def quality(hist: pd.DataFrame, folder: Path, gray: dict[str, dict[str, float]] | None = None,
            declared: Declared | None = None) -> pd.DataFrame:
    """The eval split's figures colorgan graphs (PSNR, colourfulness) per epoch, labelled as ``declared``; ``gray``:
    panel key -> run -> the gray image's figure, drawn as a reference line."""
    declared = declared or Declared()
    panels = [(key, f"{declared.name(key)}, eval split", declared.label(key)) for key in quality_keys(declared)]
    return curves(hist, panels, folder, "quality", ncols=2, sharey=False, gray=gray or {})


CURVE_EPOCH = "curve/epoch"  # the fractional epoch of each within-epoch point (colorgan logs it): the x of its curves
SPLIT_STYLE = {"train": "-", "eval": "--"}  # train solid, the eval split's fixed subset dashed, in the run's colour


def loss_curve_panels(declared: Declared) -> tuple[tuple[str, str, str], ...]:
    """The within-epoch loss figure's panels (name, title, y label): each loss colorgan graphs, and beside them the
    critic's held-out AUC."""
    return (*((name, *LOSS_LABELS.get(name, (name, name))) for name in declared.plots("loss_curves")), critic.PANEL)


def curve_keys(logged: set[str], names: tuple[str, ...]) -> tuple[str, ...]:
    """The keys of ``logged`` (what the runs logged) the panels of these curve names draw (curve/SPLIT/NAME), and
    their x, CURVE_EPOCH."""
    return (*sorted(k for k in logged if k.startswith("curve/") and k.count("/") == 2
                    and k.rsplit("/", 1)[1] in names), CURVE_EPOCH)


def score_panels(declared: Declared) -> tuple[tuple[str, str, str], ...]:
    """The figures colorgan graphs within epochs as panels (name, title, y label): the declared label, "(higher is
    better)" where declared so, and the label with its unit."""
    return tuple((n, declared.name(n) + (f" ({declared.better(n)} is better)" if declared.better(n) else ""),
                  declared.label(n)) for n in declared.plots("score_curves"))


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


def _run_colours(values: dict[str, float | str], log: bool) -> tuple[dict, Normalize | None, dict]:
    """(run -> colour, the norm of a viridis colour bar or None, value -> colour for a legend): numeric values get
    the colour bar (as trial_curves), anything else one palette colour per distinct value, in first-seen order."""
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values.values()):
        norm = colour_norm(float(min(values.values())), float(max(values.values())), log)
        cmap = sns.color_palette("viridis", as_cmap=True)
        return {run: cmap(norm(v)) for run, v in values.items()}, norm, {}
    levels = list(dict.fromkeys(values.values()))
    palette = dict(zip(levels, sns.color_palette(PALETTE, len(levels)), strict=True))
    return {run: palette[v] for run, v in values.items()}, None, palette


def _gan_starts(hist: pd.DataFrame) -> dict[str, float]:
    """Run -> the fractional epoch its GAN phase began (the end of its last pre-training epoch), from the per-epoch
    ``phase`` metric (step = epoch number); runs without both phases have none."""
    out = {}
    for run, sub in hist[hist["metric"] == PHASE_KEY].groupby("run", sort=False):
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
    figures.save(fig, folder, name)
    return plotted


def loss_curves(hist: pd.DataFrame, folder: Path, name: str = "loss_curves",
                colour_by: dict[str, float | str] | None = None, key: str = "run", log: bool = False,
                eval_images: int | None = None, declared: Declared | None = None) -> pd.DataFrame:
    """The original report's loss-vs-epoch graphs, several points per epoch: the losses colorgan graphs (the
    generator's adversarial loss and L1 term, the discriminator's loss on real and on generated patches), and beside
    them the critic's AUC on the eval subset with its chance line, which says whether those losses come from a game
    (epoch_curves draws them)."""
    title = f"losses within epochs, train and eval split, coloured by {key}"
    return epoch_curves(hist, loss_curve_panels(declared or Declared()), folder, name, colour_by, key, log,
                        eval_images, title, decorate={critic.CURVE_NAME: critic.chance})


def score_curves(hist: pd.DataFrame, folder: Path, name: str = "score_curves",
                 colour_by: dict[str, float | str] | None = None, key: str = "run", log: bool = False,
                 eval_images: int | None = None, declared: Declared | None = None) -> pd.DataFrame:
    """The fixed eval subset's scores colorgan graphs at each curve point (PSNR gain over the gray image,
    rebalanced colour AuC, colourfulness gap); a gain's gray-image line is 0 by definition (epoch_curves draws
    them)."""
    title = f"scores within epochs on the eval split's fixed subset, coloured by {key}"
    panels = score_panels(declared or Declared())
    return epoch_curves(hist, panels, folder, name, colour_by, key, log, eval_images, title,
                        gray={n: 0.0 for n, _, _ in panels if n.endswith(GAIN_SUFFIX)})
