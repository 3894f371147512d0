"""What a study's runs show in MLflow beyond each trial's own logging: the name of a pruned trial's run, the
parent run's params (the study's settings) and description, and the gray figures of every trial's run.

A pruned trial is a normal outcome: its run ends FINISHED (not KILLED, which the UI draws as a failure), named
``trial-N (pruned)``, with the tag ``colorgan.trial_state = PRUNED`` to filter on.
"""

from __future__ import annotations

from pathlib import Path

from colorgan.tracking.runs import child_runs, gray_figures, set_run_tags
from colorgan.tracking.store import connect
from colorgan.tracking.tags import NOTE_TAG, RUN_NAME_TAG
from colorgan.tracking.tracker import RunTracker

STATE_NAMES = {"PRUNED": "pruned"}  # trial states whose run name says so (failures have the UI's FAILED status)
RUN_ATTR = "run_id"  # a trial's user attribute: the run of its first seed
RUNS_ATTR = "run_ids"  # a trial's user attribute: the runs of all its seeds
LEGACY_ATTRS = {RUN_ATTR: "mlflow_run_id", RUNS_ATTR: "mlflow_run_ids"}  # their names in studies stored before


def trial_run_id(attrs: dict) -> str | None:
    """The run of a trial's first seed, from its user attributes (a study stored before: under the old name)."""
    return attrs.get(RUN_ATTR) or attrs.get(LEGACY_ATTRS[RUN_ATTR])


def trial_run_ids(attrs: dict) -> list[str | None]:
    """The runs of all a trial's seeds (at least its first seed's, None when it has no run)."""
    return attrs.get(RUNS_ATTR) or attrs.get(LEGACY_ATTRS[RUNS_ATTR]) or [trial_run_id(attrs)]


def name_trial_run(repo_root: Path, run_id: str, name: str, state: str) -> None:
    """``trial-N (pruned)`` (``name``: the run's own, e.g. trial-N or trial-N-seedK) for a pruned trial's run, so
    the runs table reads as the study went."""
    if state in STATE_NAMES:
        set_run_tags(repo_root, run_id, {RUN_NAME_TAG: f"{name} ({STATE_NAMES[state]})"})


def describe_run(repo_root: Path, run_id: str, markdown: str) -> None:
    """The run's description in the UI (its page's "Description")."""
    set_run_tags(repo_root, run_id, {NOTE_TAG: markdown})


def log_new_params(repo_root: Path, run_id: str, params: dict) -> None:
    """Log the params the run does not hold yet (a param cannot change; a resumed study logs only new ones)."""
    client = connect(repo_root)
    held = client.get_run(run_id).data.params
    new = {key: value for key, value in params.items() if key not in held}
    if new:
        RunTracker(client, run_id).log_params(new)


def experiment_of(repo_root: Path, run_id: str) -> str:
    return connect(repo_root).get_run(run_id).info.experiment_id


def gray_by_run(repo_root: Path, parent_run_id: str) -> dict[str, dict[str, float]]:
    """{run id: its gray figures by QUALITY name} for every child run of a study's parent."""
    return {run.run_id: gray_figures(run) for run in child_runs(repo_root, parent_run_id)}


def log_figure(repo_root: Path, run_id: str, figure, artifact_file: str) -> None:
    """A matplotlib figure as an image artifact of the run (shown on its page in the UI), then closed."""
    import matplotlib.pyplot as plt

    try:
        connect(repo_root).log_figure(run_id, figure, artifact_file)
    finally:
        plt.close(figure)
