"""The MLflow adapter's face: what the rest of colorgan calls, re-exported from the modules that hold it.

Only this package (and the read-only report generator) knows MLflow; training hands it plain dicts and arrays,
and what a run logged comes back as plain values (``RunRecord``). Swapping the tracker is this package.
``store``: where the store is, the client; ``tracker``: one run written (``RunTracker``); ``runs``: open, read,
find, mark runs; the other modules are named in docs/reference/layout.md.
"""

from __future__ import annotations

from colorgan.tracking.patience import TrackingGone, gone
from colorgan.tracking.runs import (
    GRAY_PARAM,
    LEGACY_GRAY_METRIC,
    RunRecord,
    check_resumable,
    experiment_and_config,
    find_finished_run,
    find_or_create_parent,
    finished_runs,
    git_commit,
    gray_figures,
    gray_params,
    has_checkpoint,
    log_parent_progress,
    log_table,
    mark_run,
    open_run,
    read_text,
    resolved_config,
    run_data,
    run_status,
    run_tracker,
    set_run_tags,
    trial_runs,
)
from colorgan.tracking.store import (
    MODEL_NAME,
    RESOLVED_CONFIG,
    RunError,
    experiment_id,
    find_runs,
    local_artifact_root,
    local_stores,
    patiently,
    store_uri,
)
from colorgan.tracking.tags import EXPERIMENT_KIND_TAG
from colorgan.tracking.tracker import RunTracker

__all__ = ["EXPERIMENT_KIND_TAG", "GRAY_PARAM", "LEGACY_GRAY_METRIC", "MODEL_NAME", "RESOLVED_CONFIG", "RunError",
           "RunRecord", "RunTracker", "TrackingGone", "check_resumable", "experiment_and_config",
           "experiment_id", "find_finished_run", "find_or_create_parent", "find_runs", "finished_runs", "git_commit",
           "gone", "gray_figures",
           "gray_params", "has_checkpoint", "local_artifact_root", "local_stores", "log_parent_progress", "log_table",
           "mark_run", "open_run", "patiently", "read_text", "resolved_config", "run_data", "run_status",
           "run_tracker", "set_run_tags", "store_uri", "trial_runs"]
