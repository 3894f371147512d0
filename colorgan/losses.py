"""GAN and reconstruction losses. All take logits and return float32 scalars."""

from __future__ import annotations

import tensorflow as tf


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
    if mode not in ("one_sided", "two_sided"):
        raise ValueError(f"unknown smoothing mode {mode!r}")
    fake_target = smoothing if mode == "two_sided" else 0.0
    return 0.5 * (_bce(real_logits, 1.0 - smoothing) + _bce(fake_logits, fake_target))


def adversarial_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """The generator wants its fakes called real (non-saturating loss, unsmoothed target 1)."""
    return _bce(fake_logits, 1.0)


def reconstruction_loss(target: tf.Tensor, prediction: tf.Tensor, kind: str = "l1") -> tf.Tensor:
    """Mean absolute (L1) or squared (L2) error between the true and predicted colour channels."""
    diff = tf.cast(prediction, tf.float32) - tf.cast(target, tf.float32)
    if kind == "l1":
        return tf.reduce_mean(tf.abs(diff))
    if kind == "l2":
        return tf.reduce_mean(tf.square(diff))
    raise ValueError(f"unknown reconstruction loss {kind!r}")
