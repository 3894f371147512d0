"""A two-objective study's answer: its Pareto front, the reference points every trial is read against (the gray
image and the shared warm start), and the one trial the study file's [recommend] rule picks from the front.

Pure: plain numbers in, a table out, so the rule is tested on synthetic studies; ``answer`` feeds it the trials
and the reference runs' figures and logs the table (``TABLE_ARTIFACT``) and figure on the study's parent run,
where the summary and the report read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

TABLE_ARTIFACT = "pareto.csv"  # on the parent run: one row per trial and reference point
FIGURE_ARTIFACT = "pareto.png"
GRAY, WARM_START = "gray", "warm start"


@dataclass(frozen=True)
class Rule:
    """[recommend]: the Pareto trial with the best ``best`` among those whose ``require`` beats the reference
    (the warm start, else the gray image) by at least ``margin`` in that objective's direction."""

    best: str
    require: str
    margin: float

    def text(self, directions: dict[str, str], reference: str) -> str:
        side = "above" if directions[self.require] == "maximize" else "below"
        word = "highest" if directions[self.best] == "maximize" else "lowest"
        return (f"the Pareto trial with the {word} {_label(self.best)} among those whose {_label(self.require)} is "
                f"at least {self.margin:g} {side} the {reference}'s")


def dominates(a: tuple[float, ...], b: tuple[float, ...], signs: tuple[float, ...]) -> bool:
    """a is at least as good as b in every objective and better in one (signs: +1 maximize, -1 minimize)."""
    pairs = [(s * x, s * y) for x, y, s in zip(a, b, signs, strict=True)]
    return all(x >= y for x, y in pairs) and any(x > y for x, y in pairs)


def front(points: dict[int, tuple[float, ...]], signs: tuple[float, ...]) -> list[int]:
    """The keys of the points no other point dominates, in key order."""
    return sorted(k for k, p in points.items() if not any(dominates(q, p, signs) for q in points.values()))


def pick(points: dict[int, tuple[float, ...]], objectives: list[str], directions: list[str], rule: Rule,
         reference: tuple[float, ...]) -> int | None:
    """The recommended trial: on the front, meeting the margin over ``reference``, best by ``rule.best``; None
    when no front trial meets it (the finding is then that no searched configuration beats the reference)."""
    signs = tuple(1.0 if d == "maximize" else -1.0 for d in directions)
    r, b = objectives.index(rule.require), objectives.index(rule.best)
    eligible = [k for k in front(points, signs) if signs[r] * (points[k][r] - reference[r]) >= rule.margin]
    return max(eligible, key=lambda k: (signs[b] * points[k][b], -k)) if eligible else None


def table(points: dict[int, tuple[float, ...]], params: dict[int, dict], objectives: list[str],
          directions: list[str], references: dict[str, tuple[float, ...]], recommended: int | None,
          extra: dict[int, dict[str, float]] | None = None) -> pd.DataFrame:
    """One row per trial (its params, objectives, ``extra`` figures, on_front, recommended) and per reference
    point (gray, warm start), references first."""
    signs = tuple(1.0 if d == "maximize" else -1.0 for d in directions)
    on_front = set(front(points, signs))
    rows = [{"point": name, "trial": None, **dict(zip(objectives, values, strict=True)), "on_front": False,
             "recommended": False} for name, values in references.items()]
    for number in sorted(points):
        rows.append({"point": f"trial {number}", "trial": number,
                     **dict(zip(objectives, points[number], strict=True)), **(extra or {}).get(number, {}),
                     "on_front": number in on_front, "recommended": number == recommended,
                     **params.get(number, {})})
    return pd.DataFrame(rows)


def lines(frame: pd.DataFrame, shown: list[str], params: list[str], rule_text: str, recommended: int | None,
          reference: str) -> list[str]:
    """The front and the pick in words (``shown``: the figures each point is given with), for the summary and
    the parent run's description."""
    def figures(row: dict) -> str:
        return ", ".join(f"{_label(k)} {_show(k, row[k])}" for k in shown if pd.notna(row.get(k)))

    records = frame.to_dict("records")
    trials = [r for r in records if pd.notna(r["trial"])]
    out = [f"Pareto front: {sum(bool(r['on_front']) for r in trials)} of {len(trials)} configurations; reference "
           "points " + "; ".join(f"{r['point']}: {figures(r)}" for r in records if pd.isna(r["trial"]))]
    for row in (r for r in trials if r["on_front"]):
        values = ", ".join(f"{p} = {_value(row[p])}" for p in params if pd.notna(row.get(p)))
        out.append(f"  {row['point']}: {figures(row)}  ({values})")
    out.append(f"Recommended by the study file's rule ({rule_text}): " + (
        f"trial {recommended}" if recommended is not None else f"none: no front trial beats the {reference} by the "
        "margin, so no GAN configuration searched here improves on it"))
    return out


def _label(key: str) -> str:
    from colorgan.scoring import metrics  # only where figures are shown: metrics loads TensorFlow, lookup reads tags

    m = metrics.declared(key)
    return m.label if m else key


def _show(key: str, value: float) -> str:
    from colorgan.scoring import metrics

    m = metrics.declared(key)
    return (f"{value:+.{m.digits}f}" + (f" {m.unit}" if m.unit else "") if m.gain_of else m.show(value)) if m \
        else f"{value:.4g}"


def _value(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
