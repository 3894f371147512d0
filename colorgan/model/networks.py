"""The U-Net generator and the conditional PatchGAN discriminator of the original report, and ``build(cfg)``.

A generator architecture is a function ``cfg -> keras.Model`` registered in GENERATORS under the name the
``generator`` config key takes (pix2pix's ``define_G``); adding one touches this file and config.CHOICES only.

Widths follow the report's 128x128 model (down 32,64,128,128,256,256,512 to 1x1; up 512,256,256,128,128,64);
the depth is derived from the image size, so 32..256 (any power of two) work with the same recipe.

``padding = "reflect"`` (issue 14): with 'same' padding every strided convolution sees zeros outside the image,
and the outputs get a dull frame. Reflect padding pads each 4x4 stride-2 convolution by one mirrored pixel
and runs it 'valid' (the transposed ones then crop 3): the same output shapes, the same weights, and no zeros.
It is built from Keras' own Cropping2D and Concatenate layers, so a saved model loads without custom objects.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
from keras import layers

from colorgan.base.config import Config
from colorgan.data import color

# The report's down-sampling widths, extended (capped at 512) for images larger than 128.
_DOWN_WIDTHS = (32, 64, 128, 128, 256, 256, 512)
_MAX_WIDTH = 512
_DROPOUT_BLOCKS = 3  # pix2pix: dropout on the three deepest up-sampling blocks
_INIT_STDDEV = 0.02  # pix2pix / DCGAN weight initialisation
# BatchNorm running statistics: PyTorch pix2pix's 0.1 update (Keras momentum 0.9). Keras' default 0.99 leaves
# the inference-mode statistics half at their initial values after ~80 steps: measured here, a 2-epoch
# lab_advanced run at 128x128 then scored 14.3 dB eval PSNR in inference mode against 21.8 for the gray image.
_BN_MOMENTUM = 0.9


def down_widths(image_size: int, width: float = 1.0) -> list[int]:
    """One Conv2D(stride 2) block per halving, down to 1x1; ``width`` scales every block (to a multiple of 8)."""
    depth = int(math.log2(image_size))
    report = [(_DOWN_WIDTHS[i] if i < len(_DOWN_WIDTHS) else _MAX_WIDTH) for i in range(depth)]
    return [max(8, round(w * width / 8) * 8) for w in report]


def up_widths(image_size: int, width: float = 1.0) -> list[int]:
    """Mirror of the down path without its first block: the report's 512,256,256,128,128,64 for 128."""
    return list(reversed(down_widths(image_size, width)[1:]))


def _conv(layer: layers.Layer, power_iterations: int) -> layers.Layer:
    if power_iterations > 0:
        return layers.SpectralNormalization(layer, power_iterations=power_iterations)
    return layer


def _init() -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(0.0, _INIT_STDDEV)


def _mirror(x, axis: int, name: str):
    """One mirrored row (axis 1) or column (axis 2) on each side; a 1-pixel map (the bottleneck), which has
    nothing to mirror, repeats its pixel."""
    n = int(x.shape[axis])
    inner = 1 if n > 1 else 0

    def crop(before: int, after: int, side: str):
        cropping = ((before, after), (0, 0)) if axis == 1 else ((0, 0), (before, after))
        return layers.Cropping2D(cropping, name=f"{name}_{side}")(x)

    first, last = crop(inner, n - 1 - inner, "first"), crop(n - 1 - inner, inner, "last")
    return layers.Concatenate(axis=axis, name=f"{name}_cat")([first, x, last])


def reflect_pad(x, name: str):
    """Reflect padding of 1 on each side of a [B, H, W, C] map."""
    return _mirror(_mirror(x, 1, f"{name}_rows"), 2, f"{name}_cols")


def _strided(x, layer_type, filters: int, padding: str, power_iterations: int, name: str, **kwargs):
    """A 4x4 stride-2 Conv2D or Conv2DTranspose with 'same' geometry: zero padding ('same'), or a reflect pad
    of 1 + 'valid' (+ a crop of 3 for the transposed one, whose 'valid' output is 6 pixels larger)."""
    reflect = padding == "reflect"
    if reflect:
        x = reflect_pad(x, f"{name}_pad")
    conv = layer_type(filters, 4, strides=2, padding="valid" if reflect else "same", kernel_initializer=_init(),
                      name=name, **kwargs)
    x = _conv(conv, power_iterations)(x)
    if reflect and layer_type is layers.Conv2DTranspose:
        x = layers.Cropping2D(3, name=f"{name}_crop")(x)
    return x


def _down(x, filters: int, batchnorm: bool, power_iterations: int, name: str, padding: str = "zero"):
    x = _strided(x, layers.Conv2D, filters, padding, power_iterations, f"{name}_conv", use_bias=False)
    if batchnorm:
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)


def build_generator(image_size: int, out_channels: int, dropout: float = 0.5, power_iterations: int = 0,
                    name: str = "unet_generator", padding: str = "zero", width: float = 1.0) -> keras.Model:
    """U-Net: L in [-1, 1] [H, W, 1] -> colour channels in [-1, 1] (tanh), with skip connections."""
    inputs = keras.Input((image_size, image_size, 1), name="l_input")
    x = inputs
    skips = []
    for i, filters in enumerate(down_widths(image_size, width)):
        x = _down(x, filters, batchnorm=i > 0, power_iterations=power_iterations, name=f"down{i + 1}",
                  padding=padding)
        skips.append(x)
    for i, (filters, skip) in enumerate(zip(up_widths(image_size, width), reversed(skips[:-1]), strict=True)):
        x = _strided(x, layers.Conv2DTranspose, filters, padding, power_iterations, f"up{i + 1}_convT",
                     use_bias=False)
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"up{i + 1}_bn")(x)
        if i < _DROPOUT_BLOCKS and dropout > 0:
            x = layers.Dropout(dropout, name=f"up{i + 1}_dropout")(x)
        x = layers.ReLU(name=f"up{i + 1}_relu")(x)
        x = layers.Concatenate(name=f"up{i + 1}_skip")([x, skip])
    x = _strided(x, layers.Conv2DTranspose, out_channels, padding, power_iterations, "out_convT")
    outputs = layers.Activation("tanh", dtype="float32", name="out_tanh")(x)
    return keras.Model(inputs, outputs, name=name)


def _critic_norm(x, norm: str, name: str):
    """The critic's normalisation after a convolution (config ``critic_norm``). Batch statistics are what let a
    critic fed real-only and generated-only batches answer from the batch, not the photo (docs/results/critic.md); the
    others normalise each photo on its own (instance: per channel, layer: over all channels, group: 8 groups)."""
    if norm == "none":
        return x
    if norm == "batch":
        return layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"{name}_bn")(x)
    groups = {"instance": -1, "layer": 1, "group": 8}[norm]
    return layers.GroupNormalization(groups=groups, name=f"{name}_{norm}norm")(x)


def _critic_conv(x, filters: int, kernel: int, stride: int, norm: str, power_iterations: int, name: str):
    """Convolution, normalisation, LeakyReLU; no bias (the report's critic has none but its logits')."""
    conv = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                         kernel_initializer=_init(), name=f"{name}_conv")
    x = _critic_norm(_conv(conv, power_iterations)(x), norm, name)
    return layers.LeakyReLU(0.2, name=f"{name}_lrelu")(x)


# The critic's layouts by receptive field (config ``critic_patch``): (filters, kernel, stride) before the 1-channel
# logits convolution (kernel 4, or 1 for the 1x1 PixelGAN). 46: the report's PatchGAN (two 4x4 stride-2 and two
# stride-1 convolutions); 16: pix2pix's n_layers = 1; 1: pix2pix's PixelGAN, which sees one pixel's colour and L*.
CRITIC_LAYOUTS: dict[int, tuple[tuple[int, int, int], ...]] = {
    46: ((32, 4, 2), (64, 4, 2), (128, 4, 1), (256, 4, 1)),
    16: ((32, 4, 2), (64, 4, 1)),
    1: ((64, 1, 1), (128, 1, 1)),
}


def build_discriminator(image_size: int, target_channels: int, power_iterations: int = 10,
                        name: str = "patch_discriminator", norm: str = "batch", patch: int = 46) -> keras.Model:
    """Conditional PatchGAN: concat(L, colour) -> a map of real/fake logits, one per ``patch``-pixel window (the
    first convolution unnormalised, as in pix2pix)."""
    l_in = keras.Input((image_size, image_size, 1), name="l_input")
    target = keras.Input((image_size, image_size, target_channels), name="color_input")
    x = layers.Concatenate(name="condition")([l_in, target])
    layout = CRITIC_LAYOUTS[patch]
    for i, (filters, kernel, stride) in enumerate(layout):
        x = _critic_conv(x, filters, kernel, stride, norm if i > 0 else "none", power_iterations, f"critic{i + 1}")
    last = layers.Conv2D(1, 1 if patch == 1 else 4, strides=1, padding="same", kernel_initializer=_init(),
                         name="logits_conv")
    x = _conv(last, power_iterations)(x)
    logits = layers.Activation("linear", dtype="float32", name="logits")(x)
    return keras.Model([l_in, target], logits, name=name)


def critic(cfg: Config) -> keras.Model:
    """The conditional critic a config asks for (its layout, normalisation and spectral norm)."""
    return build_discriminator(cfg.image_size, color.channels(cfg.color_space), cfg.power_iterations,
                               norm=cfg.critic_norm, patch=cfg.critic_patch)


def unet(cfg: Config) -> keras.Model:
    """The report's U-Net, with spectral normalization too when ``spectral_norm_on = "both"``."""
    power = cfg.power_iterations if cfg.spectral_norm_on == "both" else 0
    return build_generator(cfg.image_size, color.channels(cfg.color_space), cfg.dropout, power,
                           padding=cfg.padding, width=cfg.generator_width)


GENERATORS: dict[str, Callable[[Config], keras.Model]] = {"unet": unet}


def build(cfg: Config) -> tuple[keras.Model, keras.Model | None]:
    """(generator, discriminator) for a config; no discriminator for the lambda*L1 regression baseline."""
    generator = GENERATORS[cfg.generator](cfg)
    if not cfg.adversarial:
        return generator, None
    return generator, critic(cfg)
