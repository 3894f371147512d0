"""GAN and reconstruction losses. All take logits and return float32 scalars."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from colorgan.data import color

_SMOOTHING_SIGMA = 1.0  # bins: Zhang et al.'s smoothing of the prior, in the unit of the grid itself


def _bce(logits: tf.Tensor, target: float) -> tf.Tensor:
    logits = tf.cast(logits, tf.float32)
    labels = tf.fill(tf.shape(logits), tf.constant(target, tf.float32))
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor, smoothing: float,
                       mode: str = "one_sided") -> tf.Tensor:
    """BCE on real and fake patches, averaged (pix2pix halves D's loss to slow it relative to G).

    One-sided smoothing (Salimans et al. 2016) only softens the real target to 1-s; the two-sided variant
    the original report used also lifts the fake target to s.
    """
    real, fake = discriminator_parts(real_logits, fake_logits, smoothing, mode)
    return 0.5 * (real + fake)


def discriminator_parts(real_logits: tf.Tensor, fake_logits: tf.Tensor, smoothing: float,
                        mode: str = "one_sided") -> tuple[tf.Tensor, tf.Tensor]:
    """(BCE on the real patches, BCE on the fake ones): the two halves of discriminator_loss, logged apart so a
    curve shows which side the critic is losing on."""
    if mode not in ("one_sided", "two_sided"):
        raise ValueError(f"unknown smoothing mode {mode!r}")
    fake_target = smoothing if mode == "two_sided" else 0.0
    return _bce(real_logits, 1.0 - smoothing), _bce(fake_logits, fake_target)


def adversarial_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """The generator wants its fakes called real (non-saturating loss, unsmoothed target 1)."""
    return _bce(fake_logits, 1.0)


def reconstruction_loss(target: tf.Tensor, prediction: tf.Tensor, kind: str = "l1",
                        weights: tf.Tensor | None = None) -> tf.Tensor:
    """Mean absolute (L1) or squared (L2) error between the true and predicted colour channels.

    ``weights`` (a [bins, bins] table over the a*b* plane, see rebalance_weights) weights each pixel's error by
    the entry of its TRUE a*b* cell, so rare colours count more (Zhang et al. 2016's class rebalancing)."""
    diff = tf.cast(prediction, tf.float32) - tf.cast(target, tf.float32)
    if kind == "l1":
        err = tf.abs(diff)
    elif kind == "l2":
        err = tf.square(diff)
    else:
        raise ValueError(f"unknown reconstruction loss {kind!r}")
    if weights is not None:
        table = tf.convert_to_tensor(weights, tf.float32)
        cells = color.ab_bin(target, int(table.shape[0]))
        err = err * tf.gather(tf.reshape(table, [-1]), cells)[..., tf.newaxis]
    return tf.reduce_mean(err)


def colorfulness_loss(rgb: tf.Tensor, true_rgb: tf.Tensor | None = None, kind: str = "ddcolor") -> tf.Tensor:
    """A colourfulness term on the decoded RGB, averaged over the batch, with CF Hasler & Suesstrunk's
    (color.colorfulness, the metric's own formula). "ddcolor" is DDColor's (Kang et al., ICCV 2023), 1 - CF/100:
    it rewards colour unconditionally, so its weight (config ``colorfulness_weight``) sets how far it may pull the
    generator away from L1's pale conditional mean, on every photo alike. "match" is |CF - CF of the photo| / 100:
    each photo's own colourfulness as the target, the per-photo gap the metrics report, made a loss."""
    cf = color.colorfulness(rgb)
    if kind == "ddcolor":
        return tf.reduce_mean(1.0 - cf / 100.0)
    if kind == "match":
        return tf.reduce_mean(tf.abs(cf - color.colorfulness(true_rgb)) / 100.0)
    raise ValueError(f"unknown colourfulness loss {kind!r}")


def saturate_ab(ab: tf.Tensor, factor: float) -> tf.Tensor:
    """a*b* in network units scaled by ``factor`` and kept in [-1, 1]: the saturation-boosted real photos a critic
    may be shown (config ``critic_real_saturation``) so that the colour it calls real is at least the photos'."""
    if factor == 1.0:
        return ab
    return tf.clip_by_value(tf.cast(ab, tf.float32) * factor, -1.0, 1.0)


def _smooth(p: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D histogram (zeros outside the plane), truncated at 4 sigma."""
    radius = int(np.ceil(4 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    rows = np.apply_along_axis(lambda v: np.convolve(v, kernel)[radius:radius + len(v)], 0, p)
    return np.apply_along_axis(lambda v: np.convolve(v, kernel)[radius:radius + len(v)], 1, rows)


def rebalance_weights(counts: np.ndarray, mix: float) -> tuple[np.ndarray, np.ndarray]:
    """(smoothed prior p, weights w), both [bins, bins], from pixel counts per a*b* cell (Zhang et al. 2016, eq. 4):
    w = 1 / ((1 - mix) * p + mix / Q) with Q the cells the data occupies, normalised so that E_p[w] = 1.
    mix = 1 gives w = 1 everywhere (the plain loss); at mix = 0 a cell of prior 0 gets the largest weight."""
    counts = np.asarray(counts, np.float64)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1] or counts.sum() <= 0:
        raise ValueError(f"rebalance needs a square histogram with some pixels, got shape {counts.shape}")
    p = _smooth(counts / counts.sum(), _SMOOTHING_SIGMA)
    p /= p.sum()
    q_used = np.count_nonzero(counts)
    denom = (1.0 - mix) * p + mix / q_used
    w = np.divide(1.0, denom, out=np.zeros_like(p), where=denom > 0)
    w[denom <= 0] = w.max()
    w /= np.sum(p * w)
    return p, w.astype(np.float32)
