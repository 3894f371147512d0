"""What every figure of a report shares: one seaborn style, saving as PNG (300 dpi) and SVG byte-for-byte
reproducibly, and the marks several figures draw (the gray image's line, a legend outside, log ticks, colour scales).

The figures themselves are drawn by curve_figures (per epoch and within epochs), study_figures (a study's trials),
sample_figures (the evaluations' sample grid and per-class bars) and claim_figures (a claims file's figures). Each
drawing function takes plain pandas tables (already read from MLflow / Optuna), draws, saves through ``save`` here,
and returns the table it plotted, so tests can compare the plotted points with the store.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.colors import LogNorm, Normalize  # noqa: E402

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


def legend_outside(axes, title: str) -> None:
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


def colour_norm(low: float, high: float, log: bool) -> Normalize:
    """A colour scale over [low, high]: logarithmic where the search was (and the values allow it)."""
    if log and low > 0 and high > low:
        return LogNorm(low, high)
    return Normalize(low, high if high > low else low + 1)
