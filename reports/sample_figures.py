"""The evaluations' figures: the sample grid (gray input | each model and baseline | original on the same fixed
images, each row named by its class), cut from each evaluation's logged grid by the layout logged with it, and the
per-class bars with their 95% intervals."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from reports import figures
from reports.declared import Declared
from reports.figures import GRAY_ID, GRAY_STYLE, PALETTE, WIDTH, legend_outside
from reports.source import Evaluated

# The fallback for an evaluation logged before colorgan logged its grid's layout (info.json "sample_grid") only: its
# grid then had these columns, left to right, of square tiles of the evaluation's image_size.
COLUMNS_BEFORE = ("gray", "prediction", "original")


def grid_layout(evaluated: Evaluated) -> dict:
    """The layout of an evaluation's sample grid as colorgan logged it with the grid: rows, columns and their names,
    tile height and width, border (pixels)."""
    if evaluated.info.get("sample_grid"):
        return evaluated.info["sample_grid"]
    # Fallback, for an evaluation logged before its layout was: inferred from the grid's pixel size and the logged
    # image_size (square tiles, three columns); the border is what the width leaves.
    grid, side = evaluated.samples, int(evaluated.info["image_size"])
    border = (grid.shape[1] - len(COLUMNS_BEFORE) * side) // (len(COLUMNS_BEFORE) + 1)
    return {"rows": (grid.shape[0] - border) // (side + border), "columns": len(COLUMNS_BEFORE),
            "names": list(COLUMNS_BEFORE), "tile_height": side, "tile_width": side, "border": border}


def tiles(grid: np.ndarray, layout: dict, column: str) -> np.ndarray:
    """The tiles [rows, H, W, 3] of the column named ``column`` (gray, prediction, original) of a colorgan sample
    grid, cut where ``layout`` (grid_layout) says they are."""
    border, h, w = int(layout["border"]), int(layout["tile_height"]), int(layout["tile_width"])
    x = border + list(layout["names"]).index(column) * (w + border)
    return np.stack([grid[border + r * (h + border):][:h, x:x + w] for r in range(int(layout["rows"]))])


def sample_columns(evaluations: list[Evaluated]) -> list[tuple[str, np.ndarray]]:
    """The sample figure's labelled columns: the first evaluation's gray input, each entry's prediction (the gray
    baseline's is the input again, left out) and the first's original."""
    first = evaluations[0]
    layout = grid_layout(first)
    return ([("gray input", tiles(first.samples, layout, "gray"))]
            + [(ev.entry.label, tiles(ev.samples, grid_layout(ev), "prediction"))
               for ev in evaluations if ev.entry.label != "gray"]
            + [("original", tiles(first.samples, layout, "original"))])


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
    figures.save(fig, folder, "samples")
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
    legend_outside(axes, "model / baseline")
    fig.tight_layout()
    figures.save(fig, folder, "per_class")
    return plotted
