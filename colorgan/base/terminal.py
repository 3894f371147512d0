"""What the terminal shows: quiet by default, everything with ``colorgan -v``.

Quiet: no TensorFlow start-up lines (oneDNN, cpu_feature_guard, absl), no INFO lines from MLflow or Optuna,
no Keras progress bar; a training run prints one line per epoch and a study one line per trial. ``-v`` shows
all of it. The settings are environment variables, set before anything imports TensorFlow (it reads its log
level once, at import), so that the processes a command starts (a study's workers) inherit them; a variable
the user set is left as it is.

TensorFlow 2.21 prints its oneDNN notice through absl whatever TF_CPP_MIN_LOG_LEVEL says, and the only switch
that stops it (TF_ENABLE_ONEDNN_OPTS=0) also turns oneDNN off. So, when quiet, TensorFlow's first import runs
with the process's stderr (fd 2, where C++ writes) captured, and every line of it but those of START_UP_NOISE is
written back: an import error still shows.
"""

from __future__ import annotations

import importlib.machinery
import logging
import os
import sys
import tempfile
from contextlib import contextmanager

VERBOSE_ENV = "COLORGAN_VERBOSE"  # "1": -v was given (read by the study workers and the study runner)
QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow C++: warnings and errors only (hides cpu_feature_guard's list)
    "MLFLOW_LOGGING_LEVEL": "WARNING",  # MLflow's INFO lines ("Creating initial MLflow database tables...")
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # its "Downloading artifacts" bar (a study reads per_image.csv)
}
QUIET_LOGGERS = ("tensorflow", "absl", "h5py")  # Python loggers kept at ERROR when quiet
START_UP_NOISE = (  # lines of TensorFlow's import that say nothing about this run
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "cpu_feature_guard",
    "rebuild TensorFlow with the appropriate compiler flags",
)


def setup(verbose: bool | None = None) -> bool:
    """Make this process (and the ones it starts) quiet or verbose; ``None`` keeps what the parent process chose.
    Returns whether it is verbose. Call it before anything imports TensorFlow."""
    if verbose is None:
        verbose = is_verbose()
    os.environ[VERBOSE_ENV] = "1" if verbose else "0"
    if not verbose:
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
        if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietImport) for f in sys.meta_path):
            sys.meta_path.insert(0, _QuietImport())
    return verbose


def is_verbose() -> bool:
    return os.environ.get(VERBOSE_ENV) == "1"


class _QuietImport:
    """A sys.meta_path finder for ``tensorflow`` alone: the normal spec, whose module runs under ``filtered_stderr``.
    It removes itself at its first use."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module):
            with filtered_stderr(START_UP_NOISE):
                run(module)

        spec.loader.exec_module = exec_module
        return spec


@contextmanager
def filtered_stderr(noise: tuple[str, ...]):
    """Capture fd 2 (Python's and C++'s stderr) for the block, then write back every line containing none of
    ``noise``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not any(pattern in line for pattern in noise)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
