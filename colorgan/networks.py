"""The U-Net generator and the conditional PatchGAN discriminator of the original report, and ``build(cfg)``.

A generator architecture is a function ``cfg -> keras.Model`` registered in GENERATORS under the name the
``generator`` config key takes (pix2pix's ``define_G``); adding one touches this file and config.CHOICES only.

Widths follow the report's 128x128 model (down 32,64,128,128,256,256,512 to 1x1; up 512,256,256,128,128,64);
the depth is derived from the image size, so 32..256 (any power of two) work with the same recipe.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
from keras import layers

from colorgan import color
from colorgan.config import Config

# The report's down-sampling widths, extended (capped at 512) for images larger than 128.
_DOWN_WIDTHS = (32, 64, 128, 128, 256, 256, 512)
_MAX_WIDTH = 512
_DROPOUT_BLOCKS = 3  # pix2pix: dropout on the three deepest up-sampling blocks
_INIT_STDDEV = 0.02  # pix2pix / DCGAN weight initialisation
# BatchNorm running statistics: PyTorch pix2pix's 0.1 update (Keras momentum 0.9). Keras' default 0.99 leaves
# the inference-mode statistics half at their initial values after ~80 steps: measured here, a 2-epoch
# lab_advanced run at 128x128 then scored 14.3 dB eval PSNR in inference mode against 21.8 for the gray image.
_BN_MOMENTUM = 0.9


def down_widths(image_size: int) -> list[int]:
    """One Conv2D(stride 2) block per halving, down to 1x1."""
    depth = int(math.log2(image_size))
    return [(_DOWN_WIDTHS[i] if i < len(_DOWN_WIDTHS) else _MAX_WIDTH) for i in range(depth)]


def up_widths(image_size: int) -> list[int]:
    """Mirror of the down path without its first block: the report's 512,256,256,128,128,64 for 128."""
    return list(reversed(down_widths(image_size)[1:]))


def _conv(layer: layers.Layer, power_iterations: int) -> layers.Layer:
    if power_iterations > 0:
        return layers.SpectralNormalization(layer, power_iterations=power_iterations)
    return layer


def _init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(0.0, _INIT_STDDEV)


def _down(x, filters: int, batchnorm: bool, power_iterations: int, name: str):
    conv = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=False, kernel_initializer=_init(),
                         name=f"{name}_conv")
    x = _conv(conv, power_iterations)(x)
    if batchnorm:
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)


def build_generator(image_size: int, out_channels: int, dropout: float = 0.5, power_iterations: int = 0,
                    name: str = "unet_generator") -> keras.Model:
    """U-Net: L in [-1, 1] [H, W, 1] -> colour channels in [-1, 1] (tanh), with skip connections."""
    inputs = keras.Input((image_size, image_size, 1), name="l_input")
    x = inputs
    skips = []
    for i, filters in enumerate(down_widths(image_size)):
        x = _down(x, filters, batchnorm=i > 0, power_iterations=power_iterations, name=f"down{i + 1}")
        skips.append(x)
    for i, (filters, skip) in enumerate(zip(up_widths(image_size), reversed(skips[:-1]), strict=True)):
        conv = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=False,
                                      kernel_initializer=_init(), name=f"up{i + 1}_convT")
        x = _conv(conv, power_iterations)(x)
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"up{i + 1}_bn")(x)
        if i < _DROPOUT_BLOCKS and dropout > 0:
            x = layers.Dropout(dropout, name=f"up{i + 1}_dropout")(x)
        x = layers.ReLU(name=f"up{i + 1}_relu")(x)
        x = layers.Concatenate(name=f"up{i + 1}_skip")([x, skip])
    last = layers.Conv2DTranspose(out_channels, 4, strides=2, padding="same", kernel_initializer=_init(),
                                  name="out_convT")
    x = _conv(last, power_iterations)(x)
    outputs = layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def build_discriminator(image_size: int, target_channels: int, power_iterations: int = 10,
                        name: str = "patch_discriminator") -> keras.Model:
    """Conditional PatchGAN: concat(L, colour) -> a (size/4)x(size/4) map of real/fake logits."""
    l_in = keras.Input((image_size, image_size, 1), name="l_input")
    target = keras.Input((image_size, image_size, target_channels), name="color_input")
    x = layers.Concatenate(name="condition")([l_in, target])
    x = _down(x, 32, batchnorm=False, power_iterations=power_iterations, name="down1")
    x = _down(x, 64, batchnorm=True, power_iterations=power_iterations, name="down2")
    for i, filters in enumerate((128, 256)):
        conv = layers.Conv2D(filters, 4, strides=1, padding="same", use_bias=False, kernel_initializer=_init(),
                             name=f"conv{i + 3}")
        x = _conv(conv, power_iterations)(x)
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"conv{i + 3}_bn")(x)
        x = layers.LeakyReLU(0.2, name=f"conv{i + 3}_lrelu")(x)
    last = layers.Conv2D(1, 4, strides=1, padding="same", kernel_initializer=_init(), name="logits_conv")
    x = _conv(last, power_iterations)(x)
    logits = layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model([l_in, target], logits, name=name)


def unet(cfg: Config) -> keras.Model:
    """The report's U-Net, with spectral normalization too when ``spectral_norm_on = "both"``."""
    power = cfg.power_iterations if cfg.spectral_norm_on == "both" else 0
    return build_generator(cfg.image_size, color.channels(cfg.color_space), cfg.dropout, power)


GENERATORS: dict[str, Callable[[Config], keras.Model]] = {"unet": unet}


def build(cfg: Config) -> tuple[keras.Model, keras.Model | None]:
    """(generator, discriminator) for a config; no discriminator for the lambda*L1 regression baseline."""
    generator = GENERATORS[cfg.generator](cfg)
    if not cfg.adversarial:
        return generator, None
    return generator, build_discriminator(cfg.image_size, color.channels(cfg.color_space), cfg.power_iterations)
