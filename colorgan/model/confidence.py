"""The confidence head (config ``confidence_epochs``): after training, a small network learns where the frozen
generator's a*b* go wrong and scales their chroma towards gray there, so that a subject the model does not know
is coloured less rather than wrongly (issue 22: no harm outside the landscapes).

It reads the U-Net's last decoder features, the L* image and the generator's a*b*, and gives every pixel a
factor k = sigmoid(logit) in (0, 1) that its a*b* are multiplied by. It is fitted on the training split to the
a*b* squared error with the generator frozen, so k is the shrink that the error asks for (PSNR's optimum). How
much of it to use is a trade (PSNR and caution against colour) set on the eval split alone: an offset added to
every logit (a larger offset shrinks less), the one of OFFSETS with the best pooled PSNR among those whose
colourfulness gap stays within ``confidence_gap_allowance`` of the generator's own; none of them qualifying
means the generator alone. The offset is folded into the last layer's bias, so the model logged is one plain
Keras model of standard layers that every command loads as it loads a generator.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from colorgan.base.config import Config
from colorgan.data import color
from colorgan.model import heads
from colorgan.scoring import metrics

OFFSETS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)  # logit offsets tried on the eval split (larger: less shrink)
INITIAL_LOGIT = 3.0  # the head starts near "keep the generator's colour" (sigmoid(3) = 0.95)
PREFIX = "confidence"  # every layer of the head is named confidence_*: the head's weights are theirs
LOGIT_LAYER = f"{PREFIX}_logit"
CALIBRATION_ARTIFACT = "confidence/calibration.csv"
F32 = heads.F32


@dataclass(frozen=True)
class Calibration:
    offset: float | None  # the chosen logit offset; None = no offset qualified: the generator alone
    rows: list[dict]  # one per candidate (the generator alone first): offset, pooled PSNR, gap, colourfulness

    @property
    def chosen(self) -> dict:
        return next(r for r in self.rows if r["offset"] == self.offset)

    def figures(self) -> dict[str, float]:
        """What the run logs: whether the head is used, its offset, the chosen candidate's eval-split figures and
        the generator's own (the offset is left out when the generator alone is kept)."""
        alone, chosen = self.rows[0], self.chosen
        return {f"{PREFIX}/used": float(self.offset is not None), f"{PREFIX}/offset": self.offset,
                f"{PREFIX}/eval_psnr": chosen["psnr"], f"{PREFIX}/eval_colorfulness_gap": chosen["colorfulness_gap"],
                f"{PREFIX}/eval_psnr_alone": alone["psnr"],
                f"{PREFIX}/eval_colorfulness_gap_alone": alone["colorfulness_gap"]}

    def line(self, allowance: float) -> str:
        alone, chosen = self.rows[0], self.chosen
        if self.offset is None:
            return (f"confidence head: not used (no offset raised the eval PSNR within a gap allowance of "
                    f"{allowance:g}); eval PSNR {alone['psnr']:.2f} dB, gap {alone['colorfulness_gap']:.1f}")
        return (f"confidence head: offset {self.offset:g}; eval PSNR {alone['psnr']:.2f} -> {chosen['psnr']:.2f} dB, "
                f"gap {alone['colorfulness_gap']:.1f} -> {chosen['colorfulness_gap']:.1f} (allowance {allowance:g})")

    def csv(self) -> str:
        return heads.table_csv(self.rows)


def train_head(generator: keras.Model, cfg: Config, train: tf.data.Dataset, eval_split: tf.data.Dataset,
               tracker, step: int, announce: bool = True) -> keras.Model:
    """The model a run with ``confidence_epochs`` logs: ``generator`` with its fitted, calibrated head (or
    ``generator`` itself when no offset qualifies). Logs the calibration table and figures at ``step``."""
    cpu = time.process_time()
    model = attach(generator)
    loss = fit(model, train, cfg.confidence_epochs)
    calibration = calibrate(model, eval_split, cfg.confidence_gap_allowance)
    heads.log_calibration(tracker, calibration, PREFIX, CALIBRATION_ARTIFACT, loss, cpu, step,
                          cfg.confidence_gap_allowance, announce)
    return generator if calibration.offset is None else fold(model, calibration.offset)


def attach(generator: keras.Model) -> keras.Model:
    """The generator with the head on top: L* in, a*b* times the per-pixel confidence out (new head weights)."""
    l_in, ab = generator.input, generator.output
    x = heads.trunk(generator, PREFIX, "confidence_epochs", 32, 16)
    logit = layers.Conv2D(1, 1, bias_initializer=keras.initializers.Constant(INITIAL_LOGIT), dtype=F32,
                          name=LOGIT_LAYER)(x)
    k = layers.Activation("sigmoid", dtype=F32, name=f"{PREFIX}_factor")(logit)
    out = layers.Multiply(dtype=F32, name=f"{PREFIX}_ab")([ab, k])
    return keras.Model(l_in, out, name=f"{generator.name}_{PREFIX}")


def head_variables(model: keras.Model) -> list:
    return heads.variables(model, PREFIX)


def fit(model: keras.Model, dataset: tf.data.Dataset, epochs: int) -> float:
    """Fit the head of ``attach``'s model to the a*b* squared error over ``epochs`` passes of ``dataset``
    ((L, ab) batches); the generator's weights are left as they are. Returns the last batch's loss."""
    def batch_loss(l_in, ab):
        return tf.reduce_mean(tf.square(tf.cast(model(l_in, training=False), tf.float32) - ab))

    return heads.fit(head_variables(model), batch_loss, dataset, epochs, "confidence_epochs", "confidence head")


def calibrate(model: keras.Model, dataset: tf.data.Dataset, gap_allowance: float) -> Calibration:
    """Score the generator alone and every offset on ``dataset`` (the eval split) and pick one (module doc)."""
    parts = keras.Model(model.input, [model.get_layer(LOGIT_LAYER).output, model.get_layer(f"{PREFIX}_ab").input[0]])
    candidates: list[float | None] = [None, *OFFSETS]
    accs = {c: metrics.QualityAccumulator() for c in candidates}
    for l_in, ab_true in dataset:
        logit, ab = (tf.cast(t, tf.float32) for t in parts(l_in, training=False))
        true = color.decode(l_in, ab_true, "lab")
        for c in candidates:
            shrunk = ab if c is None else ab * tf.sigmoid(logit + c)
            accs[c].update(metrics.image_scores(color.decode(l_in, shrunk, "lab"), true))
    rows = []
    for c in candidates:
        s = metrics.summarise(accs[c].per_image())
        rows.append({"offset": c, "psnr": s["psnr"], "psnr_mean": s["psnr_mean"],
                     "colorfulness": s["colorfulness"], "colorfulness_gap": s["colorfulness_gap"]})
    limit = rows[0]["colorfulness_gap"] + gap_allowance
    allowed = [r for r in rows[1:] if r["colorfulness_gap"] <= limit and r["psnr"] > rows[0]["psnr"]]
    best = max(allowed, key=lambda r: r["psnr"], default=rows[0])
    return Calibration(best["offset"], rows)


def fold(model: keras.Model, offset: float) -> keras.Model:
    """Add ``offset`` to the logit layer's bias: the calibrated model, one plain Keras model."""
    logit = model.get_layer(LOGIT_LAYER)
    kernel, bias = logit.get_weights()
    logit.set_weights([kernel, bias + np.float32(offset)])
    return model
