"""The best trial against the others and the shared warm start, paired on the same eval images, as a table
(``comparisons.csv`` on the parent run, which reports read too) and as lines a reader can paste.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import optuna
import pandas as pd

from colorgan import tracking
from colorgan.scoring import metrics
from colorgan.studies import answer as answer_mod
from colorgan.studies import summaries
from colorgan.studies.answer import DUPLICATE_ATTR
from colorgan.studies.spec import StudySpec
from colorgan.studies.storage import PRETRAIN_ATTR, parent_run_id
from colorgan.tracking import studyruns
from colorgan.training import train

COMPARISONS_ARTIFACT = "comparisons.csv"  # on the parent run: the paired comparisons (reports read it too)
WARM_START_NUMBER = -1  # the comparisons table's "against" for the shared warm start (no trial number)


def _per_image(root: Path, trial: optuna.trial.FrozenTrial) -> pd.DataFrame | None:
    """A trial's per-image eval scores, averaged over its seeds (rows: files), None if no run logged them."""
    return _run_per_image(root, studyruns.trial_run_ids(trial.user_attrs))


def _run_per_image(root: Path, run_ids: list[str]) -> pd.DataFrame | None:
    """Runs' per-image eval scores, averaged over the runs (rows: files), None if none logged them."""
    tables = []
    for run_id in run_ids:
        text = tracking.read_text(root, run_id, train.PER_IMAGE_ARTIFACT) if run_id else None
        if text is not None:
            tables.append(pd.read_csv(io.StringIO(text), keep_default_na=False).set_index("file"))
    if not tables:
        return None
    return pd.concat(tables).groupby(level=0).mean()


def _ranked(study: optuna.Study, spec: StudySpec, first: int | None = None) -> list[optuna.trial.FrozenTrial]:
    """COMPLETE trials, best first by the first objective, or trial ``first`` first (a two-objective study's
    recommended one); a copy of an earlier trial's values is left out."""
    sign = -1.0 if spec.directions[0] == "maximize" else 1.0
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return sorted((t for t in done if DUPLICATE_ATTR not in t.user_attrs),
                  key=lambda t: (t.number != first, sign * t.values[0]))


def comparisons(study: optuna.Study, spec: StudySpec, root: Path, first: int | None = None) -> pd.DataFrame:
    """The best configuration (or trial ``first``: the recommended one) against every other finished one and
    the shared warm start, paired on the same eval images: per score of metrics.PAIRED, the mean per-image
    difference (best - other) with its 95% CI and a verdict for the best; for a "within noise" verdict, the
    smallest difference these images detect and the images the observed one needs."""
    ranked = _ranked(study, spec, first)
    warm = study.user_attrs.get(PRETRAIN_ATTR, "")
    if len(ranked) < (1 if warm else 2):
        return pd.DataFrame()
    tables = {t.number: _per_image(root, t) for t in ranked}
    best = ranked[0]
    others = [(other.number, tables[other.number], "base" if other.user_attrs.get(summaries.BASE_ATTR) else
               ("runner-up" if rank == 2 else f"rank {rank}")) for rank, other in enumerate(ranked[1:], start=2)]
    if warm:  # the GAN phase against no GAN phase at all: the generator every trial started from
        others.append((WARM_START_NUMBER, _run_per_image(root, [warm]), answer_mod.pareto.WARM_START))
    rows = []
    for number, b, role in others:
        a = tables[best.number]
        if a is None or b is None:
            continue
        joined = a.join(b, how="inner", lsuffix="_a", rsuffix="_b")
        for score, better in metrics.PAIRED:
            if f"{score}_a" not in joined or f"{score}_b" not in joined:  # a run from before the score existed
                continue
            result = metrics.paired_difference(joined[f"{score}_a"], joined[f"{score}_b"], score, better)
            noise = result.verdict == "within noise"  # what it would need to resolve; blank for a clear verdict
            rows.append({"best": best.number, "against": number, "against_is": role, "score": score,
                         "difference": round(result.mean, 6), "ci95_low": round(result.low, 6),
                         "ci95_high": round(result.high, 6), "images": result.images, "verdict": result.verdict,
                         "detectable": round(result.detectable, 6) if noise else math.nan,
                         "needed": result.needed if noise else None})
    return pd.DataFrame(rows).astype({"needed": "Int64"}) if rows else pd.DataFrame()


def _mean_of(score: str) -> metrics.Metric:
    """The declared figure a mean per-image difference of ``score`` is a difference of ("PSNR mean", not the
    pooled PSNR the study's objective reads)."""
    return next(m for m in metrics.MEANS if m.mean_of == score)


def comparison_lines(table: pd.DataFrame) -> list[str]:
    """The comparisons in words a reader can paste: one line per compared trial."""
    def would_need(r) -> str:
        """"; detectable at this budget: ±0.04 dB; 2,300 images would resolve +0.02" for a "within noise" row (a
        comparisons.csv from before these columns has none)."""
        detectable, needed = getattr(r, "detectable", None), getattr(r, "needed", None)
        if r.verdict != "within noise" or detectable is None or pd.isna(detectable):
            return ""
        metric = _mean_of(r.score)
        digits, unit = max(2, metric.digits), f" {metric.unit}" if metric.unit else ""
        text = f"; detectable at this budget: ±{detectable:.{digits}f}{unit}"
        if needed is None or pd.isna(needed):
            return text + "; no number of images would resolve a difference of 0"
        return text + f"; {int(needed):,} images would resolve {r.difference:+.{digits}f}"

    lines = []
    if table.empty:  # fewer than two finished trials, or none logged its per-image scores
        return lines
    for (best, other, role), group in table.groupby(["best", "against", "against_is"], sort=False):
        parts = [f"{(m := _mean_of(r.score)).label} {r.difference:+.{m.digits}f} [{r.ci95_low:+.{m.digits}f}, "
                 f"{r.ci95_high:+.{m.digits}f}]{' dB' if m.unit == 'dB' else ''} ({r.verdict}{would_need(r)})"
                 for r in group.itertuples()]
        other = "the warm start" if int(other) == WARM_START_NUMBER else f"trial {other}"
        lines.append(f"trial {best} - {other} ({role}), eval split, {group['images'].iloc[0]} images, "
                     f"paired 95% CI: " + "; ".join(parts))
    return lines


def logged_comparisons(study: optuna.Study, spec: StudySpec, root: Path, first: int | None = None) -> pd.DataFrame:
    """The comparisons the last `colorgan study` logged on the parent run (COMPARISONS_ARTIFACT), when they are
    of the study's present finished trials; else computed now (which downloads every trial's per-image scores)."""
    parent = parent_run_id(study)
    text = tracking.read_text(root, parent, COMPARISONS_ARTIFACT) if parent else None
    if text:
        logged = pd.read_csv(io.StringIO(text))
        ranked = _ranked(study, spec, first)
        against = set(logged["against"].astype(int)) - {WARM_START_NUMBER}
        if ranked and int(logged["best"].iloc[0]) == ranked[0].number and \
                against == {t.number for t in ranked[1:]}:
            return logged
    return comparisons(study, spec, root, first)
