"""What a study says: its best configuration against the default (the base experiment's own values) and against
the runner-up, paired on the same eval images, read from the ``comparisons.csv`` the study runner logs on the
parent run. A table, and the same in sentences a reader can paste into a paper. A "within noise" verdict says
what it would need (when the comparisons.csv has the columns): the smallest difference the images detect and the
images that would resolve the observed one. Each score is shown as colorgan declared the mean over images it is a
difference of (label, unit, decimals: the ``metrics`` of the evaluations' info.json).
"""

from __future__ import annotations

import optuna
import pandas as pd

from reports.declared import Declared

ROLES = {"base": "the default (base experiment)", "runner-up": "the runner-up"}
SEEDS_PREFIX = "seeds:"  # a trial's user attribute: its objective per seed, when the study has repeats


def _value(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _params(trial: optuna.trial.FrozenTrial) -> str:
    return ", ".join(f"{k} = {_value(v)}" for k, v in trial.params.items())


def _seeds(trial: optuna.trial.FrozenTrial) -> int:
    return max((len(v) for k, v in trial.user_attrs.items() if k.startswith(SEEDS_PREFIX)), default=1)


def _power(r, unit: str, digits: int) -> tuple[str, str]:
    """("±0.04 dB", "2,300") for a "within noise" row of a comparisons.csv that has the figures, else blanks."""
    detectable, needed = getattr(r, "detectable", None), getattr(r, "needed", None)
    if r.verdict != "within noise" or detectable is None or pd.isna(detectable):
        return "", ""
    return f"±{detectable:.{digits}f}{unit}", "" if needed is None or pd.isna(needed) else f"{int(needed):,}"


def study_says(study: optuna.Study, compared: pd.DataFrame | None, declared: Declared
               ) -> tuple[pd.DataFrame, list[str]]:
    """(table, sentences). Without comparisons (fewer than two finished trials, or a study from before they were
    logged) the table is empty and the one sentence says why."""
    if compared is None or compared.empty:
        return pd.DataFrame(), ["No paired comparison yet: it needs two finished trials whose runs logged their "
                                "per-image scores (eval/per_image.csv)."]
    trials = {t.number: t for t in study.trials}
    best = trials[int(compared["best"].iloc[0])]
    seeds = _seeds(best)
    over = (f"paired over the same {int(compared['images'].iloc[0])} eval-split images"
            + (f", each configuration the mean of {seeds} seeds" if seeds > 1 else ""))
    lines = [f"The best configuration is trial {best.number} ({_params(best)})."]
    if best.user_attrs.get("base"):
        lines.append(f"It is the default itself: no searched value beat the base experiment's ({over}).")
    rows = []
    picked = compared[compared["against_is"].isin(list(ROLES))]
    for (number, role), group in picked.groupby(["against", "against_is"], sort=False):
        other = trials[int(number)]
        row = {"compared with": ROLES[role], "trial": other.number}
        row.update({f"best {k}": _value(v) for k, v in best.params.items()})
        row.update({k: _value(other.params.get(k, "")) for k in best.params})
        parts = []
        for r in group.itertuples():
            label, unit, digits = declared.mean(r.score)
            unit = f" {unit}" if unit else ""
            interval = f"{r.difference:+.{digits}f}{unit} [{r.ci95_low:+.{digits}f}, {r.ci95_high:+.{digits}f}]"
            row[f"{label} difference, 95% CI"] = interval
            row[f"{label} verdict"] = r.verdict
            smallest, images = _power(r, unit, max(2, digits))
            if "detectable" in compared:
                row[f"{label} detectable at this budget"], row[f"{label} images to resolve"] = smallest, images
            need = (f"; detectable at this budget: {smallest}" if smallest else "") + (
                f"; {images} images would resolve {r.difference:+.{max(2, digits)}f}" if images else "")
            parts.append(f"{label} {interval} ({r.verdict}{need})")
        row["eval images"] = int(group["images"].iloc[0])
        rows.append(row)
        lines.append(f"Against {ROLES[role]}, trial {other.number} ({_params(other)}), trial {best.number} differs "
                     f"by {'; '.join(parts)}, {over}; the verdict is the best configuration's, from the 95% "
                     f"interval of the mean per-image difference.")
    return pd.DataFrame(rows), lines
