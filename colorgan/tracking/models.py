"""Trained generators found again in MLflow: a run, a registered version or alias -> the Keras model and its config.

The lookups behind colorgan.serving.references (which parses every reference once): a run's generator and config, a
registered version or alias -> its training run. Nothing here parses reference text.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from colorgan.base import config as config_mod
from colorgan.base import paths
from colorgan.base.errors import UsageError
from colorgan.tracking.runs import resolved_config
from colorgan.tracking.store import connect
from colorgan.tracking.tags import MODEL_URI_TAG, SOURCE_RUN_TAG


class LoggedModelError(UsageError):
    """A run or registered version whose logged generator cannot be found or loaded; the message says why."""


class NotFound(LoggedModelError):
    """No such run, registered model, version or alias in the store (colorgan.serving.references adds the kinds)."""


@dataclass(frozen=True)
class LoadedGenerator:
    generator: object  # keras.Model: L (in [-1, 1]) -> target channels (a*b*, or RGB for the rgb variant)
    cfg: config_mod.Config
    run_id: str
    model_uri: str


def _first_line(exc: mlflow.exceptions.MlflowException) -> str:
    return exc.message.splitlines()[0]


def registered_run(repo_root: Path, name: str, version: str = "", alias: str = "") -> tuple[str, str]:
    """(training run id, model URI) of ``models:/name/version`` or ``models:/name@alias``, already parsed by
    colorgan.serving.references. A version `publish` registered is a publish run's pyfunc: its generator is the training
    run's (tag SOURCE_RUN_TAG), so that run is returned with its own generator."""
    client = connect(repo_root)
    uri = f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}"
    try:
        found = client.get_model_version_by_alias(name, alias) if alias else client.get_model_version(name, version)
        source = client.get_run(found.run_id).data.tags.get(SOURCE_RUN_TAG)
    except mlflow.exceptions.MlflowException as exc:
        raise NotFound(f"no registered model version {uri} ({_first_line(exc)})") from exc
    return (source, run_model_uri(repo_root, source)) if source else (found.run_id, uri)


def run_model_uri(repo_root: Path, run_id: str) -> str:
    """The URI of the generator a training run logged (its tag MODEL_URI_TAG)."""
    try:
        run = connect(repo_root).get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise NotFound(f"no run {run_id} in the store ({_first_line(exc)})") from exc
    uri = run.data.tags.get(MODEL_URI_TAG)
    if not uri:
        raise LoggedModelError(f"run {run_id} has no generator logged (did it finish?); use a FINISHED training run")
    return uri


def trained_config(client: MlflowClient, run_id: str) -> config_mod.Config:
    """The resolved config a run trained with (its RESOLVED_CONFIG artifact)."""
    return config_mod.build(resolved_config(client, run_id))


def load_generator(run_id: str, repo_root: Path, uri: str | None = None) -> LoadedGenerator:
    """The generator (and config) of a training run, from ``uri`` (a registered version) or the run's own model;
    colorgan.serving.references.resolve turns every reference into these arguments."""
    uri = uri or run_model_uri(repo_root, run_id)
    client = connect(repo_root)
    with tempfile.TemporaryDirectory() as tmp:  # fetched through this store's client, then loaded from disk
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp,
                                                        tracking_uri=client.tracking_uri)
            generator = mlflow.keras.load_model(local)
        except (mlflow.exceptions.MlflowException, OSError) as exc:
            why = _first_line(exc) if isinstance(exc, mlflow.exceptions.MlflowException) else \
                (str(exc).splitlines() or [type(exc).__name__])[0]
            raise LoggedModelError(f"the generator of run {run_id} ({uri}) cannot be loaded: its artifacts are "
                                f"missing or damaged ({why})") from exc
    return LoadedGenerator(generator, trained_config(client, run_id), run_id, uri)


def alias_exists(repo_root: Path, name: str, alias: str) -> bool:
    """Whether ``models:/name@alias`` names a version. A local store that does not exist yet (a fresh clone) has
    none, and asking never creates it."""
    if not os.environ.get(paths.TRACKING_ENV) and not paths.mlflow_db(repo_root).is_file():
        return False
    try:
        connect(repo_root).get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):  # no such model / alias
            return False
        raise
    return True
