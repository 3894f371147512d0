"""What a study's runs show in MLflow beyond each trial's own logging: a trial's own run with its seeds' runs
nested under it, the name of a pruned trial's run, the parent run's params (the study's settings) and description,
and the gray figures of every trial's run.

A pruned trial is a normal outcome: its run ends FINISHED (not KILLED, which the UI draws as a failure), named
``trial-N (pruned)``, with the tag ``colorgan.trial_state = PRUNED`` to filter on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import colorgan.tracking.liveness as liveness
import colorgan.tracking.patience as patience
from colorgan.base import heartbeat as heartbeat_mod
from colorgan.tracking.runs import TRIAL_GROUP_ROLE, gray_figures, set_run_tags, trial_runs
from colorgan.tracking.store import connect
from colorgan.tracking.tags import NOTE_TAG, PARENT_RUN_TAG, ROLE_TAG, RUN_NAME_TAG, TRIAL_STATE_TAG
from colorgan.tracking.tracker import RunTracker

STATE_NAMES = {"PRUNED": "pruned"}  # trial states whose run name says so (failures have the UI's FAILED status)
RUN_ATTR = "run_id"  # a trial's user attribute: the run of its first seed
RUNS_ATTR = "run_ids"  # a trial's user attribute: the runs of all its seeds
GROUP_ATTR = "group_run_id"  # a trial's user attribute: its own run, its seeds' runs nested under it (repeats > 1)
LEGACY_ATTRS = {RUN_ATTR: "mlflow_run_id", RUNS_ATTR: "mlflow_run_ids"}  # their names in studies stored before


def trial_run_id(attrs: dict) -> str | None:
    """The run of a trial's first seed, from its user attributes (a study stored before: under the old name)."""
    return attrs.get(RUN_ATTR) or attrs.get(LEGACY_ATTRS[RUN_ATTR])


def trial_run_ids(attrs: dict) -> list[str | None]:
    """The runs of all a trial's seeds (at least its first seed's, None when it has no run)."""
    return attrs.get(RUNS_ATTR) or attrs.get(LEGACY_ATTRS[RUNS_ATTR]) or [trial_run_id(attrs)]


@contextmanager
def trial_group(repo_root: Path, parent_run_id: str, name: str, tags: dict, params: dict,
                heartbeat: heartbeat_mod.Settings) -> Iterator[str]:
    """A trial's own run (its id) under the study's parent, for its seeds' runs to nest under: the MLflow UI folds
    them under the trial's row. It carries ``tags`` (role ``TRIAL_GROUP_ROLE``, trial state RUNNING) and ``params``
    (the trial's drawn values) and beats while open, as a training run does; it ends FINISHED, KILLED on Ctrl-C, or
    FAILED (an exception's ``run_status`` chooses, as ``open_run``; a trial state still RUNNING becomes FAIL),
    and stays RUNNING when the tracking server went away, for close-stale."""
    client = connect(repo_root)
    parent = client.get_run(parent_run_id)
    run_id = client.create_run(parent.info.experiment_id, run_name=name, tags={
        **{k: str(v) for k, v in tags.items()}, ROLE_TAG: TRIAL_GROUP_ROLE, TRIAL_STATE_TAG: "RUNNING",
        PARENT_RUN_TAG: parent_run_id}).info.run_id
    RunTracker(client, run_id).log_params(params)
    status = "FAILED"
    try:
        with liveness.beating(client, run_id, heartbeat):
            yield run_id
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    except patience.TrackingGone:
        status = ""
        raise
    except BaseException as exc:
        status = getattr(exc, "run_status", "FAILED")
        raise
    finally:
        with suppress(Exception):  # a full store or a lost server: the run is left to close-stale, the error stands
            if status and status != "FINISHED" and client.get_run(run_id).data.tags.get(TRIAL_STATE_TAG) == "RUNNING":
                client.set_tag(run_id, TRIAL_STATE_TAG, "FAIL")
            if status:
                client.set_terminated(run_id, status)


def log_trial_figures(repo_root: Path, run_id: str, figures: dict[str, float]) -> None:
    """A trial's figures (summaries.trial_figures) as metrics of its run, step 0."""
    RunTracker(connect(repo_root), run_id).log_metrics(figures, step=0)


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
    """{run id: its gray figures by QUALITY name} for every trial run of a study's parent (``trial_runs``)."""
    return {run.run_id: gray_figures(run) for run in trial_runs(repo_root, parent_run_id)}


def log_figure(repo_root: Path, run_id: str, figure, artifact_file: str) -> None:
    """A matplotlib figure as an image artifact of the run (shown on its page in the UI), then closed."""
    import matplotlib.pyplot as plt

    try:
        connect(repo_root).log_figure(run_id, figure, artifact_file)
    finally:
        plt.close(figure)
