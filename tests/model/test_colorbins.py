"""The colour-bins head (Zhang et al.'s classification over a*b* cells beside the regression): the annealed mean on
known answers, a fit that leaves the generator alone, a calibration that keeps to its PSNR allowance, a fold that
is the decoding it chose, and a run with it that logs a model every command loads."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import batches, check_head_run, smoke_config, tiny_generator

from colorgan.base import config
from colorgan.data import color
from colorgan.model import colorbins, losses
from colorgan.serving import model_folder
from colorgan.training import train

ROOT = Path(__file__).resolve().parents[2]
BINS = 8


def uniform_weights() -> np.ndarray:
    return np.ones((BINS, BINS), np.float32)


def test_cell_centres_follow_the_grid_of_the_rebalancing_table():
    centres = colorbins.centres(BINS)
    assert centres.shape == (BINS * BINS, 2)
    cells = color.ab_bin(tf.constant(centres), BINS).numpy()
    np.testing.assert_array_equal(cells, np.arange(BINS * BINS))  # centre k lies in cell k


def test_annealed_mean_is_the_mode_when_cold_and_the_mean_when_warm():
    centres = colorbins.centres(BINS)
    logits = np.full(BINS * BINS, -20.0, np.float32)
    logits[[3, 10]] = [2.0, 1.0]  # two colours, the first likelier
    warm = colorbins.annealed_mean(tf.constant(logits), 1.0, BINS).numpy()
    cold = colorbins.annealed_mean(tf.constant(logits), 0.05, BINS).numpy()
    p = np.exp([2.0, 1.0]) / np.exp([2.0, 1.0]).sum()
    np.testing.assert_allclose(warm, p[0] * centres[3] + p[1] * centres[10], atol=1e-5)
    np.testing.assert_allclose(cold, centres[3], atol=1e-5)


def test_head_leaves_the_generator_alone_and_learns_the_colours():
    generator = tiny_generator()
    before = [w.copy() for w in generator.get_weights()]
    model = colorbins.attach(generator, BINS)
    l_in, ab = next(iter(batches(8)))
    np.testing.assert_allclose(np.asarray(model(l_in)), np.asarray(generator(l_in)), atol=1e-6)  # mix 0 at first
    first = colorbins.fit(model, batches(64), 1, uniform_weights())
    last = colorbins.fit(model, batches(64), 6, uniform_weights())
    assert last < first
    for old, new in zip(before, generator.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # the generator is frozen: only the head learned


def test_calibration_keeps_to_the_psnr_allowance_and_may_keep_the_generator_alone():
    model = colorbins.attach(tiny_generator(), BINS)
    colorbins.fit(model, batches(64), 4, uniform_weights())
    eval_split = batches(24, seed=1)
    loose = colorbins.calibrate(model, eval_split, psnr_allowance=1000.0)
    alone = loose.rows[0]
    assert alone["temperature"] is None and len(loose.rows) == 1 + len(colorbins.CANDIDATES)
    assert loose.chosen["colorfulness_gap"] == min(r["colorfulness_gap"] for r in loose.rows)
    strict = colorbins.calibrate(model, eval_split, psnr_allowance=0.0)
    assert strict.chosen["psnr"] >= alone["psnr"] - 1e-9
    assert strict.chosen["colorfulness_gap"] <= alone["colorfulness_gap"]
    header, *lines = loose.csv().splitlines()
    assert header.split(",")[:3] == ["temperature", "mix", "psnr"] and len(lines) == len(loose.rows)


def test_fold_is_the_decoding_the_calibration_scored():
    model = colorbins.attach(tiny_generator(), BINS)
    colorbins.fit(model, batches(32), 2, uniform_weights())
    l_in = next(iter(batches(8)))[0]
    logits = keras.Model(model.input, model.get_layer(colorbins.LOGIT_LAYER).output)(l_in)
    regression = np.asarray(tiny_generator()(l_in))
    expected = 0.5 * regression + 0.5 * colorbins.annealed_mean(logits, 0.38, BINS).numpy()
    colorbins.fold(model, 0.38, 0.5)
    np.testing.assert_allclose(np.asarray(model(l_in)), expected, atol=1e-4)
    stored = model_folder.stored(model)  # what `colorgan ship` writes: standard layers, weights rounded
    assert any(layer.name == colorbins.LOGIT_LAYER for layer in stored.layers)


def test_the_config_refuses_the_head_without_its_grid_or_beside_the_other_head():
    with pytest.raises(config.ConfigError, match="bins_epochs"):
        config.Config(bins_epochs=1)  # recon_weighting none: no rebalancing table
    with pytest.raises(config.ConfigError, match="bins_epochs and confidence_epochs"):
        config.Config(bins_epochs=1, recon_weighting="rebalance", confidence_epochs=1)
    with pytest.raises(config.ConfigError, match="bins_psnr_allowance"):
        config.Config(bins_psnr_allowance=-0.1)


def test_colourfulness_loss_is_one_for_gray_and_falls_as_colour_rises():
    gray = tf.fill((2, 16, 16, 3), 0.5)
    assert float(losses.colorfulness_loss(gray)) == pytest.approx(1.0, abs=1e-4)
    rng = np.random.default_rng(0)
    vivid = tf.constant(rng.uniform(0, 1, (2, 16, 16, 3)), tf.float32)
    assert float(losses.colorfulness_loss(vivid)) < float(losses.colorfulness_loss(0.5 + 0.3 * (vivid - 0.5))) < 1.0
    with tf.GradientTape() as tape:
        tape.watch(gray)
        loss = losses.colorfulness_loss(gray)
    assert np.isfinite(tape.gradient(loss, gray).numpy()).all()  # finite at exactly grey
    # "match": 0 for the photo itself, the per-photo gap / 100 otherwise, whichever side the output errs on
    assert float(losses.colorfulness_loss(vivid, vivid, "match")) == pytest.approx(0.0, abs=1e-5)
    gap = float(tf.reduce_mean(tf.abs(color.colorfulness(gray) - color.colorfulness(vivid)))) / 100.0
    assert float(losses.colorfulness_loss(gray, vivid, "match")) == pytest.approx(gap, rel=1e-5)
    with pytest.raises(config.ConfigError, match="colorfulness_loss"):
        config.Config(colorfulness_loss="more")


def test_saturated_reals_are_scaled_and_kept_in_range():
    ab = tf.constant([[0.1, -0.2], [0.9, -0.95]])
    np.testing.assert_allclose(losses.saturate_ab(ab, 1.5).numpy(), [[0.15, -0.3], [1.0, -1.0]], atol=1e-6)
    assert losses.saturate_ab(ab, 1.0) is ab
    with pytest.raises(config.ConfigError, match="critic_real_saturation"):
        config.Config(color_space="rgb", critic_real_saturation=1.2)


@pytest.mark.slow
def test_a_run_with_the_colour_levers_logs_a_model_every_command_loads(colour_folder, store):
    """The three levers of recipe round 3 in one tiny run: the colourfulness term (tracked as g_color), the critic
    on saturated reals, and the colour-bins head; its model is resolved, applied and shipped with the head's
    section in the card."""
    cfg = smoke_config(colour_folder, "epochs=1", "recon_weighting=rebalance", "rebalance_bins=8", "bins_epochs=1",
                       "bins_psnr_allowance=1000", "colorfulness_weight=5", "critic_real_saturation=1.3")
    result = train.run_training(cfg, ROOT / "experiments" / "smoke.toml", root=store, verbose=0, epoch_lines=False)
    run, shipped = check_head_run(store, result.run_id, colorbins, len(colorbins.CANDIDATES), "bins/used", (
        "train/g_color", "eval/colorfulness_delta", "curve/cpu_seconds", "curve/eval/colorfulness_delta",
        "bins/eval_psnr", "bins/cpu_seconds", "bins/eval_colorfulness_gap_alone"))
    assert "## Colour-bins head" in shipped.card and "ΔCF" in shipped.card
    assert shipped.figures["training_cpu"][0]["cpu_seconds"] >= run.metrics["bins/cpu_seconds"]
