"""The critic's held-out skill in a report: its panel beside the loss graphs, and what the report says about it.

A GAN phase is a game only when the discriminator (the critic) tells real photos from generated ones. colorgan
scores that on held-out photos as a rank AUC (0.5 = chance) with a 95% interval, and tags each run with a GAN
phase with its verdict: a critic at chance means its gradient told the generator nothing, so that run's GAN phase
answers nothing about the knobs it was run for. A loss curve alone never shows this (a constant critic has a
perfectly smooth loss), hence a panel next to every loss graph and a sentence where the report sums up its runs.

Every MLflow key, tag and Optuna attribute the report reads about the critic is named here, once (KEYS is what
build and claims fetch); the names are colorgan's (scoring.critic, training.curves), which reports never imports.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

AUC, LOW, HIGH, GAP = "eval/critic_auc", "eval/critic_auc_low", "eval/critic_auc_high", "eval/critic_gap"
CURVE_NAME = "critic_auc"  # its within-epoch point: curve/eval/critic_auc, on the eval split's fixed subset
CURVE_AUC, CURVE_GAP = f"curve/eval/{CURVE_NAME}", "curve/eval/critic_gap"
EPOCH_KEYS = (AUC, LOW, HIGH, GAP)  # the whole eval split at each epoch end (step = epoch)
KEYS = (*EPOCH_KEYS, CURVE_AUC, CURVE_GAP)  # every critic metric a report fetches from MLflow
VERDICT_TAG = "colorgan.critic"  # "chance: <line>" or "learned: <line>", set after a GAN phase
PRETRAIN_TAG = "colorgan.critic_pretrain"  # a line, on runs that pre-trained their critic
MEAN_ATTR = "mean:eval/critic_auc"  # a study trial's final AUC, the mean over its seeds (absent in older stores)
VERDICT_ATTR = "critic"  # a study trial's verdict over its seeds: CHANCE or LEARNED (absent in older stores)
CHANCE, LEARNED = "chance", "learned"

TITLE = "critic AUC on held-out photos (0.5 = chance)"
YLABEL = "critic AUC (rank)"
PANEL = (CURVE_NAME, TITLE, YLABEL)  # as a panel of curve_figures.epoch_curves (name, title, y label)
EPOCH_PANEL = (AUC, TITLE, YLABEL)  # as a panel of curve_figures.curves (key, title, y label)
CHANCE_LEVEL = 0.5
CHANCE_ID = "critic-chance"  # the SVG id of the chance line (tests find it by it)
CHANCE_STYLE = {"color": "0.2", "linestyle": ":", "linewidth": 1.8}
INTERVAL_ID = "critic-interval"
Y_RANGE = (0.4, 1.0)  # widened below when a critic ranks generated photos above real ones


def chance(ax, hist: pd.DataFrame, colours: dict | None = None, key: str = CURVE_AUC) -> None:
    """The dotted line at 0.5 labelled "chance", and a y range from 0.4 (or just below the lowest AUC ``hist``
    holds for ``key``) to 1, the same on every critic panel so panels compare at a glance."""
    ax.axhline(CHANCE_LEVEL, **CHANCE_STYLE, label="chance", gid=CHANCE_ID)
    values = hist.loc[hist["metric"] == key, "value"].to_numpy(np.float64)
    lowest = float(np.nanmin(values)) if values.size else Y_RANGE[0]
    ax.set_ylim(min(Y_RANGE[0], np.floor((lowest - 0.02) * 20) / 20), Y_RANGE[1])


def interval(ax, hist: pd.DataFrame, colours: dict) -> None:
    """Each run's epoch-end AUC interval (eval/critic_auc_low..high) as a band in its colour, then the chance
    line: how sure each epoch's AUC is, at the size of the eval split."""
    bounds = hist[hist["metric"].isin((LOW, HIGH))].pivot_table(index=["run", "step"], columns="metric",
                                                                   values="value").dropna()
    for n, (run, band) in enumerate(bounds.reset_index().groupby("run", sort=False)):
        ax.fill_between(band["step"], band[LOW], band[HIGH], color=colours.get(run, "0.5"), alpha=0.18,
                        linewidth=0, label="95% interval (Hanley-McNeil)" if n == 0 else None,
                        gid=f"{INTERVAL_ID}-{n}")
    chance(ax, hist, colours, AUC)


def by_config(ax, hist: pd.DataFrame, x_key: str, order: list[str]) -> pd.DataFrame:
    """A claim's configurations' critic AUC (columns config, run, step, x, value), the mean over seeds with a 95%
    band, hue in ``order``: at each curve point (curve/eval/critic_auc against ``x_key``, curve/epoch) or, with no
    ``x_key``, at each epoch end (eval/critic_auc); the chance line; "not logged" when no run has any."""
    import seaborn as sns

    key = CURVE_AUC if x_key else AUC
    wide = hist[hist["metric"].isin((key, x_key) if x_key else (key,))].pivot_table(
        index=["config", "run", "step"], columns="metric", values="value").reset_index()
    wide["x"] = wide[x_key] if x_key and x_key in wide else wide["step"]
    wide["value"] = wide.get(key, np.nan)
    plotted = wide[["config", "run", "step", "x", "value"]].dropna().reset_index(drop=True)
    if len(plotted):
        shown = [c for c in order if c in set(plotted["config"])]
        sns.lineplot(plotted, x="x", y="value", hue="config", hue_order=shown, marker="o", markersize=3,
                     errorbar=("ci", 95), legend=False, ax=ax)
    else:
        ax.text(0.5, 0.5, f"{key}: not logged", ha="center", va="center", transform=ax.transAxes)
    chance(ax, hist, key=key)
    ax.set_title(TITLE, fontsize=9)
    ax.set_xlabel("epoch")
    ax.set_ylabel(YLABEL)
    return plotted


def _verdict(tags: dict[str, str], attrs: dict) -> str:
    """CHANCE / LEARNED: the study's verdict over the trial's seeds where it recorded one, else the run's tag;
    "" when neither was logged (no GAN phase, a run stopped before its end, or one from before the verdict)."""
    said = str(attrs.get(VERDICT_ATTR, "")) or tags.get(VERDICT_TAG, "").split(":", 1)[0]
    return said.strip() if said.strip() in (CHANCE, LEARNED) else ""


def _shown(metrics: dict[str, float], attrs: dict) -> str:
    """The final AUC as text: the mean over a trial's seeds where the study recorded it, else the run's last
    whole-split AUC with its 95% interval; "not logged" without either."""
    if isinstance(attrs.get(MEAN_ATTR), int | float):
        return f"{attrs[MEAN_ATTR]:.3f} (mean over seeds)"
    if AUC not in metrics:
        return "not logged"
    bounds = f" [{metrics[LOW]:.3f}, {metrics[HIGH]:.3f}]" if LOW in metrics and HIGH in metrics else ""
    return f"{metrics[AUC]:.3f}{bounds}"


def standing(client, entries, attrs: dict[str, dict] | None = None) -> pd.DataFrame:
    """One row per run or trial (``entries``: label, run_id): its final critic AUC, its verdict (CHANCE, LEARNED
    or "" when none was logged) and its critic pre-training line. ``attrs``: label -> the trial's Optuna user
    attributes (a study), read before the run's tag."""
    rows = []
    for entry in entries:
        data = client.get_run(entry.run_id).data
        mine = (attrs or {}).get(entry.label, {})
        rows.append({"run": entry.label, "critic AUC, eval split, final epoch": _shown(data.metrics, mine),
                     "critic": _verdict(data.tags, mine) or "no verdict logged",
                     "critic pre-training": data.tags.get(PRETRAIN_TAG, "")})
    table = pd.DataFrame(rows, columns=["run", "critic AUC, eval split, final epoch", "critic",
                                        "critic pre-training"])
    return table if table["critic pre-training"].astype(bool).any() else table.drop(columns="critic pre-training")


def _names(runs: list[str]) -> str:
    """"trial 1, trial 3" -> "trials 1, 3"; run names stay as they are."""
    if runs and all(r.startswith("trial ") for r in runs):
        return ("trials " if len(runs) > 1 else "trial ") + ", ".join(r.removeprefix("trial ") for r in runs)
    return ", ".join(runs)


def lines(table: pd.DataFrame, study: bool) -> list[str]:
    """What the verdicts say, plainly: which runs' (trials') critic never left chance, and so whose GAN phase says
    nothing about the knobs; the first line says it of all of them when none learned. [] when no run logged a
    verdict."""
    judged = table[table["critic"].isin((CHANCE, LEARNED))]
    at_chance = list(judged.loc[judged["critic"] == CHANCE, "run"])
    learned = list(judged.loc[judged["critic"] == LEARNED, "run"])
    knobs = "the knobs searched" if study else "the knobs these runs were run for"
    kind = "trials" if study else "runs"
    if judged.empty:
        return []
    if not learned:
        return [f"The critic never left chance in any of the {len(judged)} {kind} with a GAN phase "
                f"({_names(at_chance)}): its held-out AUC's 95% interval held 0.5 (or lay below it) at the end of "
                f"each, so no GAN phase here was a game, and {'this study' if study else 'this report'} says nothing "
                f"about {knobs} through it; read its differences as the generator's L1 training and noise."]
    out = []
    if at_chance:
        out.append(f"The critic never left chance in {_names(at_chance)} (of {len(judged)} {kind} with a GAN phase): "
                   f"their GAN phase says nothing about {knobs}.")
    out.append(f"The critic learned (its held-out AUC's 95% interval above 0.5 at the end) in {_names(learned)}"
               + (": every GAN phase here was a game." if not at_chance else "."))
    return out


def all_at_chance(table: pd.DataFrame) -> bool:
    """Whether every run that logged a verdict was at chance (and at least one did)."""
    judged = table["critic"].isin((CHANCE, LEARNED))
    return bool(judged.any()) and bool((table.loc[judged, "critic"] == CHANCE).all())
