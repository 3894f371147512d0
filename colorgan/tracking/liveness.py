"""Which RUNNING runs are alive: heartbeat tags on each run, the guard on ``--resume``, and closing dead runs.

A process that trains a run (``open_run``) or holds one open (a study's parent, ``keep_alive``) tags it with
its owner and grace period and beats (colorgan.base.heartbeat). A run whose owner is gone or whose heartbeat lapsed
is stale: ``close_stale_runs`` marks it FAILED with the reason, so a dead run never stays RUNNING, and
``--resume`` refuses a run that is alive in another process. Runs without these tags (older ones) are left alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from colorgan.base import heartbeat, paths
from colorgan.tracking.store import RunError, connect
from colorgan.tracking.tags import ERROR_TAG, GRACE_TAG, HEARTBEAT_TAG, OWNER_TAG, SPACE_TAG, TRIAL_STATE_TAG
from colorgan.tracking.tracker import RunTracker

ABANDONED = "abandoned: "  # how close_stale_runs starts the error it tags


class RunBusy(RunError):
    """A run that another live process is training."""


@contextmanager
def beating(client: MlflowClient, run_id: str, settings: heartbeat.Settings) -> Iterator[None]:
    """Tag the run as this process's and beat on it for the duration of the block."""
    RunTracker(client, run_id).set_tags({OWNER_TAG: heartbeat.owner(), SPACE_TAG: heartbeat.pid_space(),
                                         GRACE_TAG: f"{settings.grace_s:g}"})
    raw = getattr(client, "raw", client)  # a beat never waits for a server that went away (tracking.patience)
    with heartbeat.Beating(lambda now: raw.set_tag(run_id, HEARTBEAT_TAG, f"{now:.1f}"), settings.interval_s):
        yield


@contextmanager
def keep_alive(repo_root: Path, run_id: str, settings: heartbeat.Settings) -> Iterator[None]:
    """Beat on a run this process holds open outside ``open_run`` (a study's parent); an ``abandoned`` error left on
    it by an earlier session that died is dropped, since the run is alive again."""
    client = connect(repo_root)
    if client.get_run(run_id).data.tags.get(ERROR_TAG, "").startswith(ABANDONED):
        client.delete_tag(run_id, ERROR_TAG)
    with beating(client, run_id, settings):
        yield


def stale_reason(run) -> str | None:
    """Why a RUNNING run with heartbeat tags is dead, or None (alive, finished, or without tags)."""
    tags = run.data.tags
    if run.info.status != "RUNNING" or HEARTBEAT_TAG not in tags or OWNER_TAG not in tags:
        return None
    grace = float(tags.get(GRACE_TAG, heartbeat.Settings().grace_s))
    return heartbeat.stale_reason(tags[OWNER_TAG], tags.get(SPACE_TAG), float(tags[HEARTBEAT_TAG]), grace)


def get_run(client: MlflowClient, run_id: str):
    """The run, or a RunError naming the id and the store when there is none."""
    try:
        return client.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise RunError(f"no run {run_id!r} in {client.tracking_uri} ({exc.message.splitlines()[0]})") from exc


def refuse_if_busy(client: MlflowClient, run_id: str) -> None:
    """Refuse to resume a run that another live process is training (RunBusy names it and its last beat)."""
    run = get_run(client, run_id)
    tags = run.data.tags
    if run.info.status != "RUNNING" or HEARTBEAT_TAG not in tags or stale_reason(run) is not None:
        return
    if tags.get(OWNER_TAG) == heartbeat.owner() and tags.get(SPACE_TAG) == heartbeat.pid_space():
        return
    age = time.time() - float(tags[HEARTBEAT_TAG])
    raise RunBusy(f"run {run_id} is being trained by {tags[OWNER_TAG]} (last heartbeat {age:.0f} s ago): stop that "
                  "process or let it finish before resuming")


def close_stale_runs(repo_root: Path) -> list[tuple[str, str, str]]:
    """Mark every stale RUNNING run FAILED with the reason (``colorgan.error``); (run id, run name, reason) of each.
    A local store that does not exist yet is not created."""
    if not os.environ.get(paths.TRACKING_ENV) and not paths.mlflow_db(repo_root).is_file():
        return []
    client = connect(repo_root)
    closed = []
    for run in _running(client):
        reason = stale_reason(run)
        if reason is None:
            continue
        tags = {ERROR_TAG: f"{ABANDONED}{reason}; marked FAILED by {heartbeat.owner()}"}
        if run.data.tags.get(TRIAL_STATE_TAG) == "RUNNING":
            tags[TRIAL_STATE_TAG] = "FAIL"
        RunTracker(client, run.info.run_id).set_tags(tags)
        client.set_terminated(run.info.run_id, "FAILED")
        closed.append((run.info.run_id, run.info.run_name or "", reason))
    return closed


def _running(client: MlflowClient) -> list:
    """Every RUNNING run of every experiment."""
    ids, token = [], None
    while True:
        page = client.search_experiments(max_results=1000, page_token=token)
        ids += [e.experiment_id for e in page]
        token = page.token
        if not token:
            break
    runs = []
    for start in range(0, len(ids), 100):
        token = None
        while True:
            page = client.search_runs(ids[start:start + 100], "attributes.status = 'RUNNING'", max_results=1000,
                                      page_token=token)
            runs += list(page)
            token = page.token
            if not token:
                break
    return runs
