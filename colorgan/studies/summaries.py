"""A study as text: the trials table (``make summary``, the parent run's ``trials.csv`` and description), the best
trial, the study's settings as the parent's params, and the one line a trial prints when it ends.

Every objective figure stands next to the gray image's (the input itself, a*b* = 0, on the same eval split,
logged by the trial's run), the gain over it, its unit and the epoch it comes from: a pruned trial's figure is
the last one it reported, at the epoch it stopped at, not comparable with a complete trial's final one.
"""

from __future__ import annotations

import math

import optuna
import pandas as pd

from colorgan.scoring import critic, metrics
from colorgan.studies.spec import StudySpec
from colorgan.tracking import studyruns

State = optuna.trial.TrialState
STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}
EPOCHS_ATTR = "epochs"  # user attribute: epochs a trial trained (set after each epoch)
PLANNED_ATTR = "epochs_planned"  # user attribute: epochs a trial was to train
REPEATS_ATTR = "repeat_values"  # user attribute: the objective of each repeat of a trial (e.g. seeds), if any
RUN_ATTR = "run_id"  # the table's column of each trial's (first seed's) run
BASE_ATTR = "base"  # user attribute: the trial is the base experiment's own values (run first)
MEAN_ATTR = "mean:"  # a trial's user attribute mean:<key>: a figure it was not optimised on, averaged over its seeds
CRITIC_ATTR = "critic"  # a trial's user attribute: "chance" if any seed's critic stayed at chance, else "learned"
MEAN_CRITIC_AUC = MEAN_ATTR + "eval/critic_auc"  # the critic's held-out AUC, mean over the trial's seeds
CRITIC_AUC_HEADING = "critic AUC"
SHOWN = ("eval/colorfulness_gap", "eval/critic_auc")  # the figures a trial's run shows after its objectives
TRIAL_PREFIX = "trial/"  # trial/KEY: a trial's figure on its own run, the mean over its seeds, rounded as shown here
NOTE = ("Gray: the input itself (a\\*b\\* = 0) on the same eval split. A pruned trial's figure is from the epoch "
        "it stopped at, not comparable with a complete trial's final one.")


def reported(trial: optuna.trial.FrozenTrial) -> tuple[list[float] | None, int | None]:
    """(objective values, the epoch they come from): a complete trial's final values, else (pruned, running)
    the last value it reported; (None, None) when it has none."""
    if trial.state == State.COMPLETE:
        return list(trial.values), trial.user_attrs.get(EPOCHS_ATTR)
    if trial.state != State.FAIL and trial.intermediate_values:
        step = max(trial.intermediate_values)
        return [trial.intermediate_values[step]], step
    return None, None


def _columns(spec: StudySpec) -> list[tuple[str, metrics.Metric | None, str, str | None]]:
    """(metric key, its declaration, gray heading, gain heading) per objective; one objective's are short. A gain
    objective (eval/psnr_gain) is already against gray: its gray heading names the figure it is a gain of, and it
    has no gain column."""
    out = []
    for key in spec.metrics:
        m = metrics.declared(key)
        unit = f" ({m.unit})" if m and m.unit else ""
        if m and m.gain_of:
            out.append((key, m, f"gray {metrics.QUALITY[m.gain_of].label}{unit}", None))
            continue
        label = [m.label] if m and len(spec.metrics) > 1 else []
        difference = "gain over gray" if m and m.better else "minus gray"
        out.append((key, m, " ".join(["gray", *label]) + unit, " ".join([*label, difference]) + unit))
    return out


def gain(m: metrics.Metric, value: float | None, gray: float | None) -> float | None:
    """How much better than the gray image (its unit): value - gray, or gray - value where lower is better."""
    return None if value is None or gray is None else (gray - value if m.better == "lower" else value - gray)


def table(study: optuna.Study, spec: StudySpec, gray_by_run: dict[str, dict[str, float]] | None = None
          ) -> pd.DataFrame:
    """One row per trial: state, params, each objective with its gray figure and gain, the epoch it comes from,
    a 95% interval over repeats (only when a trial has repeat values) and the duration."""
    trials = study.get_trials(deepcopy=False)
    repeats = any(REPEATS_ATTR in t.user_attrs for t in trials)
    base = any(t.user_attrs.get(BASE_ATTR) for t in trials)
    critics = any(CRITIC_ATTR in t.user_attrs for t in trials)
    rows = []
    for t in trials:
        values, epoch = reported(t)
        run_id = studyruns.trial_run_id(t.user_attrs) or ""
        gray = (gray_by_run or {}).get(run_id, {})
        row = {"trial": t.number, "state": STATES.get(t.state.name, t.state.name.lower()), **t.params}
        for i, (key, m, gray_heading, gain_heading) in enumerate(_columns(spec)):
            value = values[i] if values and i < len(values) else None
            row[metrics.heading_of(key)] = value
            if m is not None and m.gain_of:  # a gain: the gray figure it is measured against
                row[gray_heading] = gray.get(m.gain_of)
            elif m is not None:
                row[gray_heading] = gray.get(m.name)
                row[gain_heading] = gain(m, value, gray.get(m.name))
            if i == 0 and repeats:
                found = t.user_attrs.get(REPEATS_ATTR)
                row[_ci_heading(m)] = metrics.mean_ci(found)[1] if found else None
        if critics:  # the critic's held-out AUC (mean over seeds) and whether the GAN phase was a game
            auc = t.user_attrs.get(MEAN_CRITIC_AUC)
            row[CRITIC_AUC_HEADING] = auc
            row["critic"] = t.user_attrs.get(CRITIC_ATTR, "")
        if base:
            row["base"] = "base" if t.user_attrs.get(BASE_ATTR) else ""
        planned = t.user_attrs.get(PLANNED_ATTR)
        row["epoch"] = (f"{epoch}/{planned}" if planned else str(epoch)) if epoch else ""
        end = t.datetime_complete
        row["seconds"] = round((end - t.datetime_start).total_seconds()) if end and t.datetime_start else None
        row[RUN_ATTR] = run_id
        rows.append(row)
    return pd.DataFrame(rows)


def _ci_heading(m: metrics.Metric | None) -> str:
    return "±95% CI over repeats" + (f" ({m.unit})" if m and m.unit else "")


def as_text(frame: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """The table with each figure written with its declared digits (gains signed) and params with 3 figures."""
    out = frame.drop(columns=[RUN_ATTR]).astype(object)
    digits = {}
    for key, m, gray_heading, gain_heading in _columns(spec):
        d = digits_of(key)
        digits.update({metrics.heading_of(key): (d, "+" if m and m.gain_of else ""), gray_heading: (d, ""),
                       _ci_heading(m): (d, "")})
        if gain_heading:
            digits[gain_heading] = (d, "+")
    digits[CRITIC_AUC_HEADING] = (digits_of(MEAN_CRITIC_AUC.removeprefix(MEAN_ATTR)), "")
    for column in out.columns:
        if column in digits:
            d, sign = digits[column]
            out[column] = [f"{v:{sign}.{d}f}" if _number(v) else "" for v in frame[column]]
        elif column in {p.name for p in spec.params}:
            out[column] = [f"{v:.3g}" if isinstance(v, float) else ("" if v is None else str(v)) for v in frame[column]]
        else:
            out[column] = ["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                           for v in frame[column]]
    return out


def digits_of(key: str) -> int:
    """The decimals a figure is shown with: its declared digits (metrics.Metric.digits), else 4."""
    return m.digits if (m := metrics.declared(key)) else 4


def trial_keys(spec: StudySpec) -> list[str]:
    """The figures a trial's run shows first in the MLflow UI (tracking.ui): the objectives, then SHOWN."""
    return list(dict.fromkeys([*spec.metrics, *SHOWN]))


def trial_figures(spec: StudySpec, seeds: list[dict[str, float]]) -> dict[str, float]:
    """{trial/KEY: the mean over the seeds that logged KEY, rounded to its digits} of trial_keys: logged on the
    trial's run, whose seeds' runs keep their full values."""
    found = {key: [float(s[key]) for s in seeds if math.isfinite(s.get(key, math.nan))] for key in trial_keys(spec)}
    return {TRIAL_PREFIX + key: round(sum(v) / len(v), digits_of(key)) for key, v in found.items() if v}


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def best_text(study: optuna.Study, spec: StudySpec, gray_by_run: dict[str, dict[str, float]] | None = None) -> str:
    if not study.get_trials(deepcopy=False, states=(State.COMPLETE,)):
        return "no completed trial yet"
    if spec.multi_objective:
        front = sorted(t.number for t in study.best_trials)
        return (f"two objectives: no single best trial; the Pareto set is trial{'s' if len(front) > 1 else ''} "
                + ", ".join(map(str, front)) + (" (the front, the reference points and the recommended trial below)"
                                                if spec.recommend else ""))
    best = study.best_trial
    gray = (gray_by_run or {}).get(studyruns.trial_run_id(best.user_attrs) or "", {})
    epoch, planned = best.user_attrs.get(EPOCHS_ATTR), best.user_attrs.get(PLANNED_ATTR)
    at = f" at epoch {epoch}/{planned}" if epoch and planned else ""
    void = (" (its critic never left chance: its GAN phase says nothing about the knobs searched)"
            if best.user_attrs.get(CRITIC_ATTR) == critic.CHANCE else "")
    return (f"best trial {best.number}: {figure(spec.metrics[0], best.value, gray)}{at} "
            f"with {', '.join(f'{k} = {param_text(v)}' for k, v in best.params.items())}{void}")


def figure(key: str, value: float, gray: dict[str, float]) -> str:
    """"eval PSNR pooled 22.73 dB (gray 21.14 dB, +1.59 dB)": a figure with its unit, next to the gray image's."""
    m = metrics.declared(key)
    if m is None:
        return f"{key} {value:.4f}"
    label = metrics.heading_of(key).removesuffix(f" ({m.unit})") if m.unit else metrics.heading_of(key)
    text = f"{label} {m.show(value)}"
    if m.gain_of in gray:
        text += f" (gray {metrics.QUALITY[m.gain_of].label} {metrics.QUALITY[m.gain_of].show(gray[m.gain_of])})"
    elif m.name in gray:
        delta = gain(m, value, gray[m.name])
        unit = f" {m.unit}" if m.unit else ""
        text += f" (gray {m.show(gray[m.name])}, {delta:+.{m.digits}f}{unit}" + (
            " gain)" if m.better else ")")
    return text


def param_text(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def critic_text(logged: dict[str, float], game: tuple[str, str] | None) -> str:
    """"critic AUC 0.83 [0.80, 0.86] (learned)" from a run's logged figures; "" for a run without a GAN phase."""
    if game is None:
        return ""
    return (f"critic AUC {logged['eval/critic_auc']:.3f} [{logged['eval/critic_auc_low']:.3f}, "
            f"{logged['eval/critic_auc_high']:.3f}] ({game[0]})")


def trial_line(number: int, state: str, values: list[float] | None, epoch: int, planned: int | None,
               spec: StudySpec, gray: dict[str, float], params: dict, seconds: float, reason: str = "",
               seed: int | None = None, critic_text: str = "") -> str:
    """The one line a trial (or, with repeats, each of its seeds) prints when it ends: its state, the epoch, its
    figures next to the gray image's (or why it failed), the critic's skill, its params and how long it took."""
    at = f"epoch {epoch}/{planned}" if planned else f"epoch {epoch}"
    what = ("  ".join(figure(k, v, gray) for k, v in zip(spec.metrics, values, strict=False)) if values
            else reason) + (f"  {critic_text}" if critic_text else "")
    name = f"trial {number}" + (f" seed {seed}" if seed is not None else "")
    return (f"{name} {STATES.get(state, state.lower()):<8}  {at}  {what}  "
            f"{' '.join(f'{k}={param_text(v)}' for k, v in params.items())}  {seconds:.0f} s")


def markdown(study: optuna.Study, spec: StudySpec, gray_by_run: dict[str, dict[str, float]] | None = None) -> str:
    """The parent run's description: what the study searched, what it found, and the trials table."""
    frame = table(study, spec, gray_by_run)
    goal = ", ".join(f"{d} {metrics.heading_of(k)}" for k, d in zip(spec.metrics, spec.directions, strict=True))
    counts = frame["state"].value_counts() if len(frame) else pd.Series(dtype=int)
    lines = [f"**Study `{spec.name}`**: {goal} over {', '.join(p.name for p in spec.params)} "
             f"(the space, sampler and pruner are this run's params).", "",
             f"**{best_text(study, spec, gray_by_run)}**", "",
             f"{len(frame)} trials: " + ", ".join(f"{n} {state}" for state, n in counts.items()) + ". " + NOTE, ""]
    if len(frame):
        text = as_text(frame, spec)
        lines += ["| " + " | ".join(text.columns) + " |", "|" + "---|" * len(text.columns)]
        lines += ["| " + " | ".join(row) + " |" for row in text.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def space_params(spec: StudySpec) -> dict[str, str]:
    """The study's settings as a parent run's params: the searched space, objective, sampler, pruner, base and
    [fixed] values."""
    def space(p) -> str:
        if p.kind == "categorical":
            return "categorical " + ", ".join(map(str, p.choices))
        scale = " log" if p.log else (f" step {p.step:g}" if p.step else "")
        return f"{p.kind} {p.low:g} to {p.high:g}{scale}"

    def options(table: dict) -> str:
        return " ".join([table["name"], *(f"{k}={v}" for k, v in table.items() if k != "name")])

    return {**{f"space.{p.name}": space(p) for p in spec.params},
            "objective": ", ".join(f"{d} {k}" for k, d in zip(spec.metrics, spec.directions, strict=True)),
            "sampler": options(spec.sampler), "pruner": options(spec.pruner), "base": spec.base,
            "budget.trials": spec.trials, **{f"fixed.{k}": v for k, v in spec.fixed.items()}}
