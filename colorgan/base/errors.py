"""The expected failures: ``UsageError``, which every module's own error derives from, the exception chain a
library's error hides its cause in, and the command line's catch (one line, exit 2).

Pure: imports nothing of colorgan, so the CLI catches every module's error without loading those modules.
"""

from __future__ import annotations

import sys
import traceback


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


def exit_code(prog: str, action, verbose: bool = False) -> int:
    """Run a command's ``action()``: an expected failure is one line on stderr and exit 2 (``verbose``: after its
    traceback), Ctrl-C exit 130."""
    try:
        return action()
    except UsageError as exc:
        if verbose:
            traceback.print_exc()
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
