"""The shipped-model folder format, model references to it, the default model, and warm-start checks (no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import FLOAT16_ATOL, FLOAT16_RTOL

from colorgan.base import config
from colorgan.model import networks
from colorgan.serving import model_folder, references
from colorgan.training import warmstart


@pytest.fixture(scope="module")
def tiny():
    cfg = config.Config(image_size=32, power_iterations=1, experiment="colorgan-smoke")
    generator, _ = networks.build(cfg)
    return cfg, generator


@pytest.fixture
def folder(tiny, tmp_path):
    cfg, generator = tiny
    return model_folder.write(tmp_path / "models" / "tiny-32", generator, cfg, "# card\n", {"subset": {"files": []}})


def test_a_shipped_folder_loads_back_as_float32_within_float16_rounding(tiny, folder):
    cfg, generator = tiny
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml", "figures.json", "generator.keras",
                                                        "model_card.md"]
    loaded = model_folder.load(folder)
    assert loaded.cfg == cfg and loaded.folder == folder
    assert len(loaded.sha) == 12 and loaded.sha == model_folder.weights_sha(folder)
    assert json.loads((folder / model_folder.FIGURES_FILE).read_text()) == {"subset": {"files": []}}
    assert (folder / "model_card.md").read_text() == "# card\n"
    assert (folder / "config.toml").read_text() == config.to_toml(cfg)
    original, back = generator.get_weights(), loaded.generator.get_weights()
    assert all(w.dtype == np.float32 for w in back)
    assert any(not np.array_equal(a, b) for a, b in zip(original, back, strict=True))  # really rounded
    for a, b in zip(original, back, strict=True):
        np.testing.assert_allclose(b, a, rtol=FLOAT16_RTOL, atol=FLOAT16_ATOL)
    # `stored` is exactly what loading gives: the figures of a shipped model are computed on these weights
    for a, b in zip(model_folder.stored(generator).get_weights(), back, strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    assert np.abs(np.asarray(loaded.generator(x)) - np.asarray(generator(x))).max() < 1e-3


def test_writing_over_a_shipped_model_needs_replace(tiny, folder):
    cfg, generator = tiny
    with pytest.raises(model_folder.ShippedModelError, match="already holds a shipped model: pass --replace"):
        model_folder.write(folder, generator, cfg, "again", {})
    model_folder.write(folder, generator, cfg, "again", {}, replace=True)
    assert (folder / "model_card.md").read_text() == "again"


def test_a_folder_re_written_with_keep_weights_leaves_its_weights_file_as_it_is(tiny, folder):
    cfg, generator = tiny
    weights = (folder / model_folder.GENERATOR_FILE).read_bytes()
    grid = np.zeros((10, 20, 3), np.uint8)
    model_folder.write(folder, generator, cfg, "new card", {"x": 1}, replace=True, grid=grid, keep_weights=True)
    assert (folder / model_folder.GENERATOR_FILE).read_bytes() == weights  # byte for byte
    assert (folder / "model_card.md").read_text() == "new card"
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(folder / model_folder.SAMPLES_FILE)), grid)
    with pytest.raises(model_folder.ShippedModelError, match="no shipped model at .* whose weights could be kept"):
        model_folder.write(folder.parent / "none", generator, cfg, "card", {}, keep_weights=True)


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(model_folder.ShippedModelError, match=f"no shipped model at {tmp_path / 'nothing'}"):
        model_folder.load(tmp_path / "nothing")


def test_references_to_a_shipped_folder(folder, store):
    for ref, kwargs in (("shipped", {"shipped_dir": folder}), (str(folder), {})):
        model = references.resolve(ref, store, **kwargs)
        sha = model_folder.weights_sha(folder)
        assert model.run_id is None and model.cfg.image_size == 32
        assert model.lineage == f"shipped:{folder}@{sha}"
        assert model.description == f"the shipped model {folder} (weights sha256 {sha})"
    with pytest.raises(model_folder.ShippedModelError, match="no shipped model at"):
        references.resolve(str(folder.parent / "other"), store)
    with pytest.raises(references.ModelRefError, match="study:x: a study's best trial is found by the command line"):
        references.resolve("study:x", store)


def test_default_model_is_the_shipped_one_without_a_champion(folder, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    clone = tmp_path / "clone"  # a fresh clone: no store yet (the store fixture's holds an empty database)
    clone.mkdir()
    assert references.default_ref(clone, shipped_dir=folder) == str(folder)
    with pytest.raises(references.ModelRefError, match=f"no models:/colorgan@champion in the store and no shipped "
                                                       f"model at {tmp_path / 'empty'}; name one with --model"):
        references.default_ref(clone, shipped_dir=tmp_path / "empty")
    assert not (clone / "mlruns").exists()  # asking a fresh clone for its champion creates no store


def test_init_from_is_a_config_key():
    assert config.Config().init_from == ""
    assert config.load(None, ["init_from=shipped"]).init_from == "shipped"
    assert "init_from" in config.to_toml(config.Config())


@pytest.mark.parametrize("key, value, message", [
    ("image_size", 64, "init_from shipped: image_size 64 != this run's 32"),
    ("color_space", "rgb", "init_from shipped: color_space rgb != this run's lab"),
])
def test_a_source_of_another_size_or_colour_space_is_refused(tiny, key, value, message):
    cfg, generator = tiny
    source = references.Model(generator, cfg.replace(**{key: value}), "shipped", "the shipped model", "shipped:x@y")
    with pytest.raises(config.ConfigError, match=message):
        warmstart.check(cfg.replace(init_from="shipped"), source)


def test_weights_of_other_shapes_are_refused_naming_the_weight(tiny):
    cfg, generator = tiny
    other, _ = networks.build(cfg.replace(color_space="rgb"))  # 3 output channels instead of 2
    with pytest.raises(config.ConfigError, match=r"init_from x: the generator: out_convT/kernel has shape "
                                                 r"\(4, 4, 3, 96\) != this run's \(4, 4, 2, 96\)"):
        warmstart.copy_weights(generator, other, "init_from x: the generator")


def test_study_references_need_a_resolver(tiny, store):
    cfg, _ = tiny
    with pytest.raises(config.ConfigError, match="init_from study:lr_sweep: study:lr_sweep: a study's best trial is "
                                                 "found by the command line"):
        warmstart.resolve("study:lr_sweep", store)
    run_id = "0123456789abcdef0123456789abcdef"
    with pytest.raises(config.ConfigError, match=f"init_from {run_id}: '{run_id}' names nothing in the store: no run "
                                                 f"{run_id} in the store .*; a model reference is one of: RUN_ID, "):
        warmstart.resolve(run_id, store)
    with pytest.raises(config.ConfigError, match="init_from 0123abcd: '0123abcd' is not a model reference; a model "
                                                 "reference is one of: RUN_ID, runs:/RUN_ID, models:/NAME/VERSION"):
        warmstart.resolve("0123abcd", store)
