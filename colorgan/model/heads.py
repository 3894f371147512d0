"""What the heads fitted on a frozen generator after training share (model.confidence, model.colorbins): the
trunk that reads the generator, and the loop that fits a head's weights alone."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import keras
import tensorflow as tf
from keras import layers

from colorgan.base.config import ConfigError

LEARNING_RATE = 1e-3
F32 = "float32"  # heads are small: full precision costs nothing and keeps their outputs exact


def trunk(generator: keras.Model, prefix: str, key: str, width: int, last_width: int) -> tf.Tensor:
    """The U-Net's last decoder features through two convolutions of ``width`` channels, upsampled to the image,
    beside the L* image and the generator's a*b*, through one more of ``last_width``: the features a head reads.
    Every layer is named ``prefix``_*, so the head's weights are theirs; ``key`` names the config key in the error
    for a generator without U-Net skips."""
    skips = [layer for layer in generator.layers if layer.name.endswith("_skip")]
    if not skips:
        raise ConfigError(f"{key}: generator {generator.name!r} has no U-Net skip features to read")
    l_in, ab = generator.input, generator.output
    x = layers.Activation("linear", dtype=F32, name=f"{prefix}_features")(skips[-1].output)
    x = layers.Conv2D(width, 3, padding="same", activation="relu", dtype=F32, name=f"{prefix}_conv1")(x)
    x = layers.Conv2D(width, 3, padding="same", dilation_rate=2, activation="relu", dtype=F32,
                      name=f"{prefix}_conv2")(x)
    x = layers.UpSampling2D(l_in.shape[1] // x.shape[1], interpolation="bilinear", dtype=F32, name=f"{prefix}_up")(x)
    x = layers.Concatenate(dtype=F32, name=f"{prefix}_inputs")([x, l_in, ab])
    return layers.Conv2D(last_width, 3, padding="same", activation="relu", dtype=F32, name=f"{prefix}_conv3")(x)


def table_csv(rows: list[dict]) -> str:
    """A head's calibration table (one dict per candidate, the same keys) as CSV; None is an empty cell."""
    keys = list(rows[0])
    return "\n".join([",".join(keys)] + [",".join("" if r[k] is None else f"{r[k]:.6g}" for k in keys)
                                         for r in rows]) + "\n"


def variables(model: keras.Model, prefix: str) -> list:
    """The trainable weights of a head's layers (named ``prefix``_*): all that its fit moves."""
    return [v for layer in model.layers if layer.name.startswith(prefix) for v in layer.trainable_weights]


def fit(weights: list, batch_loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], dataset: tf.data.Dataset,
        epochs: int, key: str, what: str) -> float:
    """Adam on ``weights`` alone against ``batch_loss(l_in, ab)`` over ``epochs`` passes of ``dataset``; returns the
    last batch's loss, or raises ConfigError (one line from the CLI) naming ``key`` if it is not finite."""
    optimizer = keras.optimizers.Adam(LEARNING_RATE)

    @tf.function(reduce_retracing=True)
    def step(l_in, ab):
        with tf.GradientTape() as tape:
            loss = batch_loss(l_in, ab)
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
        return loss

    loss = float("nan")
    for _ in range(epochs):
        for l_in, ab in dataset:
            loss = float(step(l_in, ab))
    if not math.isfinite(loss):
        raise ConfigError(f"{key}: the {what}'s loss became {loss}; the run logs no model")
    return loss


def log_calibration(tracker, calibration, prefix: str, artifact: str, loss: float, cpu_start: float, step: int,
                    allowance: float, announce: bool) -> None:
    """What a head's fit and calibration found, logged at ``step``: its table (``artifact``), its figures, its last
    batch's loss and the CPU seconds since ``cpu_start``; its line printed when ``announce``."""
    tracker.log_text(calibration.csv(), artifact)
    tracker.log_metrics({**calibration.figures(), f"{prefix}/train_loss": loss,
                         f"{prefix}/cpu_seconds": time.process_time() - cpu_start}, step)
    if announce:
        print(calibration.line(allowance), flush=True)
