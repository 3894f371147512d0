"""Trained generators found again in MLflow: a run, a registered version or alias -> the Keras model and its config.

`evaluate`, `colorize`, `publish` and `serve` all start from a model reference; this is the one place that
turns a reference into (generator, config), so every command accepts the same forms.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.tracking import MlflowClient

from colorgan import config as config_mod
from colorgan import paths
from colorgan.tracking import connect, resolved_config


class ModelRefError(config_mod.UsageError):
    """A model reference that names nothing usable; the message says which forms are accepted."""


REF_FORMS = "RUN_ID, runs:/RUN_ID, models:/NAME/VERSION, models:/NAME@ALIAS or study:NAME"
SOURCE_RUN_TAG = "colorgan.source_run"  # on a publish run: the training run whose generator it published


@dataclass(frozen=True)
class LoadedGenerator:
    generator: object  # keras.Model: L (in [-1, 1]) -> target channels (a*b*, or RGB for the rgb variant)
    cfg: config_mod.Config
    run_id: str
    model_uri: str


def source_run(ref: str, repo_root: Path) -> tuple[str, str]:
    """(run id, model URI) for any accepted reference form; raises ModelRefError naming the problem."""
    client = connect(repo_root)
    try:
        if ref.startswith("models:/"):
            name_version = ref.removeprefix("models:/")
            if "@" in name_version:
                name, alias = name_version.split("@", 1)
                version = client.get_model_version_by_alias(name, alias)
            else:
                name, _, number = name_version.partition("/")
                version = client.get_model_version(name, number)
            source = client.get_run(version.run_id).data.tags.get(SOURCE_RUN_TAG)
            if source:  # a version `publish` registered: the pyfunc of a publish run; the generator is its source's
                return source_run(source, repo_root)
            return version.run_id, ref
        run_id = ref.removeprefix("runs:/").split("/")[0]
        run = client.get_run(run_id)
    except mlflow.exceptions.MlflowException as exc:
        raise ModelRefError(f"no model found for {ref!r} ({exc.message.splitlines()[0]}); use {REF_FORMS}") from exc
    uri = run.data.tags.get("colorgan.model_uri")
    if not uri:
        raise ModelRefError(f"run {run_id} has no generator logged (did it finish?); use a FINISHED training run")
    return run_id, uri


def run_config(client: MlflowClient, run_id: str) -> config_mod.Config:
    """The resolved config a run trained with (its RESOLVED_CONFIG artifact)."""
    return config_mod.build(resolved_config(client, run_id))


def load_generator(ref: str, repo_root: Path) -> LoadedGenerator:
    """Any reference form (``study:NAME`` is turned into a run id by the CLI, via colorgan.studies, first)."""
    run_id, uri = source_run(ref, repo_root)
    client = connect(repo_root)
    with tempfile.TemporaryDirectory() as tmp:  # fetched through this store's client, then loaded from disk
        try:
            local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp,
                                                        tracking_uri=client.tracking_uri)
            generator = mlflow.keras.load_model(local)
        except (mlflow.exceptions.MlflowException, OSError) as exc:
            why = (exc.message if isinstance(exc, mlflow.exceptions.MlflowException) else str(exc)).splitlines()[0]
            raise ModelRefError(f"{ref}: the generator of run {run_id} ({uri}) cannot be loaded: its artifacts are "
                                f"missing or damaged ({why})") from exc
    return LoadedGenerator(generator, run_config(client, run_id), run_id, uri)


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
