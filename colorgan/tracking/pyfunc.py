"""The MLflow side of the registered model: a pyfunc that loads its run's Keras generator and hands every input
to the application's predictor, named in its model_config as "module:Class" (``predictor``; what the model does
and the inputs it takes: colorgan.serving.pyfunc_model). The adapter imports no application code.

The class keeps its name and module: the models registered before pickled it by this path, without a
``predictor``, and load the colorize predictor they were built around (``DEFAULT_PREDICTOR``).
"""

from __future__ import annotations

import importlib

import mlflow

DEFAULT_PREDICTOR = "colorgan.serving.pyfunc_model:ColorizerPredictor"  # for models registered without one
MOVED = {"colorgan.pyfunc_model": "colorgan.serving.pyfunc_model"}  # where a module named by older models lives now


class ColorizerModel(mlflow.pyfunc.PythonModel):
    """artifacts["generator"]: the training run's MLflow Keras model; model_config: the predictor's settings."""

    def load_context(self, context):
        generator = mlflow.keras.load_model(context.artifacts["generator"])
        cfg = dict(context.model_config)
        module, _, name = str(cfg.pop("predictor", DEFAULT_PREDICTOR)).partition(":")
        self.predictor = getattr(importlib.import_module(MOVED.get(module, module)), name)(generator, cfg)

    def predict(self, context, model_input, params=None):
        return self.predictor(model_input)
