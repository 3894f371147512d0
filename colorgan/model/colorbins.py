"""The colour-bins head (config ``bins_epochs``, recipe round 3): a model of the colour distribution beside the
regression (Zhang et al., "Colorful Image Colorization", ECCV 2016), so that the model can paint a vivid colour
where an L1 regression paints the pale mean of the colours a pixel might have.

After training, a small network on the frozen generator (its last decoder features, the L* image and its a*b*)
gives every pixel a distribution over the cells of the rebalancing grid (``rebalance_bins`` squared cells over the
a*b* plane), fitted by cross-entropy to the true cell with Zhang et al.'s class rebalancing (the run's
``recon_weighting = "rebalance"`` table: rare colours weigh more) over ``bins_epochs`` passes of the training
split. It is decoded by Zhang et al.'s annealed mean: the mean of the cell centres under softmax(logits / T), where
T = 1 is the distribution's mean (pale, like L1) and T -> 0 its mode (vivid, sometimes wrong). What to use is set
on the eval split alone: every (T, mix) of CANDIDATES, the output being (1 - mix) * the regression's a*b* + mix *
the annealed mean; the one with the smallest colourfulness gap among those whose pooled PSNR is within
``bins_psnr_allowance`` dB of the generator's own, or the generator alone when none narrows the gap. T is folded
into the logit layer and mix into a fixed 1x1 convolution, so the model logged is one plain Keras model of
standard layers that every command loads as it loads a generator.
"""

from __future__ import annotations

import math
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

TEMPERATURES = (1.0, 0.6, 0.38, 0.2)  # Zhang et al. chose 0.38 by eye; here the eval split chooses
MIXES = (0.5, 1.0)  # the share of the annealed mean in the output (the rest: the regression's a*b*)
CANDIDATES = tuple((t, m) for t in TEMPERATURES for m in MIXES)
WIDTH = 64  # the head's channels
PREFIX = "bins"  # every layer of the head is named bins_*
LOGIT_LAYER = f"{PREFIX}_logit"
MEAN_LAYER = f"{PREFIX}_mean"  # a fixed 1x1 convolution: probabilities -> the mean of the cell centres
MIX_LAYER = f"{PREFIX}_mix"  # a fixed 1x1 convolution: [regression a*b*, annealed mean] -> the output a*b*
CALIBRATION_ARTIFACT = "bins/calibration.csv"
F32 = heads.F32


@dataclass(frozen=True)
class Calibration:
    chosen_index: int  # into rows; 0 = the generator alone
    rows: list[dict]  # temperature, mix (None, None for the generator alone), pooled PSNR, PSNR mean, CF, gap, ΔCF

    @property
    def used(self) -> bool:
        return self.chosen_index != 0

    @property
    def chosen(self) -> dict:
        return self.rows[self.chosen_index]

    def figures(self) -> dict[str, float]:
        alone, chosen = self.rows[0], self.chosen
        out = {f"{PREFIX}/used": float(self.used), f"{PREFIX}/eval_psnr": chosen["psnr"],
               f"{PREFIX}/eval_colorfulness_gap": chosen["colorfulness_gap"],
               f"{PREFIX}/eval_colorfulness_delta": chosen["colorfulness_delta"],
               f"{PREFIX}/eval_psnr_alone": alone["psnr"],
               f"{PREFIX}/eval_colorfulness_gap_alone": alone["colorfulness_gap"]}
        if self.used:
            out |= {f"{PREFIX}/temperature": chosen["temperature"], f"{PREFIX}/mix": chosen["mix"]}
        return out

    def line(self, allowance: float) -> str:
        alone, chosen = self.rows[0], self.chosen
        if not self.used:
            return (f"colour-bins head: not used (no temperature narrowed the eval gap within a PSNR allowance of "
                    f"{allowance:g} dB); eval PSNR {alone['psnr']:.2f} dB, gap {alone['colorfulness_gap']:.1f}")
        return (f"colour-bins head: T {chosen['temperature']:g}, mix {chosen['mix']:g}; eval PSNR {alone['psnr']:.2f} "
                f"-> {chosen['psnr']:.2f} dB, gap {alone['colorfulness_gap']:.1f} -> {chosen['colorfulness_gap']:.1f}, "
                f"ΔCF {alone['colorfulness_delta']:+.1f} -> {chosen['colorfulness_delta']:+.1f}")

    def csv(self) -> str:
        return heads.table_csv(self.rows)


def train_head(generator: keras.Model, cfg: Config, weights: np.ndarray, train: tf.data.Dataset,
               eval_split: tf.data.Dataset, tracker, step: int, announce: bool = True) -> keras.Model:
    """The model a run with ``bins_epochs`` logs: ``generator`` with its fitted, calibrated head (or ``generator``
    itself when no candidate qualifies). Logs the calibration table and figures at ``step``."""
    cpu = time.process_time()
    model = attach(generator, cfg.rebalance_bins)
    loss = fit(model, train, cfg.bins_epochs, weights)
    calibration = calibrate(model, eval_split, cfg.bins_psnr_allowance)
    heads.log_calibration(tracker, calibration, PREFIX, CALIBRATION_ARTIFACT, loss, cpu, step,
                          cfg.bins_psnr_allowance, announce)
    if not calibration.used:
        return generator
    return fold(model, calibration.chosen["temperature"], calibration.chosen["mix"])


def centres(bins: int) -> np.ndarray:
    """[bins * bins, 2]: the a*b* (network units) of each cell's centre, in color.ab_bin's order."""
    axis = color.bin_centres(bins)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1).astype(np.float32)


def attach(generator: keras.Model, bins: int) -> keras.Model:
    """The generator with the head on top: L* in, a*b* out (at first the regression's own: mix 0)."""
    l_in, ab = generator.input, generator.output
    x = heads.trunk(generator, PREFIX, "bins_epochs", WIDTH, WIDTH)
    logits = layers.Conv2D(bins * bins, 1, dtype=F32, name=LOGIT_LAYER)(x)
    p = layers.Softmax(axis=-1, dtype=F32, name=f"{PREFIX}_p")(logits)
    mean = layers.Conv2D(2, 1, use_bias=False, trainable=False, dtype=F32, name=MEAN_LAYER)(p)
    both = layers.Concatenate(dtype=F32, name=f"{PREFIX}_both")([ab, mean])
    out = layers.Conv2D(2, 1, use_bias=False, trainable=False, dtype=F32, name=MIX_LAYER)(both)
    model = keras.Model(l_in, out, name=f"{generator.name}_{PREFIX}")
    model.get_layer(MEAN_LAYER).set_weights([centres(bins)[np.newaxis, np.newaxis]])
    set_mix(model, 0.0)
    return model


def set_mix(model: keras.Model, mix: float) -> None:
    kernel = np.zeros((1, 1, 4, 2), np.float32)
    kernel[0, 0, [0, 1], [0, 1]] = 1.0 - mix
    kernel[0, 0, [2, 3], [0, 1]] = mix
    model.get_layer(MIX_LAYER).set_weights([kernel])


def head_variables(model: keras.Model) -> list:
    return heads.variables(model, PREFIX)


def fit(model: keras.Model, dataset: tf.data.Dataset, epochs: int, weights: np.ndarray) -> float:
    """Fit the head's logits to each pixel's true a*b* cell by rebalanced cross-entropy over ``epochs`` passes of
    ``dataset`` ((L, ab) batches); the generator's weights are left as they are. Returns the last batch's loss."""
    logits_of = keras.Model(model.input, model.get_layer(LOGIT_LAYER).output)
    table = tf.constant(np.asarray(weights, np.float32).reshape(-1))
    bins = int(round(math.sqrt(int(table.shape[0]))))

    def batch_loss(l_in, ab):
        cells = color.ab_bin(ab, bins)
        logits = tf.cast(logits_of(l_in, training=False), tf.float32)
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=cells, logits=logits)
        return tf.reduce_mean(ce * tf.gather(table, cells))

    return heads.fit(head_variables(model), batch_loss, dataset, epochs, "bins_epochs", "colour-bins head")


def annealed_mean(logits: tf.Tensor, temperature: float, bins: int) -> tf.Tensor:
    """Zhang et al.'s decoding: the mean of the cell centres under softmax(logits / T)."""
    p = tf.nn.softmax(tf.cast(logits, tf.float32) / temperature, axis=-1)
    return tf.einsum("...k,kc->...c", p, tf.constant(centres(bins)))


def calibrate(model: keras.Model, dataset: tf.data.Dataset, psnr_allowance: float) -> Calibration:
    """Score the generator alone and every candidate on ``dataset`` (the eval split) and pick one (module doc)."""
    parts = keras.Model(model.input, [model.get_layer(LOGIT_LAYER).output, model.get_layer(f"{PREFIX}_both").input[0]])
    bins = int(round(math.sqrt(model.get_layer(LOGIT_LAYER).filters)))
    candidates = [None, *CANDIDATES]
    accs = [metrics.QualityAccumulator() for _ in candidates]
    for l_in, ab_true in dataset:
        logits, ab = parts(l_in, training=False)
        ab = tf.cast(ab, tf.float32)
        true = color.decode(l_in, ab_true, "lab")
        accs[0].update(metrics.image_scores(color.decode(l_in, ab, "lab"), true))
        for temperature in TEMPERATURES:
            annealed = annealed_mean(logits, temperature, bins)
            for mix in MIXES:
                out = (1.0 - mix) * ab + mix * annealed
                index = 1 + CANDIDATES.index((temperature, mix))
                accs[index].update(metrics.image_scores(color.decode(l_in, out, "lab"), true))
    rows = []
    for candidate, acc in zip(candidates, accs, strict=True):
        s = metrics.summarise(acc.per_image())
        temperature, mix = candidate or (None, None)
        rows.append({"temperature": temperature, "mix": mix, "psnr": s["psnr"], "psnr_mean": s["psnr_mean"],
                     "colorfulness": s["colorfulness"], "colorfulness_gap": s["colorfulness_gap"],
                     "colorfulness_delta": s["colorfulness_delta"]})
    floor = rows[0]["psnr"] - psnr_allowance
    allowed = [i for i, r in enumerate(rows) if i and r["psnr"] >= floor
               and r["colorfulness_gap"] < rows[0]["colorfulness_gap"]]
    return Calibration(min(allowed, key=lambda i: rows[i]["colorfulness_gap"], default=0), rows)


def fold(model: keras.Model, temperature: float, mix: float) -> keras.Model:
    """Divide the logit layer by ``temperature`` and set the output's ``mix``: the calibrated model."""
    logit = model.get_layer(LOGIT_LAYER)
    kernel, bias = logit.get_weights()
    logit.set_weights([kernel / np.float32(temperature), bias / np.float32(temperature)])
    set_mix(model, mix)
    return model
