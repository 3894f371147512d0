"""Class rebalancing of the reconstruction loss (Zhang et al. 2016): the a*b* bins, the prior, the weights, the
weighted loss, and a tiny real run that trains with it and logs its prior."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from helpers import smoke_config

from colorgan import tracking
from colorgan.base import config
from colorgan.data import color, datasets
from colorgan.model import gan, losses
from colorgan.training import resume, train


def _counts() -> np.ndarray:
    """A 16x16 histogram with a common grey-ish centre and a rarer colour off it."""
    counts = np.zeros((16, 16))
    counts[7:9, 7:9] = 1000
    counts[12, 3] = 10
    return counts


def test_ab_bin_puts_the_plane_in_cells_and_clips_outside():
    ab = tf.constant([[-1.0, -1.0], [0.0, 0.0], [0.99, -0.01], [1.0, 1.0], [-3.0, 2.0]])
    assert color.ab_bin(ab, 16).numpy().tolist() == [0, 8 * 16 + 8, 15 * 16 + 7, 255, 15]


def test_rarer_bins_weigh_more_and_the_weights_average_to_one_under_the_prior():
    prior, w = losses.rebalance_weights(_counts(), 0.5)
    assert prior.sum() == pytest.approx(1.0) and prior.min() >= 0
    assert np.sum(prior * w) == pytest.approx(1.0, rel=1e-6)
    assert w[12, 3] > w[7, 7]  # the rare colour counts more than the common one
    assert prior[6, 7] > 0 and prior[6, 7] < prior[7, 7]  # smoothed: a neighbour of an occupied cell gets some
    order = np.argsort(prior.ravel())
    assert np.all(np.diff(w.ravel()[order]) <= 1e-6)  # weights fall as the prior rises
    _, w_more = losses.rebalance_weights(_counts(), 0.1)
    assert w_more[12, 3] / w_more[7, 7] > w[12, 3] / w[7, 7]  # a smaller mix rebalances harder
    _, w0 = losses.rebalance_weights(_counts(), 0.0)
    assert np.all(np.isfinite(w0)) and w0[0, 15] == w0.max()  # an empty cell gets the largest weight, not inf


def test_mix_one_is_the_plain_loss_exactly():
    _, w = losses.rebalance_weights(_counts(), 1.0)
    assert np.all(w == 1.0)
    rng = np.random.default_rng(0)
    target = tf.constant(rng.uniform(-1, 1, (2, 8, 8, 2)), tf.float32)
    pred = tf.constant(rng.uniform(-1, 1, (2, 8, 8, 2)), tf.float32)
    for kind in ("l1", "l2"):
        assert float(losses.reconstruction_loss(target, pred, kind, w)) == float(
            losses.reconstruction_loss(target, pred, kind))


def test_the_loss_weights_each_pixel_by_its_true_bin():
    table = np.ones((2, 2), np.float32)
    table[1, 1] = 3.0  # the a* > 0, b* > 0 quadrant
    target = tf.constant([[[[0.5, 0.5], [-0.5, 0.5]]]])  # 1x1x2 pixels: one in the heavy cell, one not
    pred = tf.zeros_like(target)
    assert float(losses.reconstruction_loss(target, pred, "l1", table)) == pytest.approx((3 * 1.0 + 1.0) / 4)
    assert float(losses.reconstruction_loss(target, pred, "l2", table)) == pytest.approx((3 * 0.5 + 0.5) / 4)


def test_the_prior_is_counted_over_the_capped_training_split(colour_folder, tmp_path):
    cfg = config.build({"data_dir": str(colour_folder), "image_size": 32, "rebalance_bins": 8,
                        "max_train_images": 20})
    counts, used = datasets.ab_histogram(cfg, tmp_path)
    assert counts.shape == (8, 8) and used == 20 and counts.sum() == 20 * 32 * 32
    _, used = datasets.ab_histogram(cfg, tmp_path, max_images=5)
    assert used == 5


def test_build_wants_a_table_exactly_for_rebalance():
    cfg = config.build({"image_size": 32, "recon_weighting": "rebalance", "power_iterations": 0})
    with pytest.raises(ValueError, match="missing"):
        gan.build_colorgan(cfg)
    with pytest.raises(ValueError, match="given"):
        gan.build_colorgan(cfg.replace(recon_weighting="none"), recon_weights=np.ones((16, 16)))
    model = gan.build_colorgan(cfg, recon_weights=np.ones((16, 16)))
    assert model.recon_weights.shape == (16, 16) and not model.recon_weights.trainable


@pytest.mark.slow
def test_a_tiny_run_trains_with_rebalance_and_logs_its_prior(colour_folder, store):
    cfg = smoke_config(colour_folder, "epochs=1", "recon_weighting=rebalance", "rebalance_bins=8")
    result = train.run_training(cfg, root=store, verbose=0)
    client = tracking.store.connect(store)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert int(run.data.params["ab_prior_images"]) == int(run.data.params["n_train"])
    assert all(np.isfinite(v) for k, v in run.data.metrics.items() if k.startswith(("train/", "eval/")))
    rows = client.download_artifacts(result.run_id, "data/ab_prior.csv")
    table = np.genfromtxt(rows, delimiter=",", names=True)
    assert len(table) == 64 and table["prior"].sum() == pytest.approx(1.0, abs=1e-4)
    assert np.sum(table["prior"] * table["weight"]) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow  # a checkpoint written and read back
def test_the_weight_table_is_checkpointed(tmp_path):
    cfg = config.build({"image_size": 32, "recon_weighting": "rebalance", "rebalance_bins": 4, "power_iterations": 0})
    table = np.arange(16, dtype=np.float32).reshape(4, 4)
    prefix = resume.checkpoint_of(gan.build_colorgan(cfg, recon_weights=table)).write(str(tmp_path / "ckpt"))
    restored = gan.build_colorgan(cfg, recon_weights=np.ones((4, 4)))
    resume.checkpoint_of(restored).read(prefix).assert_existing_objects_matched()
    np.testing.assert_array_equal(restored.recon_weights.numpy(), table)
