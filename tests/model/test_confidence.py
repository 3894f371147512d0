"""The confidence head: it learns the shrink the generator's error asks for, its calibration keeps to the colour
budget, and a run with it logs a model that every command loads and that scales a*b* by a factor in (0, 1)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import batches, check_head_run, smoke_config, tiny_generator

from colorgan.base import config
from colorgan.model import confidence
from colorgan.serving import model_folder
from colorgan.training import train

ROOT = Path(__file__).resolve().parents[2]


def test_head_leaves_the_generator_alone_and_learns_to_shrink_a_wrong_colour():
    generator = tiny_generator()
    before = [w.copy() for w in generator.get_weights()]
    model = confidence.attach(generator)
    assert model.output.shape[-1] == 2
    factor = model.get_layer(f"{confidence.PREFIX}_factor")
    probe = keras.Model(model.input, factor.output)
    l_in = next(iter(batches(8)))[0]
    start = float(tf.reduce_mean(probe(l_in)))
    confidence.fit(model, batches(64), epochs=6)
    for old, new in zip(before, generator.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)  # the generator is frozen: only the head learned
    end = float(tf.reduce_mean(probe(l_in)))
    assert 0.0 < end < start  # random colours the generator cannot predict: shrink towards gray


def test_calibration_keeps_to_the_gap_allowance_and_may_keep_the_generator_alone():
    model = confidence.attach(tiny_generator())
    confidence.fit(model, batches(64), epochs=4)
    eval_split = batches(24, seed=1)
    strict = confidence.calibrate(model, eval_split, gap_allowance=0.0)
    alone = strict.rows[0]
    assert alone["offset"] is None and len(strict.rows) == 1 + len(confidence.OFFSETS)
    assert strict.chosen["colorfulness_gap"] <= alone["colorfulness_gap"] + 1e-9
    loose = confidence.calibrate(model, eval_split, gap_allowance=1000.0)
    assert loose.chosen["psnr"] == max(r["psnr"] for r in loose.rows)
    if loose.offset is not None:
        assert loose.chosen["psnr"] > alone["psnr"]
    header, *lines = loose.csv().splitlines()
    assert header.split(",")[:2] == ["offset", "psnr"] and len(lines) == len(loose.rows)


def test_fold_puts_the_offset_in_the_bias():
    model = confidence.attach(tiny_generator())
    l_in = next(iter(batches(8)))[0]
    parts = keras.Model(model.input, model.get_layer(confidence.LOGIT_LAYER).output)
    before = np.asarray(parts(l_in))
    confidence.fold(model, 2.5)
    np.testing.assert_allclose(np.asarray(parts(l_in)), before + 2.5, rtol=1e-5, atol=1e-5)


def test_rgb_runs_refuse_the_head():
    with pytest.raises(config.ConfigError, match="confidence_epochs"):
        config.Config(color_space="rgb", confidence_epochs=1)
    with pytest.raises(config.ConfigError, match="confidence_gap_allowance"):
        config.Config(confidence_gap_allowance=-1.0)


@pytest.mark.slow
def test_a_run_with_the_head_logs_a_model_every_command_loads(colour_folder, store):
    cfg = smoke_config(colour_folder, "epochs=1", "confidence_epochs=1", "confidence_gap_allowance=1000")
    result = train.run_training(cfg, ROOT / "experiments" / "smoke.toml", root=store, verbose=0, epoch_lines=False)
    run, shipped = check_head_run(store, result.run_id, confidence, len(confidence.OFFSETS), "confidence/used", (
        "confidence/eval_psnr", "confidence/eval_colorfulness_gap", "confidence/eval_psnr_alone",
        "confidence/cpu_seconds"))
    assert "## Confidence head" in shipped.card and "## Training cost" in shipped.card
    assert ("Fitted but not used" in shipped.card) != bool(run.metrics["confidence/used"])


def test_the_folded_model_round_trips_as_a_plain_keras_model(tmp_path):
    model = confidence.fold(confidence.attach(tiny_generator()), 1.0)
    stored = model_folder.stored(model)  # what `colorgan ship` writes (bfloat16 weights)
    stored.save(tmp_path / "generator.keras")
    loaded = keras.models.load_model(tmp_path / "generator.keras", compile=False)
    l_in = next(iter(batches(8)))[0]
    np.testing.assert_allclose(np.asarray(loaded(l_in)), np.asarray(model(l_in)), atol=2e-2)
    assert any(layer.name == confidence.LOGIT_LAYER for layer in loaded.layers)
