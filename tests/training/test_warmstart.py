"""Warm start (init_from) end to end, and the default model, against a real temporary MLflow store."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from conftest import photo, write_colour_images
from PIL import Image

from colorgan import tracking
from colorgan.__main__ import main
from colorgan.base import config
from colorgan.serving import model_folder, references
from colorgan.tracking import registry
from colorgan.training import resume, train, warmstart

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


class Capture(keras.callbacks.Callback):
    """The networks' weights when fit() begins (before the first step) and, optionally, after an epoch, where it
    may also interrupt the run."""

    def __init__(self, after_epoch: int = 0, then_raise: BaseException | None = None):
        super().__init__()
        self.after_epoch, self.then_raise = after_epoch, then_raise
        self.begin: dict = {}
        self.after: dict = {}

    def _weights(self) -> dict:
        nets = {"g": self.model.generator, "d": self.model.discriminator, "ema": self.model.ema_generator}
        return {k: [w.copy() for w in net.get_weights()] for k, net in nets.items() if net is not None}

    def on_train_begin(self, logs=None):
        self.begin = self._weights()

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after_epoch:
            self.after = self._weights()
            if self.then_raise is not None:
                raise self.then_raise


def equal(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def smoke(data_dir: Path, *extra: str) -> config.Config:
    return config.load(ROOT / "experiments" / "smoke.toml",
                       [f"data_dir={data_dir}", "eval_fraction=0.2", "test_fraction=0.2", "epochs=1", *extra])


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A finished, checkpointed GAN run to warm-start from, in a store of this module's own: (root, run_id, data
    folder, its final networks' weights)."""
    base = tmp_path_factory.mktemp("warmstart")
    folder = base / "photos"
    write_colour_images(folder, 60, seed=3)
    root = base / "project"
    root.mkdir()
    capture = Capture(after_epoch=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = train.run_training(smoke(folder), root=root, verbose=0, callbacks=(capture,))
    return SimpleNamespace(root=root, run_id=result.run_id, data_dir=folder, weights=capture.after)


@pytest.fixture
def at_source(source, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("COLORGAN_HOME", str(source.root))
    return source


def test_a_run_starts_from_the_source_run_generator_and_discriminator(at_source):
    capture = Capture()
    result = train.run_training(smoke(at_source.data_dir, f"init_from=runs:/{at_source.run_id}"),
                                root=at_source.root, verbose=0, callbacks=(capture,))
    assert equal(capture.begin["g"], at_source.weights["g"])  # before the first step
    assert equal(capture.begin["d"], at_source.weights["d"])  # from the source's checkpoint
    run = tracking.store.connect(at_source.root).get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["init_from"] == f"runs:/{at_source.run_id}"
    assert run.data.tags[warmstart.LINEAGE_TAG] == at_source.run_id
    assert run.data.tags[warmstart.DISCRIMINATOR_TAG] == "loaded"


def test_a_resumed_warm_started_run_keeps_its_checkpoint(at_source):
    """init_from = study:NAME through a study lookup as the CLI passes; the resume restores the run's own epoch 1."""
    def study_run(name: str) -> str:
        assert name == "demo"
        return at_source.run_id

    cfg = smoke(at_source.data_dir, "epochs=2", "init_from=study:demo", "adversarial=false")
    first = Capture(after_epoch=1, then_raise=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        train.run_training(cfg, root=at_source.root, verbose=0, callbacks=(first,), study_run=study_run)
    assert equal(first.begin["g"], at_source.weights["g"])
    client = tracking.store.connect(at_source.root)
    run_id = client.search_runs([tracking.experiment_id(cfg.experiment, at_source.root)],
                                "params.init_from = 'study:demo'")[0].info.run_id
    assert client.get_run(run_id).data.tags[warmstart.LINEAGE_TAG] == at_source.run_id
    assert client.get_run(run_id).data.tags[warmstart.DISCRIMINATOR_TAG] == "not used (adversarial = false)"

    resumed = Capture()  # no resolver this time: the checkpoint is restored and the source never looked up
    train.run_training(resume.resume_config(run_id, {}, root=at_source.root), resume_run_id=run_id,
                       root=at_source.root, verbose=0, callbacks=(resumed,))
    assert equal(resumed.begin["g"], first.after["g"])
    assert not equal(resumed.begin["g"], at_source.weights["g"])
    assert [m.step for m in client.get_metric_history(run_id, "eval/psnr")] == [1, 2]


class StopInFirstBatch(keras.callbacks.Callback):
    """Ctrl-C in the first batch: before the run saved a checkpoint or logged an epoch."""

    def on_train_batch_end(self, batch, logs=None):
        raise KeyboardInterrupt


def test_a_resumed_run_without_a_checkpoint_is_warm_started_again(at_source):
    """A run stopped before its first epoch ended has nothing to resume: it starts over, from the source again.
    (One that logged epochs without a checkpoint is refused instead: tests/training/test_resume.py.)"""
    cfg = smoke(at_source.data_dir, "epochs=2", f"init_from={at_source.run_id}", "adversarial=false",
                "checkpoint=false", "run_name=no-checkpoint")
    with pytest.raises(KeyboardInterrupt):
        train.run_training(cfg, root=at_source.root, verbose=0, callbacks=(StopInFirstBatch(),))
    client = tracking.store.connect(at_source.root)
    run_id = client.search_runs([tracking.experiment_id(cfg.experiment, at_source.root)],
                                "attributes.run_name = 'no-checkpoint'")[0].info.run_id
    resumed = Capture()
    train.run_training(cfg, resume_run_id=run_id, root=at_source.root, verbose=0, callbacks=(resumed,))
    assert equal(resumed.begin["g"], at_source.weights["g"])  # it starts over from epoch 0: from the source again


def test_a_source_of_another_size_is_an_error_before_any_run(at_source):
    client = tracking.store.connect(at_source.root)
    experiment = tracking.experiment_id("colorgan-smoke", at_source.root)
    before = len(client.search_runs([experiment]))
    with pytest.raises(config.ConfigError, match=f"init_from {at_source.run_id}: image_size 32 != this run's 64"):
        train.run_training(smoke(at_source.data_dir, "image_size=64", f"init_from={at_source.run_id}"),
                           root=at_source.root, verbose=0)
    assert len(client.search_runs([experiment])) == before


def test_warm_start_from_a_shipped_folder(at_source, tmp_path):
    generator = references.resolve(at_source.run_id, at_source.root).generator
    cfg = smoke(at_source.data_dir)
    folder = model_folder.write(tmp_path / "tiny", generator, cfg, "card", {})
    capture = Capture()
    result = train.run_training(smoke(at_source.data_dir, f"init_from={folder}", "ema_decay=0.9"),
                                root=at_source.root, verbose=0, callbacks=(capture,))
    assert equal(capture.begin["g"], model_folder.load(folder).generator.get_weights())
    assert equal(capture.begin["ema"], capture.begin["g"])  # the EMA shadow starts from the source too
    tags = tracking.store.connect(at_source.root).get_run(result.run_id).data.tags
    assert tags[warmstart.LINEAGE_TAG] == f"shipped:{folder}@{model_folder.weights_sha(folder)}"
    assert tags[warmstart.DISCRIMINATOR_TAG] == "fresh (a shipped model has none)"


def test_the_default_model_is_the_champion_else_the_shipped_one(at_source, tmp_path, capsys):
    root = at_source.root
    generator = references.resolve(at_source.run_id, root).generator
    empty, folder = tmp_path / "none", tmp_path / "shipped"
    with pytest.raises(references.ModelRefError, match="no models:/colorgan@champion in the store"):
        references.default_ref(root, shipped_dir=empty)
    model_folder.write(folder, generator, smoke(at_source.data_dir), "card", {})
    assert references.default_ref(root, shipped_dir=folder) == str(folder)

    photos = tmp_path / "in"
    photos.mkdir()
    Image.fromarray(photo(40, 56, gray=True)).save(photos / "old.png")
    assert main(["colorize", str(photos / "old.png"), "--model", str(folder), "--out", str(tmp_path / "a"),
                 "--quiet"]) == 0
    sha = model_folder.weights_sha(folder)
    assert f"with the shipped model {folder} (weights sha256 {sha})" in capsys.readouterr().out

    uri = tracking.run_data(root, at_source.run_id).tags["colorgan.model_uri"]
    version = registry.register(root, uri, references.MODEL_NAME, {})
    registry.set_alias(root, references.MODEL_NAME, references.ALIAS, version)
    assert references.default_ref(root, shipped_dir=folder) == references.CHAMPION
    assert main(["colorize", str(photos / "old.png"), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"with models:/colorgan@champion (run {at_source.run_id}) (the default model)" in out
    assert Image.open(tmp_path / "b" / "old.png").size == (56, 40)
