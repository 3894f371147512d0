"""ColorGAN's steps on one tiny batch (32x32, no data, no store): fast, so they run without the slow marker."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from colorgan.base import config
from colorgan.model import gan, losses
from colorgan.scoring import metrics
from colorgan.training import epoch


def _batch(n: int = 4, seed: int = 0) -> tuple[tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.uniform(-1, 1, (n, 32, 32, 1)), tf.float32),
            tf.constant(rng.uniform(-0.5, 0.5, (n, 32, 32, 2)), tf.float32))


def _weights(network) -> list[np.ndarray]:
    return [v.numpy().copy() for v in network.trainable_variables]


def _moved(before: list[np.ndarray], network) -> list[bool]:
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, network.trainable_variables, strict=True)]


def test_one_train_step_moves_both_networks_with_finite_losses():
    model = gan.build_colorgan(config.build({"image_size": 32, "batch_size": 4, "power_iterations": 1}))
    g_before, d_before = _weights(model.generator), _weights(model.discriminator)
    logs = model.train_step(_batch())
    assert set(logs) == set(gan.ADVERSARIAL_LOSSES)
    assert all(np.isfinite(float(v)) for v in logs.values()), logs
    assert all(_moved(g_before, model.generator))
    assert all(_moved(d_before, model.discriminator))


def test_the_generators_update_leaves_the_discriminator_alone():
    """With D's own update made a no-op (learning rate 0), a train step must leave D's weights bit-identical:
    G's gradients, which flow through D, move G's variables only. No spectral normalization here, because
    Keras' SpectralNormalization rewrites its kernel in every training forward pass."""
    cfg = config.build({"image_size": 32, "batch_size": 4, "power_iterations": 0})
    model = gan.build_colorgan(cfg)
    model.compile(g_optimizer=gan.make_optimizer(cfg.lr_g, cfg.beta1), d_optimizer=gan.make_optimizer(0.0, cfg.beta1))
    g_before, d_before = _weights(model.generator), _weights(model.discriminator)
    model.train_step(_batch())
    assert all(_moved(g_before, model.generator))
    assert not any(_moved(d_before, model.discriminator))


def test_the_regression_baseline_has_no_discriminator():
    model = gan.build_colorgan(config.build({"image_size": 32, "adversarial": False}))
    assert model.discriminator is None and model.d_optimizer is None
    assert set(model.train_step(_batch())) == set(gan.REGRESSION_LOSSES)


@pytest.mark.slow  # several seconds of tracing
def test_evaluation_runs_through_test_step_weighting_losses_by_batch_size():
    model = gan.build_colorgan(config.build({"image_size": 32, "power_iterations": 1}))
    l_in, target = _batch(10, seed=1)
    dataset = tf.data.Dataset.from_tensor_slices((l_in, target)).batch(4)  # batches of 4, 4 and 2
    figures, _ = epoch.evaluate_split(model, dataset)
    steps = [model.test_step(batch) for batch in dataset]
    sizes = [4, 4, 2]
    for name in gan.ADVERSARIAL_LOSSES:
        expected = sum(float(s["losses"][name]) * n for s, n in zip(steps, sizes, strict=True)) / 10
        assert figures[name] == pytest.approx(expected, rel=1e-5), name
    acc = metrics.QualityAccumulator()
    for s in steps:
        acc.update(s["scores"])
    for name, value in acc.result().items():
        assert figures[name] == pytest.approx(value, rel=1e-5), name


def test_the_epoch_line_shows_the_registrys_figures_next_to_gray():
    values = {"train/g_total": 1.5, "train/d_loss": 0.7, "images_per_sec": 3.25,
              **{f"eval/{name}": 1.0 for name in metrics.QUALITY}}
    gray = {name: 2.0 for name in metrics.QUALITY}
    line = epoch.epoch_line(1, 2, "gan", values, gray, 12.0)
    assert line.startswith("epoch 1/2 (gan)  train g_total 1.500  d_loss 0.700  | eval PSNR pooled 1.00 dB (gray 2.00)")
    for name in epoch.EPOCH_LINE:
        assert metrics.QUALITY[name].label in line


def _all_weights(network) -> list[np.ndarray]:
    return [v.numpy().copy() for v in network.weights]


def test_pretraining_steps_the_generator_alone_and_never_runs_the_discriminator():
    """D keeps every weight bit-identical, spectral norm's u included (it moves in any training forward pass)."""
    model = gan.build_colorgan(config.build({"image_size": 32, "power_iterations": 1, "pretrain_epochs": 1}))
    model.start_phase(pretraining=True)
    g_before, d_before = _weights(model.generator), _all_weights(model.discriminator)
    logs = model.train_step(_batch())
    assert set(logs) == set(gan.REGRESSION_LOSSES) == {m.name for m in model.metrics}
    assert all(_moved(g_before, model.generator))
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(d_before, model.discriminator.weights, strict=True))
    assert set(model.test_step(_batch())["losses"]) == set(gan.REGRESSION_LOSSES)
    model.start_phase(pretraining=False)
    assert set(model.train_step(_batch())) == set(gan.ADVERSARIAL_LOSSES)
    assert not all(np.array_equal(b, v.numpy()) for b, v in zip(d_before, model.discriminator.weights, strict=True))


def test_the_ema_shadow_averages_every_float_weight_and_is_what_infers():
    model = gan.build_colorgan(config.build({"image_size": 32, "power_iterations": 1, "ema_decay": 0.5}))
    assert model.ema_generator is not None and model.inference_generator is model.ema_generator
    model.train_step(_batch())  # the first step copies the generator (the decay ramps from 0)
    assert all(np.array_equal(s, g) for s, g in zip(_all_weights(model.ema_generator),
                                                     _all_weights(model.generator), strict=True))
    model.g_optimizer.iterations.assign(100)  # past the ramp: the configured decay applies
    shadow_before = _all_weights(model.ema_generator)
    model.train_step(_batch(seed=1))
    moving = [v.path for v in model.generator.non_trainable_weights]
    assert any("moving_mean" in p for p in moving) and any("moving_variance" in p for p in moving)
    for before, shadow, weight in zip(shadow_before, model.ema_generator.weights, model.generator.weights,
                                      strict=True):
        np.testing.assert_allclose(shadow.numpy(), 0.5 * before + 0.5 * weight.numpy(), rtol=1e-5, atol=1e-7)
    l_in, target = _batch(seed=2)
    assert not np.allclose(model.generator(l_in), model.ema_generator(l_in))
    np.testing.assert_allclose(model(l_in), model.ema_generator(l_in, training=False))
    recon = model.test_step((l_in, target))["losses"]["g_recon"]
    expected = losses.reconstruction_loss(target, model.ema_generator(l_in, training=False))
    assert float(recon) == pytest.approx(float(expected), rel=1e-6)


def test_without_ema_the_generator_itself_infers():
    model = gan.build_colorgan(config.build({"image_size": 32, "adversarial": False}))
    assert model.ema_generator is None and model.inference_generator is model.generator
