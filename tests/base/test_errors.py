"""base.errors: SIGTERM raised as a KeyboardInterrupt (Terminated) in the main thread, once, and the words each
interruption is recorded with."""

from __future__ import annotations

import os
import signal
import time

from colorgan.base import errors


def test_sigterm_in_the_main_thread_is_a_keyboard_interrupt_once():
    before = signal.getsignal(signal.SIGTERM)
    with errors.sigterm_as_interrupt():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises at the next bytecode
            caught = None
        except KeyboardInterrupt as exc:
            caught = exc
            os.kill(os.getpid(), signal.SIGTERM)  # a second one, during the cleanup: ignored
            time.sleep(0.1)
    assert isinstance(caught, errors.Terminated) and errors.interruption(caught) == "terminated (SIGTERM)"
    assert errors.interruption(KeyboardInterrupt()) == "interrupted (Ctrl-C)"
    assert signal.getsignal(signal.SIGTERM) == before  # the previous handler is back


def test_exit_code_says_which_interruption_in_one_line(capsys):
    def terminated():
        raise errors.Terminated("run abc marked KILLED")

    assert errors.exit_code("colorgan", terminated) == 143
    assert capsys.readouterr().err == "colorgan: terminated (SIGTERM); run abc marked KILLED\n"

    def interrupted():
        raise KeyboardInterrupt

    assert errors.exit_code("colorgan", interrupted) == 130
    assert capsys.readouterr().err == "colorgan: interrupted\n"


def test_a_sigterm_during_a_store_write_ends_the_command_once_the_write_is_done():
    """Raised inside MLflow's file handling, the interruption could close a descriptor twice (EBADF, a FAILED run
    with a traceback); it waits for the write, then raises as ever."""
    done, raised = [], None
    try:
        with errors.sigterm_as_interrupt(), errors.uninterrupted_write():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)  # the handler has run by now: it must not raise inside the write
            done.append("the write finished")
    except errors.Terminated as exc:
        raised = exc
    assert done == ["the write finished"] and raised is not None
