"""The MLflow model registry: the pyfunc logged into a run, a registered version, its description and its alias.

What gets published and the model card are `colorgan.release.publish`'s; this module only talks to MLflow.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import keras
import mlflow
import numpy as np
import PIL

from colorgan.base import hardware
from colorgan.tracking.pyfunc import ColorizerModel
from colorgan.tracking.store import connect
from colorgan.tracking.tracker import RunTracker

PYFUNC_NAME = "colorizer"  # the pyfunc's name inside its run


def log_pyfunc(tracker: RunTracker, generator_uri: str, model_config: dict) -> str:
    """Log the pyfunc (colorgan.tracking.pyfunc) around a training run's generator into the tracker's run, which
    must be the active one (``open_run``'s: MLflow logs a model into the active run); ``model_config`` names its
    predictor ("module:Class") and that predictor's settings. Returns its model URI."""
    active = mlflow.active_run()
    if active is None or active.info.run_id != tracker.run_id:
        raise RuntimeError(f"log_pyfunc: run {tracker.run_id} is not the active run; open it with open_run")
    with tempfile.TemporaryDirectory() as tmp:
        generator_dir = mlflow.artifacts.download_artifacts(artifact_uri=generator_uri, dst_path=tmp,
                                                            tracking_uri=tracker.client.tracking_uri)
        info = mlflow.pyfunc.log_model(
            name=PYFUNC_NAME, python_model=ColorizerModel(), artifacts={"generator": generator_dir},
            model_config=model_config,
            pip_requirements=[hardware.tensorflow_requirement(), f"keras=={keras.__version__}",
                              f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}",
                              f"pillow=={PIL.__version__}", "colorgan"],
        )
    return info.model_uri


def register(root: Path, model_uri: str, name: str, tags: dict) -> str:
    """A new version of the registered model ``name`` (created when missing) from a logged model; its number."""
    connect(root)  # mlflow.register_model writes to the current store
    return str(mlflow.register_model(model_uri, name, tags=tags).version)


def describe(root: Path, name: str, version: str, text: str, run_id: str, artifact_file: str) -> None:
    """``text`` (markdown) as the description of the version and of the registered model, and as an artifact."""
    client = connect(root)
    client.log_text(run_id, text, artifact_file)
    client.update_model_version(name, version, description=text)
    client.update_registered_model(name, description=text)


def set_alias(root: Path, name: str, alias: str, version: str) -> None:
    connect(root).set_registered_model_alias(name, alias, version)
