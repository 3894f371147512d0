"""``make ui``: the MLflow UI over the local store, one server worker, and the address of each experiment's runs.

Where MLflow 3.17's UI lands (read in its JS, ``mlflow/server/js/build``): an experiment opens on the tab of
the browser's "workflow type", the sidebar's GenAI | Model training switch, kept in the browser's local
storage (``mlflow.workflowType``, GenAI when unset: the "Overview" of traces). The experiment tag
``mlflow.experimentKind`` is not read for this since the switch exists, and no server flag or environment
variable sets it. Two things in the URL do, and ``runs_url`` uses both:

- ``workflowType=machine_learning`` opens the page as "Model training";
- ``viewStateShareKey=KEY`` applies the view saved in the experiment tag ``mlflow.sharedViewState.KEY`` (what
  the UI's "share view" writes). A study saves one (``save_runs_view``): its runs nested as MLflow nests them (by
  the tag ``mlflow.parentRunId``: the study's parent, each trial's run under it, a trial's seed runs under that),
  and its columns first, in order.

What the saved view can set, read in the same JS: the search facets (``orderByKey``, ``orderByAsc``,
``searchFilter``, ...) and the table's UI state (``selectedColumns``, ``columnOrder``, ``columnWidths``, ...), but
not which rows are expanded (``runsExpanded`` is dropped from a shared view): the link opens on the study's parent
row folded, and its expander, then each trial's, shows the trials and their seeds. The table nests runs only when
sorted by start time with no search filter (``nestChildren``: sorted by a metric, it lists every run flat, seed
runs and all), so the view sorts oldest first (trial 0 first). ``selectedColumns`` picks columns but not their
order, which ``columnOrder`` (column ids, as ``metrics.`KEY```) gives: without it the metrics come in the order
the UI gathers their keys (alphabetical in tests/tracking/test_ui.py's study). The UI shows a metric's value as
logged, all its digits, so a study logs its trials' figures rounded (studies.summaries.trial_figures).

In a browser with no URL from here, one click on "Model training" (top of the sidebar) shows runs; the
browser remembers it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from colorgan.base import paths
from colorgan.tracking.store import connect
from colorgan.tracking.tags import SHARED_VIEW_PREFIX

VIEW_KEY = "colorgan"  # the key of colorgan's saved runs view (tag SHARED_VIEW_PREFIX + VIEW_KEY)
START_TIME = "attributes.start_time"  # the one sort under which the runs table nests runs (the UI's "Created")
START_TIMEOUT_S = 180.0


def runs_url(base: str, experiment_id: str, with_view: bool = False) -> str:
    """The runs table of an experiment as "Model training", with its saved view when it has one."""
    query = "workflowType=machine_learning" + (f"&viewStateShareKey={VIEW_KEY}" if with_view else "")
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def save_runs_view(repo_root: Path, experiment_id: str, metrics: list[str], params: list[str],
                   tags: list[str]) -> None:
    """The experiment's saved runs view: runs nested under their parents, oldest first, and these columns first
    (after the run's name and start), in this order; each metric column wide enough for its key."""
    columns = ([f"metrics.`{m}`" for m in metrics] + [f"params.`{p}`" for p in params]
               + [f"tags.`{t}`" for t in tags])
    view = {"orderByKey": START_TIME, "orderByAsc": True, "selectedColumns": columns, "columnOrder": columns,
            "columnWidths": {f"metrics.`{m}`": max(100, 6 * len(m) + 24) for m in metrics}}
    connect(repo_root).set_experiment_tag(experiment_id, SHARED_VIEW_PREFIX + VIEW_KEY, json.dumps(view))


def experiment_urls(repo_root: Path, base: str) -> list[tuple[str, str]]:
    """(name, runs URL) of every experiment holding runs, the most recently updated first."""
    client = connect(repo_root)
    found = []
    for exp in client.search_experiments(order_by=["last_update_time DESC"]):
        if client.search_runs([exp.experiment_id], max_results=1):
            found.append((exp.name, runs_url(base, exp.experiment_id, SHARED_VIEW_PREFIX + VIEW_KEY in exp.tags)))
    return found


SERVER_ENV = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner: 8 processes of GenAI jobs, ~2 GB


def server_command(repo_root: Path, host: str, port: int, workers: int = 1) -> list[str]:
    """``mlflow server`` over the project's local store: one worker serves one user (MLflow's default is four),
    and, with SERVER_ENV, none of the job-runner processes MLflow starts for its GenAI features (judges, trace
    scoring), which the runs of this project never use."""
    db = paths.mlflow_db(repo_root)
    return [str(Path(sys.executable).parent / "mlflow"), "server", "--host", host, "--port", str(port),
            "--workers", str(workers), "--backend-store-uri", paths.sqlite_url(db),
            "--default-artifact-root", str(paths.artifacts_beside(db).resolve())]


def wait_until_up(base: str, proc: subprocess.Popen, timeout_s: float = START_TIMEOUT_S) -> float:
    """Seconds until ``base``/health answers; RuntimeError if the server exits or the time runs out first."""
    started = time.time()
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as reply:
                if reply.status == 200:
                    return time.time() - started
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with code {proc.returncode} before answering")
        if time.time() - started > timeout_s:
            raise RuntimeError(f"mlflow server did not answer on {base} within {timeout_s:.0f} s")
        time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m colorgan.tracking.ui", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="the interface to listen on (default: this machine only)")
    parser.add_argument("--port", type=int, default=5000, help="the port to listen on (default 5000)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (default 1: one user)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the server's log (default: a file)")
    args = parser.parse_args(argv)
    root = paths.repo_root()
    paths.artifacts_beside(paths.mlflow_db(root)).mkdir(parents=True, exist_ok=True)
    log = paths.cache_dir(root) / "mlflow-ui.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    base = f"http://{args.host}:{args.port}"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a `kill` stops the server too (the finally below)
    with open(log, "w") as out:
        sink = {} if args.verbose else {"stdout": out, "stderr": subprocess.STDOUT}
        # Its own process group: `mlflow server` starts uvicorn as a child, and both must end with this command.
        proc = subprocess.Popen(server_command(root, args.host, args.port, args.workers), **sink,
                                env={**SERVER_ENV, **os.environ}, start_new_session=True)
        try:
            seconds = wait_until_up(base, proc)
            print(f"MLflow UI on {base} (answered after {seconds:.0f} s; {args.workers} worker; "
                  f"server log {'above' if args.verbose else log}; Ctrl-C stops it)", flush=True)
            print_runs_views(root, base)
            return proc.wait()
        except RuntimeError as exc:
            print(f"colorgan ui: error: {exc}" + ("" if args.verbose else f"; see {log}"), file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
        finally:
            stop(proc)


def stop(proc: subprocess.Popen, grace_s: float = 30.0) -> None:
    """End the server's whole process group: SIGTERM, then SIGKILL after ``grace_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def print_runs_views(root: Path, base: str) -> None:
    urls = experiment_urls(root, base)
    if not urls:
        print("no runs yet: make study NAME=lr_sweep (or make train) logs some")
        return
    print("The runs of each experiment (a study's trials under its run, each trial's seeds under it); without these "
          "links, pick \"Model training\" at the top of the sidebar, or MLflow opens an experiment on its GenAI "
          "overview:")
    width = max(len(name) for name, _ in urls)
    for name, url in urls:
        print(f"  {name:<{width}}  {url}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
