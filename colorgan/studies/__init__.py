"""Optuna studies over the core config: study files (``spec``), running them (``runner``: storage, samplers,
pruners, trials, resume), a study as text (``summaries``: the trials table, each trial's line) and worker
processes (``worker``, ``python -m colorgan.studies.worker``).

Only this package imports Optuna, and only ``runner`` and ``summaries`` of it. The runner's names are loaded on
first use, so reading a study file (or importing ``StudyError``) loads neither Optuna nor TensorFlow.
"""

from __future__ import annotations

from colorgan.studies.spec import Param, StudyError, StudySpec, load_spec, resolve_path

RUNNER_NAMES = ("best_run_id", "best_text", "close_dead_runs", "comparisons", "logged_comparisons", "open_study",
                "parent_run_id", "prepare", "print_summary", "run_study", "storage_url", "summary")

__all__ = ["Param", "StudyError", "StudySpec", "load_spec", "resolve_path", *RUNNER_NAMES]


def __getattr__(name: str):
    if name in RUNNER_NAMES:
        from colorgan.studies import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
