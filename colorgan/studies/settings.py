"""What a study file's tables may hold: the samplers, pruners and each table's settings with their kinds, checked so
a wrong one is a StudyError naming it (not a TypeError from Optuna after the study's parent run exists). Pure.
"""

from __future__ import annotations

import math

from colorgan.base.errors import UsageError

SAMPLERS = ("tpe", "random", "grid", "nsga2")
PRUNERS = ("median", "hyperband", "successive_halving", "threshold", "none")


class StudyError(UsageError):
    """A study file that cannot run: the message names the problem."""


# The settings of each table, as (kind, least value). [trials]: how the trials run (their heartbeats, the
# retries of a trial whose worker died).
BUDGET = {"trials": ("int", 1), "timeout_minutes": ("number", 0), "include_base": "bool"}
TRIALS = {"heartbeat_interval": ("int", 1), "grace_period": ("int", 2), "max_retry": ("int", 0)}
SAMPLER_OPTIONS = {"tpe": {"seed": ("int", 0), "n_startup_trials": ("int", 0), "multivariate": "bool"},
                   **{name: {"seed": ("int", 0)} for name in ("random", "grid", "nsga2")}}
PRUNER_OPTIONS = {
    "median": {"n_startup_trials": ("int", 0), "n_warmup_steps": ("int", 0), "interval_steps": ("int", 1),
               "n_min_trials": ("int", 1)},
    "hyperband": {"min_resource": ("int|auto", 1), "max_resource": ("int|auto", 1), "reduction_factor": ("int", 2),
                  "bootstrap_count": ("int", 0)},
    "successive_halving": {"min_resource": ("int|auto", 1), "reduction_factor": ("int", 2),
                           "min_early_stopping_rate": ("int", 0), "bootstrap_count": ("int", 0)},
    "threshold": {"lower": ("number", None), "upper": ("number", None), "n_warmup_steps": ("int", 0),
                  "interval_steps": ("int", 1)},
    "none": {},
}


def options(section: str, table: dict, allowed: dict) -> None:
    """Every key of ``table`` is one of ``allowed`` and has its kind: "str", "bool", "list", or (kind, least)
    with kind "int", "number" (finite) or "int|auto"."""
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise StudyError(f"{section}: unknown setting(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    for key, value in table.items():
        kind, least = allowed[key] if isinstance(allowed[key], tuple) else (allowed[key], None)
        if kind == "int|auto" and value == "auto":
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        ok = {"str": isinstance(value, str), "bool": isinstance(value, bool), "list": isinstance(value, list),
              "int": isinstance(value, int) and not isinstance(value, bool), "int|auto": isinstance(value, int) and
              not isinstance(value, bool), "number": number and math.isfinite(value)}[kind]
        if not ok:
            wanted = {"int": "a whole number", "number": "a finite number", "int|auto": 'a whole number or "auto"',
                      "str": "a string", "bool": "true or false", "list": "a list"}[kind]
            raise StudyError(f"{section}.{key}: must be {wanted}, got {value!r}")
        if least is not None and value < least:
            raise StudyError(f"{section}.{key}: must be at least {least}, got {value}")


def check_recommend(recommend: dict, objectives: tuple[str, ...]) -> None:
    """[recommend] names two of the objectives and a margin; a study with two objectives must have one, so its
    answer is one configuration picked by a stated rule, not whichever end of the front a reader looks at."""
    if not recommend:
        if len(objectives) == 2:
            raise StudyError("two objectives need a [recommend] rule: best = one objective, require = the other, "
                             "margin = how much better than the warm start (or gray) it must be")
        return
    if len(objectives) != 2:
        raise StudyError(f"recommend: picks from the Pareto front of two objectives; this study has {len(objectives)}")
    options("recommend", recommend, {"best": "str", "require": "str", "margin": ("number", 0)})
    for key in ("best", "require", "margin"):
        if key not in recommend:
            raise StudyError(f"recommend.{key}: missing")
    for key in ("best", "require"):
        if recommend[key] not in objectives:
            raise StudyError(f"recommend.{key}: {recommend[key]!r} is not one of the objectives "
                             f"({', '.join(objectives)})")
    if recommend["best"] == recommend["require"]:
        raise StudyError("recommend: best and require must be the two different objectives")
