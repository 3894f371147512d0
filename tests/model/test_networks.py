import keras
import numpy as np
import pytest
import tensorflow as tf

from colorgan.base import config
from colorgan.model import losses, networks


@pytest.mark.parametrize("size", [32, 64, 128, pytest.param(256, marks=pytest.mark.slow)])  # 256: seconds
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


def test_generator_width_scales_every_block_and_is_read_from_the_config():
    assert networks.down_widths(128, 1.5) == [48, 96, 192, 192, 384, 384, 768]
    assert networks.down_widths(32, 0.25) == [8, 16, 32, 32, 64]  # rounded to multiples of 8, at least 8
    g = networks.build(config.build({"image_size": 32, "generator_width": 2.0, "adversarial": False}))[0]
    assert g.get_layer("down1_conv").filters == 64 and g.get_layer("up1_convT").filters == 512
    with pytest.raises(config.ConfigError, match="generator_width"):
        config.build({"generator_width": 0.1})


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


def _generators(size: int, **kwargs) -> tuple[keras.Model, keras.Model]:
    """A zero- and a reflect-padded generator with the same weights."""
    zero = networks.build_generator(size, 2, dropout=0.0, **kwargs)
    reflect = networks.build_generator(size, 2, dropout=0.0, padding="reflect", **kwargs)
    reflect.set_weights(zero.get_weights())
    return zero, reflect


@pytest.mark.parametrize("size", [32, 64])
def test_reflect_padding_keeps_shapes_and_weights(size):
    zero, reflect = _generators(size)
    assert reflect.output.shape == zero.output.shape == (None, size, size, 2)
    assert [w.shape for w in reflect.weights] == [w.shape for w in zero.weights]
    assert reflect.count_params() == zero.count_params()
    for layer in zero.layers:  # every block keeps its output shape ('valid' transposed ones after their crop)
        name = layer.name + "_crop" if layer.name.endswith("_convT") else layer.name
        assert reflect.get_layer(name).output.shape == layer.output.shape, name
    g, _ = networks.build(config.build({"image_size": size, "padding": "reflect"}))
    assert any(layer.name == "down1_conv_pad_rows_cat" for layer in g.layers)


def test_reflect_pad_mirrors_and_the_bottleneck_repeats():
    for n in (1, 2, 5):
        x = np.arange(n * (n + 1), dtype=np.float32).reshape(1, n, n + 1, 1)
        inp = keras.Input((n, n + 1, 1))
        padded = keras.Model(inp, networks.reflect_pad(inp, "pad"))(x).numpy()[0, ..., 0]
        np.testing.assert_array_equal(padded, _reference_pad(x[0, ..., 0]))


def _reference_pad(a: np.ndarray) -> np.ndarray:
    """Reflect where an axis has more than one pixel, repeat where it has one (np.pad has no such mode)."""
    a = np.pad(a, ((1, 1), (0, 0)), mode="reflect" if a.shape[0] > 1 else "edge")
    return np.pad(a, ((0, 0), (1, 1)), mode="reflect" if a.shape[1] > 1 else "edge")


def test_with_zeros_in_its_pad_the_reflect_network_is_the_zero_padding_network(monkeypatch):
    """The geometry check: put zeros where the mirrored pixels go and the 'valid' convolutions, the crops and the
    weights must give exactly the 'same'-padded network's output (so the pad/crop offsets are right)."""
    monkeypatch.setattr(networks, "reflect_pad", lambda x, name: keras.layers.ZeroPadding2D(1, name=name)(x))
    zero, reflect = _generators(32)
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)), tf.float32)
    np.testing.assert_allclose(reflect(x, training=False), zero(x, training=False), atol=1e-5)


def test_reflect_padding_removes_the_frame_on_a_constant_input():
    """On a constant input the only thing that tells the border from the interior is the padding. (The output is
    not constant: stride-2 transposed convolutions leave a fine pattern everywhere, borders included.)"""
    keras.utils.set_random_seed(0)
    zero, reflect = _generators(64)
    x = tf.fill((1, 64, 64, 1), 0.3)
    ring = np.zeros((64, 64), bool)
    ring[:2], ring[-2:], ring[:, :2], ring[:, -2:] = True, True, True, True

    def frame(model):
        """How far the mean output on a 2-px border ring is from the interior's (0 = no frame)."""
        out = model(x, training=False).numpy()[0]
        return float(np.abs(out[ring].mean(0) - out[~ring].mean(0)).max())

    assert frame(reflect) < frame(zero) / 10
