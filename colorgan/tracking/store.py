"""Where the MLflow store is and the client that talks to it: every call names its store (the project root).

``connect`` returns a client of this project's store, also made MLflow's current store for its module-level API
(used only right after ``connect``: to start a run, log or load a model, register a version). A tracking
server's client waits when the server stops answering (patience). Used only inside this package.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

import colorgan.tracking.patience as patience
from colorgan.base import paths
from colorgan.base.errors import UsageError
from colorgan.tracking.tags import EXPERIMENT_KIND_TAG

RESOLVED_CONFIG = "config/resolved.toml"  # the run's full config, written once, read by --resume and models
MODEL_NAME = "generator"


class RunError(UsageError):
    """A run id that names no run, or a run that cannot be resumed; the message says which and why."""


def store_uri(repo_root: Path) -> str:
    """MLFLOW_TRACKING_URI if set, else the local store MLflow 3 recommends: SQLite + an artifacts folder."""
    if not os.environ.get(paths.TRACKING_ENV):
        paths.mlruns_dir(repo_root).mkdir(parents=True, exist_ok=True)
    return paths.mlflow_uri(repo_root)


def local_artifact_root(repo_root: Path) -> str | None:
    """Artifacts of the embedded store live beside its database; a tracking server decides for itself."""
    uri = store_uri(repo_root)
    if uri.startswith("sqlite:///"):
        return paths.artifacts_beside(Path(uri.removeprefix("sqlite:///"))).resolve().as_uri()
    return None


def local_stores(repo_root: Path) -> dict[str, Path]:
    """The folders an embedded store writes (its SQLite database's and its artifacts'), by name, for the free-space
    checks; empty for a tracking server, whose disk is its own."""
    uri = store_uri(repo_root)
    if not uri.startswith("sqlite:///"):
        return {}
    db = Path(uri.removeprefix("sqlite:///"))
    return {"the MLflow database": db.parent, "the MLflow artifacts": paths.artifacts_beside(db)}


def connect(repo_root: Path) -> MlflowClient:
    """A client of this project's store, also made MLflow's current store for its module-level API.
    mlflow.set_tracking_uri also exports MLFLOW_TRACKING_URI, which store_uri reads as the user's choice; it is put
    back as it was, so connecting to one project's store never pins every later connect (or subprocess) of this
    process to it. A tracking server's client waits for the server when it stops answering (patience)."""
    uri = store_uri(repo_root)
    if patience.is_server(uri):
        patience.quiet_mlflow_retries()
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    if before is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = before
    return patience.Patient(MlflowClient(uri), uri) if patience.is_server(uri) else MlflowClient(uri)


def patiently(client, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` (MLflow's module-level API) with the patience of ``client`` when it is a server's."""
    if isinstance(client, patience.Patient):
        return patience.call(client.server, fn, *args, **kwargs)
    return fn(*args, **kwargs)


def end_run(client, run_id: str, status: str) -> None:
    """End the active run. MLflow's end_run forgets the run before it tells the store, so it cannot be retried:
    a server's client (which waits) tells the server first."""
    if isinstance(client, patience.Patient):
        client.set_terminated(run_id, status)
        with suppress(Exception):
            mlflow.end_run(status)
    else:
        mlflow.end_run(status)


def experiment_id(name: str, repo_root: Path) -> str:
    """The id of an MLflow experiment, created (with the local artifact root) when missing."""
    client = connect(repo_root)
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name, artifact_location=local_artifact_root(repo_root),
                                        tags={EXPERIMENT_KIND_TAG: "custom_model_development"})
    except mlflow.exceptions.MlflowException:  # another worker created it first
        return client.get_experiment_by_name(name).experiment_id


def find_runs(client: MlflowClient, experiment_ids: list[str], tags: dict, *, status: str | None = None,
              order_by: tuple[str, ...] = (), max_results: int = 1) -> list:
    """Runs whose tags equal ``tags`` (and whose status is ``status``), in ``order_by``: how this package finds runs.

    An MLflow filter takes a quoted value verbatim, with no escape, so a value holding a quote or a backslash is
    matched with LIKE (each of those characters a one-character wildcard) and every run found is checked here.
    """
    clauses = [_tag_clause(key, str(value)) for key, value in tags.items()]
    query = " and ".join(clauses + ([f"attributes.status = '{status}'"] if status else []))
    found, token = [], None
    while len(found) < max_results:
        page = client.search_runs(list(experiment_ids), query, order_by=list(order_by), max_results=max_results,
                                  page_token=token)
        found += [run for run in page if all(run.data.tags.get(k) == str(v) for k, v in tags.items())]
        token = page.token
        if not token:
            break
    return found[:max_results]


def _tag_clause(key: str, value: str) -> str:
    if any(c in value for c in "'\"\\"):
        return f"tags.`{key}` LIKE '" + "".join("_" if c in "'\"\\" else c for c in value) + "'"
    return f"tags.`{key}` = '{value}'"

