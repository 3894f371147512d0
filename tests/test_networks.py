import keras
import numpy as np
import pytest
import tensorflow as tf

from colorgan import config, losses, networks


@pytest.mark.parametrize("size", [32, 64, 128, 256])
def test_output_shapes(size):
    g = networks.build_generator(size, 2)
    d = networks.build_discriminator(size, 2, power_iterations=1)
    l_in = tf.zeros((1, size, size, 1))
    fake = g(l_in, training=False)
    assert fake.shape == (1, size, size, 2)
    assert d([l_in, fake], training=False).shape == (1, size // 4, size // 4, 1)


def test_report_widths_at_128():
    assert networks.down_widths(128) == [32, 64, 128, 128, 256, 256, 512]
    assert networks.up_widths(128) == [512, 256, 256, 128, 128, 64]
    g = networks.build_generator(128, 2)
    convs = [layer for layer in g.layers if isinstance(layer, keras.layers.Conv2D | keras.layers.Conv2DTranspose)]
    assert [c.filters for c in convs] == [32, 64, 128, 128, 256, 256, 512, 512, 256, 256, 128, 128, 64, 2]
    assert g.get_layer("down7_conv").output.shape[1:3] == (1, 1)
    assert "down1_bn" not in [layer.name for layer in g.layers]  # no BatchNorm on the first block
    d = networks.build_discriminator(128, 2, power_iterations=0)
    d_convs = [layer for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in d_convs] == [32, 64, 128, 256, 1]
    assert d.output.shape[1:] == (32, 32, 1)


def test_spectral_normalization_wraps_convolutions_with_power_iterations():
    d = networks.build_discriminator(32, 2, power_iterations=10)
    wrapped = [layer for layer in d.layers if isinstance(layer, keras.layers.SpectralNormalization)]
    assert len(wrapped) == 5 and all(w.power_iterations == 10 for w in wrapped)
    assert not any(isinstance(layer, keras.layers.SpectralNormalization)
                   for layer in networks.build_discriminator(32, 2, power_iterations=0).layers)


def test_rgb_variant_has_three_channels():
    assert networks.build_generator(32, 3).output.shape[-1] == 3


def test_every_generator_choice_has_a_builder():
    assert set(networks.GENERATORS) == set(config.CHOICES["generator"])


def test_build_makes_the_configured_networks():
    cfg = config.build({"image_size": 32, "power_iterations": 1})
    g, d = networks.build(cfg)
    assert g.name == "unet_generator" and g.output.shape[1:] == (32, 32, 2)
    assert d.output.shape[1:] == (8, 8, 1)
    assert not any(isinstance(layer, keras.layers.SpectralNormalization) for layer in g.layers)
    g, d = networks.build(cfg.replace(adversarial=False, color_space="rgb", spectral_norm_on="both"))
    assert d is None and g.output.shape[-1] == 3
    assert any(isinstance(layer, keras.layers.SpectralNormalization) for layer in g.layers)


def _bce(logit, target):
    p = 1 / (1 + np.exp(-logit))
    return -(target * np.log(p) + (1 - target) * np.log(1 - p))


@pytest.mark.parametrize("mode", ["one_sided", "two_sided"])
def test_discriminator_loss_on_known_logits(mode):
    real, fake = np.array([2.0, -1.0], np.float32), np.array([0.5, -3.0], np.float32)
    s = 0.1
    fake_target = s if mode == "two_sided" else 0.0
    expected = 0.5 * (_bce(real, 1 - s).mean() + _bce(fake, fake_target).mean())
    assert float(losses.discriminator_loss(real, fake, s, mode)) == pytest.approx(expected, rel=1e-5)


def test_generator_losses_on_known_values():
    assert float(losses.adversarial_loss(np.array([0.0], np.float32))) == pytest.approx(np.log(2), rel=1e-5)
    a, b = np.array([0.0, 1.0], np.float32), np.array([0.5, -1.0], np.float32)
    assert float(losses.reconstruction_loss(a, b, "l1")) == pytest.approx(1.25)
    assert float(losses.reconstruction_loss(a, b, "l2")) == pytest.approx(2.125)
