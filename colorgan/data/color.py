"""sRGB <-> CIE L*a*b* (D65) in TensorFlow ops, and the value ranges the networks see.

Written in plain TF so it runs inside tf.data and compiled graphs (tensorflow-io is unmaintained).
This module is the one place that knows how pixels map to network inputs and targets:
L* in [0, 100] -> [-1, 1]; a*, b* / AB_SCALE -> about [-1, 1]; RGB [0, 1] -> [-1, 1] for the RGB variant.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

L_MAX = 100.0
AB_SCALE = 128.0  # a*, b* of sRGB colours lie within about [-86, 98] x [-108, 95]: /128 keeps them in [-1, 1]

# sRGB (linear) -> XYZ, D65 white; the same matrix skimage uses.
# NumPy, not tf.constant: importing this module must not start the TF runtime (thread pools are set after).
_RGB_TO_XYZ = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
    dtype=np.float32,
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ).astype(np.float32)
_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float32)  # D65, 2-degree observer
_EPS = 216.0 / 24389.0  # CIE epsilon: (6/29)^3
_KAPPA = 24389.0 / 27.0


def _matmul3(x: tf.Tensor, matrix: tf.Tensor) -> tf.Tensor:
    return tf.tensordot(x, matrix.T, axes=1)


def rgb_to_lab(rgb: tf.Tensor) -> tf.Tensor:
    """sRGB in [0, 1], shape [..., 3] -> L*a*b* with L* in [0, 100]."""
    rgb = tf.clip_by_value(tf.cast(rgb, tf.float32), 0.0, 1.0)
    linear = tf.where(rgb <= 0.04045, rgb / 12.92, tf.pow((rgb + 0.055) / 1.055, 2.4))
    xyz = _matmul3(linear, _RGB_TO_XYZ) / _WHITE
    f = tf.where(xyz > _EPS, tf.pow(tf.maximum(xyz, _EPS), 1.0 / 3.0), (_KAPPA * xyz + 16.0) / 116.0)
    fx, fy, fz = tf.unstack(f, axis=-1)
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab: tf.Tensor) -> tf.Tensor:
    """L*a*b* [..., 3] -> sRGB in [0, 1] (out-of-gamut colours are clipped)."""
    lab = tf.cast(lab, tf.float32)
    lightness, a, b = tf.unstack(lab, axis=-1)
    fy = (lightness + 16.0) / 116.0
    f = tf.stack([fy + a / 500.0, fy, fy - b / 200.0], axis=-1)
    xyz = tf.where(f > 6.0 / 29.0, tf.pow(f, 3.0), (116.0 * f - 16.0) / _KAPPA) * _WHITE
    linear = tf.clip_by_value(_matmul3(xyz, _XYZ_TO_RGB), 0.0, 1.0)
    rgb = tf.where(linear <= 0.0031308, linear * 12.92, 1.055 * tf.pow(tf.maximum(linear, 1e-12), 1 / 2.4) - 0.055)
    return tf.clip_by_value(rgb, 0.0, 1.0)


def mean_chroma(rgb: tf.Tensor) -> tf.Tensor:
    """Mean Lab chroma sqrt(a*^2 + b*^2) per image of a [..., H, W, 3] batch: ~0 for grey photos."""
    ab = rgb_to_lab(rgb)[..., 1:]
    return tf.reduce_mean(tf.norm(ab, axis=-1), axis=[-2, -1])


def encode(rgb: tf.Tensor, color_space: str) -> tuple[tf.Tensor, tf.Tensor]:
    """RGB [0, 1] -> (network input L in [-1, 1] [..., 1], target in [-1, 1]: ab [..., 2] or RGB [..., 3])."""
    lab = rgb_to_lab(rgb)
    l_in = lab[..., :1] / (L_MAX / 2.0) - 1.0
    if color_space == "lab":
        return l_in, lab[..., 1:] / AB_SCALE
    if color_space == "rgb":
        return l_in, tf.cast(rgb, tf.float32) * 2.0 - 1.0
    raise ValueError(f"unknown color_space {color_space!r}")


def decode(l_in: tf.Tensor, target: tf.Tensor, color_space: str) -> tf.Tensor:
    """Network input + network output (or target) -> RGB in [0, 1]; the L* channel is the input's."""
    l_in = tf.cast(l_in, tf.float32)
    target = tf.cast(target, tf.float32)
    if color_space == "lab":
        lab = tf.concat([(l_in + 1.0) * (L_MAX / 2.0), target * AB_SCALE], axis=-1)
        return lab_to_rgb(lab)
    if color_space == "rgb":
        return tf.clip_by_value((target + 1.0) / 2.0, 0.0, 1.0)
    raise ValueError(f"unknown color_space {color_space!r}")


def predicted_ab(l_in: tf.Tensor, target: tf.Tensor, color_space: str) -> tf.Tensor:
    """Network input + output -> the predicted a*b* in L*a*b* units [..., 2] (for the rgb variant: of its RGB)."""
    if color_space == "lab":
        return tf.cast(target, tf.float32) * AB_SCALE
    return rgb_to_lab(decode(l_in, target, color_space))[..., 1:]


def gray_rgb(l_in: tf.Tensor) -> tf.Tensor:
    """The grey RGB image with the input's L* (a*b* = 0)."""
    lab = tf.concat([(tf.cast(l_in, tf.float32) + 1.0) * (L_MAX / 2.0), tf.zeros_like(l_in, tf.float32),
                     tf.zeros_like(l_in, tf.float32)], axis=-1)
    return lab_to_rgb(lab)


def colorfulness(rgb: tf.Tensor) -> tf.Tensor:
    """Hasler & Suesstrunk (2003) colourfulness per image of RGB in [0, 1], on the 0-255 scale: ~0 for grey, ~30+
    vivid. Differentiable (a small floor under each square root keeps a grey image's gradient finite), so the
    generator's colourfulness loss (losses.colorfulness_loss) uses the same formula the metric reports."""
    rgb = tf.cast(rgb, tf.float32) * 255.0
    r, g, b = tf.unstack(rgb, axis=-1)
    rg = r - g
    yb = 0.5 * (r + g) - b
    axes = [-2, -1]
    std = tf.sqrt(tf.math.reduce_variance(rg, axis=axes) + tf.math.reduce_variance(yb, axis=axes) + _SQRT_FLOOR)
    mean = tf.sqrt(tf.square(tf.reduce_mean(rg, axis=axes)) + tf.square(tf.reduce_mean(yb, axis=axes)) + _SQRT_FLOOR)
    return std + 0.3 * mean


_SQRT_FLOOR = 1e-8  # 0.0001 of a 0-255 unit per square root: invisible in the figure, a finite gradient at grey


def bin_centres(bins: int) -> np.ndarray:
    """The centres of ab_bin's cells along one axis, in network units (x AB_SCALE for a*, b*)."""
    return (np.arange(bins) + 0.5) * (2.0 / bins) - 1.0


def ab_bin(ab: tf.Tensor, bins: int) -> tf.Tensor:
    """a*b* in network units (a*/AB_SCALE, b*/AB_SCALE in [-1, 1]) [..., 2] -> the flat index a_bin * bins + b_bin
    [...] (int32) of its cell in a bins x bins grid over [-1, 1]^2; values outside are put in the edge cells."""
    cell = tf.cast(tf.floor((tf.cast(ab, tf.float32) + 1.0) * (bins / 2.0)), tf.int32)
    cell = tf.clip_by_value(cell, 0, bins - 1)
    return cell[..., 0] * bins + cell[..., 1]


def channels(color_space: str) -> int:
    """Output channels of the generator for a colour space."""
    return {"lab": 2, "rgb": 3}[color_space]
