"""The expected failures: ``UsageError``, which every module's own error derives from, the exception chain a
library's error hides its cause in, and the command line's catch (one line, exit 2); SIGTERM ended as Ctrl-C is.

Pure: imports nothing of colorgan, so the CLI catches every module's error without loading those modules.
"""

from __future__ import annotations

import signal
import sys
import threading
import traceback
from contextlib import contextmanager


class UsageError(ValueError):
    """An expected failure the user can fix (a bad file, key, reference or folder): the CLI prints its message in
    one line and exits 2, never a traceback. Every module's own error derives from it, so the CLI catches them
    all without importing (and so loading) the modules that raise them."""


def causes(exc: BaseException | None):
    """An exception, then each it was raised from or during (``__cause__``, else ``__context__``), once each: where
    a full disk or a lost server hides under a library's own error."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


INTERRUPTED = "interrupted (Ctrl-C)"  # why a run ended KILLED, on Ctrl-C (tracking's error tag, a trial's line)


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a scheduler or `kill` sends), raised in the main thread by ``sigterm_as_interrupt``: a
    KeyboardInterrupt, so every place that ends Ctrl-C cleanly (the MLflow run marked KILLED, a study's trial FAIL,
    its parent KILLED) ends SIGTERM the same way."""

    reason = "terminated (SIGTERM)"


def interruption(exc: BaseException) -> str:
    """Why a run was stopped from outside, in words: Ctrl-C or SIGTERM."""
    return exc.reason if isinstance(exc, Terminated) else INTERRUPTED


@contextmanager
def sigterm_as_interrupt():
    """While the block runs (in the main thread), SIGTERM raises ``Terminated`` there, as Ctrl-C raises
    KeyboardInterrupt. Once: a second SIGTERM is ignored, so it cannot cut short the cleanup the first one started
    (SIGKILL still ends the process). The previous handler comes back after the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if _WRITING[0]:  # inside a store write: raised when it is done (uninterrupted_write)
            _WRITING[1] = True
            return
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_WRITING = [0, False]  # [depth of store writes under way in the main thread, a SIGTERM waiting for their end]


@contextmanager
def uninterrupted_write():
    """A store write that SIGTERM must not cut in half: raised inside MLflow's file handling, the interruption can
    close a descriptor twice (EBADF) and end the run FAILED with a traceback instead of KILLED. A SIGTERM that
    arrives meanwhile raises ``Terminated`` as the outermost write ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _WRITING[0] += 1
    try:
        yield
    finally:
        _WRITING[0] -= 1
        if not _WRITING[0] and _WRITING[1]:
            _WRITING[1] = False
            raise Terminated()


def exit_code(prog: str, action, verbose: bool = False) -> int:
    """Run a command's ``action()``: an expected failure is one line on stderr and exit 2 (``verbose``: after its
    traceback), Ctrl-C one line and exit 130, SIGTERM one line and exit 143 (128 + 15, as a shell reports it). The
    interruption's own words (what was kept, how to go on) follow on the same line."""
    try:
        with sigterm_as_interrupt():
            return action()
    except UsageError as exc:
        if verbose:
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        terminated = isinstance(exc, Terminated)
        print(f"{prog}: {exc.reason if terminated else 'interrupted'}" + (f"; {exc}" if exc.args else ""),
              file=sys.stderr)
        return 143 if terminated else 130
