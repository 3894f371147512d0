"""What ``colorgan study`` and ``make summary`` print: the trials table (summaries), the best trial, a
two-objective study's answer, the paired comparisons and where the CPU time went.
"""

from __future__ import annotations

from pathlib import Path

import optuna
import pandas as pd

from colorgan import tracking
from colorgan.studies import answer as answer_mod
from colorgan.studies import pareto as pareto_mod
from colorgan.studies import summaries
from colorgan.studies.comparisons import comparison_lines, logged_comparisons
from colorgan.studies.spec import StudySpec
from colorgan.studies.storage import PRETRAIN_ATTR, parent_run_id
from colorgan.tracking import studyruns
from colorgan.tracking.tags import STUDY_TAG
from colorgan.training import curves


def gray_by_run(study: optuna.Study, root: Path | None) -> dict[str, dict[str, float]]:
    """The gray figures of the study's trial runs (read from MLflow; none without a project root or a parent)."""
    parent = parent_run_id(study)
    return studyruns.gray_by_run(root, parent) if root is not None and parent else {}


def print_summary(study: optuna.Study, spec: StudySpec, root: Path | None = None) -> None:
    gray = gray_by_run(study, root)
    table = summaries.table(study, spec, gray)
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_rows", 500):
        print(summaries.as_text(table, spec).to_string(index=False) if len(table) else "no trials yet")
    print(summaries.best_text(study, spec, gray))
    if len(table):
        print(summaries.NOTE.replace("\\", ""))
    found = answer_mod.study_answer(study, spec, root)
    if found is None:  # one objective: the critic's verdicts still say whether the study answered anything
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        for line in answer_mod.chance_lines(*answer_mod.verdicts(done)):
            print(line)
    if found is not None:
        print("\n".join(found.lines(spec)))
        print(f"(the figure: {pareto_mod.FIGURE_ARTIFACT} on the study's parent run in MLflow, and `make report "
              f"NAME={spec.name}`)")
    if root is not None and (not spec.multi_objective or found is not None):
        for line in comparison_lines(logged_comparisons(study, spec, root, found.recommended if found else None)):
            print(line)
    cost = cpu_split(study, root) if root is not None else None
    if cost:
        print(cost)


def cpu_split(study: optuna.Study, root: Path) -> str:
    """Where the study's CPU time went (from its runs' logged cpu_seconds, eval_cpu_seconds and the curve
    points' curve/eval_cpu_seconds): the shared warm start, the trials' runs, and of those the evaluation."""
    parent = parent_run_id(study)
    if parent is None:
        return ""
    runs = [r for r in tracking.trial_runs(root, parent) if "cpu_seconds" in r.metrics]
    if not runs:
        return ""
    total = sum(r.metrics["cpu_seconds"] for r in runs)
    whole = sum(r.metrics.get("eval_cpu_seconds", 0.0) for r in runs)
    points = sum(r.metrics.get(curves.CPU_KEY, 0.0) for r in runs)
    text = (f"CPU time: trials {total:,.0f} s ({len(runs)} runs), of which evaluation {whole + points:,.0f} s "
            f"(the whole eval split {whole:,.0f} s, the curve points' subset {points:,.0f} s)")
    warm = study.user_attrs.get(PRETRAIN_ATTR, "")
    if warm:
        data = tracking.run_data(root, warm)
        cost = data.metrics.get("cpu_seconds", float("nan"))
        by = data.tags.get(STUDY_TAG, "")
        text += (f"; the shared warm start {cost:,.0f} s" + (f" (trained by study {by}, shared: 0 s to a study "
                                                              f"that found it)" if by else ""))
    return text
