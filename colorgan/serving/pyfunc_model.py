"""What the registered model does: the full-resolution colorize path (colorgan.serving.colorize) behind MLflow's pyfunc
(colorgan.tracking.pyfunc, the adapter, which hands each input to ``ColorizerPredictor``).

Inputs ``predict`` accepts (any size, any number):

- a uint8 array HxW (gray) or HxWx3 (colour: only its L* is used) -> a uint8 RGB array HxWx3;
- a list of such arrays -> a list of RGB arrays;
- a DataFrame with a string column ``image`` holding base64-encoded image files (PNG, JPEG, WebP, BMP, TIFF) ->
  a DataFrame with a column ``image`` of base64-encoded PNGs of the same sizes. This is the form for
  ``mlflow models serve``: POST /invocations ``{"dataframe_records": [{"image": "<base64>"}, ...]}``
  (or ``{"inputs": {"image": [...]}}``); nested uint8 lists (``{"inputs": [[...], ...]}``) work too.

The model logs no signature on purpose: a single MLflow signature cannot describe "an array of any rank-2/3
shape" next to "a column of encoded files", and enforcing one would refuse one of the two forms.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from colorgan.data.images import read_image
from colorgan.serving.colorize import Colorizer, png_bytes

IMAGE_COLUMN = "image"
PREDICTOR = f"{__name__}:ColorizerPredictor"  # what registry.log_pyfunc records for the adapter to load


class ColorizerPredictor:
    """The generator applied at full resolution; model_config: image_size, color_space."""

    def __init__(self, generator, model_config: dict):
        self.colorizer = Colorizer(generator, int(model_config["image_size"]), str(model_config["color_space"]))

    def __call__(self, model_input):
        if isinstance(model_input, pd.DataFrame):
            if IMAGE_COLUMN not in model_input.columns:
                raise ValueError(f"expected a column {IMAGE_COLUMN!r} of base64-encoded image files")
            out = [base64.b64encode(png_bytes(self.colorizer(read_image(base64.b64decode(value))))).decode("ascii")
                   for value in model_input[IMAGE_COLUMN]]
            return pd.DataFrame({IMAGE_COLUMN: out})
        if isinstance(model_input, list):
            return [self.colorizer(np.asarray(image)) for image in model_input]
        return self.colorizer(np.asarray(model_input))
