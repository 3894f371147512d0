import numpy as np
import pytest
import tensorflow as tf
from skimage import color as skcolor

from colorgan.data import color


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    pixels = rng.random((4, 16, 16, 3)).astype(np.float32)
    pixels[0, 0, :4] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 0, 1]]  # extremes of the gamut
    return pixels


def test_rgb_to_lab_matches_skimage(rgb):
    ours = color.rgb_to_lab(rgb).numpy()
    np.testing.assert_allclose(ours, skcolor.rgb2lab(rgb.astype(np.float64)), atol=0.02)


def test_lab_to_rgb_matches_skimage(rgb):
    lab = skcolor.rgb2lab(rgb.astype(np.float64))
    np.testing.assert_allclose(color.lab_to_rgb(lab.astype(np.float32)).numpy(), skcolor.lab2rgb(lab), atol=2e-3)


def test_round_trip(rgb):
    np.testing.assert_allclose(color.lab_to_rgb(color.rgb_to_lab(rgb)).numpy(), rgb, atol=2e-3)


@pytest.mark.parametrize("space", ["lab", "rgb"])
def test_encode_ranges_and_decode_round_trip(rgb, space):
    l_in, target = color.encode(rgb, space)
    assert l_in.shape == (4, 16, 16, 1) and target.shape == (4, 16, 16, color.channels(space))
    assert float(tf.reduce_min(l_in)) >= -1.0 and float(tf.reduce_max(l_in)) <= 1.0
    assert float(tf.reduce_min(target)) >= -1.0 and float(tf.reduce_max(target)) <= 1.0
    np.testing.assert_allclose(color.decode(l_in, target, space).numpy(), rgb, atol=3e-3)


def test_gray_rgb_keeps_luminance_and_has_no_chroma(rgb):
    l_in, _ = color.encode(rgb, "lab")
    gray = color.gray_rgb(l_in).numpy()
    lab = skcolor.rgb2lab(gray.astype(np.float64))
    np.testing.assert_allclose(lab[..., 0], (l_in.numpy()[..., 0] + 1) * 50, atol=0.05)
    assert np.abs(lab[..., 1:]).max() < 0.05
    # the same as decoding a network output of a*b* = 0 ("leave it grey")
    np.testing.assert_allclose(color.decode(l_in, tf.zeros([*l_in.shape[:-1], 2]), "lab").numpy(), gray, atol=1e-6)


def test_mean_chroma_separates_grey_from_colour(rgb):
    grey = np.repeat(rgb[..., :1], 3, axis=-1)
    assert float(color.mean_chroma(grey[0])) < 0.01
    assert float(color.mean_chroma(rgb[0])) > 10.0


def test_runs_inside_a_graph(rgb):
    fn = tf.function(lambda x: color.lab_to_rgb(color.rgb_to_lab(x)))
    np.testing.assert_allclose(fn(tf.constant(rgb)).numpy(), rgb, atol=2e-3)
