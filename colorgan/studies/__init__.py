"""Optuna studies over training (the only package that imports optuna).

One module per job:

- ``spec``: study files, pure (no Optuna, no TensorFlow: reading one or importing ``StudyError`` loads neither),
  with what each of their tables may set (``settings``);
- ``storage``: the Optuna storage, samplers, pruners and the study's user attributes; ``draws``: trial n's
  values from (seed, n) and the trials before n, whatever the timing;
- ``objective``: one trial (its seeds' ``train.run_training``, pruning, its line); ``trials``: which count, died,
  were cut off;
- ``trial_loop``: running trials until the budget is met (``worker``: one worker process's entry point);
- ``pretrain``: the shared warm start; ``runner``: preparing, running and finishing a study;
  ``lookup``: its best run, without TensorFlow;
- ``comparisons``: paired comparisons; ``summaries`` and ``printout``: a study as text;
- ``pareto`` and ``answer``: a two-objective study's front and recommended trial; ``lock``: the study's flock.

Only this package imports Optuna. This face imports only ``spec``; the rest is imported from its module.
"""

from __future__ import annotations

from colorgan.studies.spec import Param, StudyError, StudySpec, load_spec, resolve_path

__all__ = ["Param", "StudyError", "StudySpec", "load_spec", "resolve_path"]
