"""Waiting for a tracking server that went away: MLflow calls retried with back-off for a stated time.

With ``MLFLOW_TRACKING_URI`` naming a server, a restart or a network cut would otherwise end a run with a traceback
from deep inside MLflow, after MLflow's own retries (7 per request, about 4 minutes each). Here one clock decides:
every call through ``Patient`` (the client ``connect`` returns for a server) is retried with back-off (0.5 s
doubling to 30 s) for ``COLORGAN_TRACKING_WAIT_S`` seconds (default 300), MLflow's own retries being turned off
so they do not multiply it; past that, ``TrackingGone`` names the server and how long it waited. Once a server
was given up on, later calls in this process try once (a run's clean-up does not wait a second time). Only
"could not reach the server" errors are retried: a refused connection, a dropped one, 502/503/504 and 429.
"""

from __future__ import annotations

import functools
import math
import os
import time

from colorgan.base.config import ConfigError
from colorgan.base.errors import UsageError, causes

WAIT_ENV = "COLORGAN_TRACKING_WAIT_S"
DEFAULT_WAIT_S = 300.0
FIRST_DELAY_S, MAX_DELAY_S = 0.5, 30.0
UNREACHABLE_TEXTS = ("max retries exceeded", "connection refused", "failed to establish a new connection",
                     "connection aborted", "remotedisconnected", "connection reset", "read timed out",
                     "error code 502", "error code 503", "error code 504", "error code 429",
                     "too many 502 error", "too many 503 error", "too many 504 error", "too many 429 error")

_gone: dict[str, float] = {}  # server -> seconds waited when it was given up on, in this process


class TrackingGone(UsageError):
    """The tracking server did not answer within the wait: the message names it and how long it was waited for."""

    def __init__(self, server: str, waited_s: float, cause: BaseException):
        self.server, self.waited_s = server, waited_s
        first = str(cause).strip().splitlines()[0][:160] if str(cause).strip() else type(cause).__name__
        super().__init__(f"the tracking server {server} did not answer for {waited_s:.0f} s ({WAIT_ENV}="
                         f"{wait_s():g}; last error: {first})")


def wait_s() -> float:
    """How long to wait for a server that does not answer: ``$COLORGAN_TRACKING_WAIT_S``, else 300 s."""
    text = os.environ.get(WAIT_ENV, "").strip()
    if not text:
        return DEFAULT_WAIT_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{WAIT_ENV}: must be a number of seconds, 0 or more, got {text!r}")
    return value


def is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://"))


def unreachable(exc: BaseException | None) -> bool:
    """Whether an error, or one in its chain, says the server could not be reached (not that it refused a call)."""
    return any(isinstance(e, ConnectionError)
               or type(e).__name__ in ("ConnectionError", "NewConnectionError", "MaxRetryError", "ProtocolError")
               or any(text in str(e).lower() for text in UNREACHABLE_TEXTS) for e in causes(exc))


def gone(exc: BaseException | None) -> TrackingGone | None:
    """The TrackingGone an error is, or was raised from or during, else None."""
    return next((e for e in causes(exc) if isinstance(e, TrackingGone)), None)


def call(server: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, retried with back-off while ``server`` cannot be reached, for at most ``wait_s()``;
    then TrackingGone. A server given up on before gets one try."""
    started = time.monotonic()
    deadline = started + (0.0 if server in _gone else wait_s())
    delay = FIRST_DELAY_S
    while True:
        try:
            out = fn(*args, **kwargs)
        except Exception as exc:
            if not unreachable(exc):
                raise
            now = time.monotonic()
            if now >= deadline:
                waited = _gone.get(server, 0.0) if server in _gone else now - started
                _gone[server] = waited
                raise TrackingGone(server, waited, exc) from exc
            time.sleep(min(delay, deadline - now))
            delay = min(delay * 2, MAX_DELAY_S)
        else:
            _gone.pop(server, None)
            return out


def quiet_mlflow_retries() -> None:
    """Leave the retrying to ``call`` (unless the user set MLflow's own count): one clock, the stated one."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


class Patient:
    """An MlflowClient whose every method waits for its server as ``call`` does; ``raw`` is the client itself
    (a heartbeat, which must never block the run, uses it)."""

    def __init__(self, client, server: str):
        self.raw, self.server = client, server

    def __getattr__(self, name: str):
        attr = getattr(self.raw, name)
        if name.startswith("_") or not callable(attr):
            return attr

        @functools.wraps(attr)
        def patient(*args, **kwargs):
            return call(self.server, attr, *args, **kwargs)

        return patient
