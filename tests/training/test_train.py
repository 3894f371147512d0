"""End to end: a tiny real training run against a temporary real MLflow store."""

from __future__ import annotations

from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
import tensorflow as tf
from helpers import interrupt_after, smoke_config
from mlflow.tracking import MlflowClient

from colorgan import tracking
from colorgan.base import hardware
from colorgan.model import gan
from colorgan.training import curves, epoch, process_cache, resume, train

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _history(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def test_run_is_tracked_completely(colour_folder, store):
    cfg = smoke_config(colour_folder)
    result = train.run_training(cfg, ROOT / "experiments" / "smoke.toml", root=store, verbose=0)
    client = tracking.store.connect(store)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    for key, value in cfg.to_dict().items():
        assert params[key] == str(value), key
    for key in ("fingerprint", "n_train", "n_eval", "n_skipped", "git_commit", "tf_version"):
        assert params[key], key
    assert params["precision_resolved"] == "fp32" and run.data.tags[train.PRECISION_TAG] == "set in the config"
    assert int(params["n_eval"]) > 0
    assert sum(int(params[k]) for k in ("n_train", "n_eval", "n_test")) == 60
    metric_keys = list(run.data.metrics)
    assert not [k for k in metric_keys if k.startswith("baseline/")]  # the gray figures are params, no charts
    for key in ("train/g_total", "train/d_loss", "eval/g_total", "eval/d_loss", "eval/psnr", "eval/psnr_median",
                "eval/psnr_mean", "eval/ssim", "eval/colorfulness", "eval/colorfulness_gap", "images_per_sec",
                "epoch_seconds"):
        assert key in metric_keys, key
    missing = epoch.objective_keys() - set(metric_keys)  # what a study's objective may name: every key is logged
    assert not missing, sorted(missing)
    for key in metric_keys:
        if not key.startswith(curves.PREFIX):
            assert _history(client, result.run_id, key) == [1, 2], key
    assert 0 < run.data.metrics["eval/psnr"] < 60
    # curve points: 4 per epoch, the losses and the eval subset's scores at each, x = the fractional epoch
    epochs = [m.value for m in sorted(client.get_metric_history(result.run_id, curves.EPOCH_KEY), key=lambda m: m.step)]
    steps = -(-int(params["n_train"]) // cfg.batch_size)
    assert epochs == [e + b / steps for e in (0, 1) for b in curves.boundaries(steps, 4)] and epochs[-1] == 2.0
    for key in ("curve/train/g_gan", "curve/train/g_recon", "curve/train/d_loss_real", "curve/train/d_loss_fake",
                "curve/eval/g_gan", "curve/eval/d_loss_fake", "curve/eval/psnr_gain", "curve/eval/color_auc_rebal"):
        assert len(_history(client, result.run_id, key)) == 8, key
    assert 0 < run.data.metrics["eval/color_auc_rebal"] <= 1 and 0 < run.data.metrics["eval/color_auc"] <= 1

    assert 0 < float(params["gray_psnr"]) < 60 and tracking.gray_figures(run.data)["psnr"] == float(params["gray_psnr"])
    assert _history(client, result.run_id, "eval/psnr_gain") == [1, 2]
    assert run.data.metrics["eval/psnr_gain"] == pytest.approx(
        run.data.metrics["eval/psnr"] - float(params["gray_psnr"]), abs=1e-4)
    per_image = tracking.read_text(store, result.run_id, train.PER_IMAGE_ARTIFACT).splitlines()
    assert per_image[0] == "file,psnr,colorfulness_gap,color_auc_rebal" and len(per_image) == 1 + int(params["n_eval"])
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "samples")}
    assert artifacts == {"samples/epoch_001.png", "samples/epoch_002.png"}
    grid = mlflow.artifacts.load_image(f"runs:/{result.run_id}/samples/epoch_002.png")
    assert grid.size[0] > 3 * 32 and grid.size[1] > 4 * 32  # 3 columns x 4 rows of 32 px tiles
    assert {a.path for a in client.list_artifacts(result.run_id, "config")} >= {"config/resolved.toml",
                                                                                "config/smoke.toml"}
    requirements = Path(mlflow.pyfunc.get_model_dependencies(run.data.tags["colorgan.model_uri"])).read_text()
    assert f"tensorflow-cpu=={tf.__version__}" in requirements.splitlines()  # this .venv's build, as installed
    model = mlflow.pyfunc.load_model(run.data.tags["colorgan.model_uri"])
    batch = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 1)).astype(np.float32)
    out = np.asarray(model.predict(batch))
    assert out.shape == (3, 32, 32, 2) and np.all(np.abs(out) <= 1.0)


def test_full_eval_last_epoch_scores_the_whole_split_once_and_the_curve_subset_throughout(colour_folder, store):
    cfg = smoke_config(colour_folder, "full_eval=last_epoch", "curve_points=2", "curve_eval_images=4")
    result = train.run_training(cfg, None, root=store, verbose=0)
    client = tracking.store.connect(store)
    assert _history(client, result.run_id, "eval/psnr") == [2]  # the whole eval split after the last epoch only
    assert _history(client, result.run_id, "epoch_seconds") == [1, 2]
    assert len(_history(client, result.run_id, "curve/eval/psnr")) == 4
    assert result.final["eval/psnr_gain"] == client.get_run(result.run_id).data.metrics["eval/psnr_gain"]
    assert client.get_run(result.run_id).data.metrics["eval_cpu_seconds"] > 0

def test_interrupted_run_resumes_at_the_right_epoch(colour_folder, store):
    cfg = smoke_config(colour_folder, "epochs=3")
    with pytest.raises(KeyboardInterrupt):
        train.run_training(cfg, root=store, verbose=0, callbacks=(interrupt_after(1, KeyboardInterrupt()),))
    client = tracking.store.connect(store)
    run_id = client.search_runs([tracking.experiment_id(cfg.experiment, store)])[0].info.run_id
    assert client.get_run(run_id).info.status == "KILLED"
    assert client.get_run(run_id).data.tags["colorgan.error"] == "interrupted (Ctrl-C)"
    assert _history(client, run_id, "eval/psnr") == [1]

    resumed = resume.resume_config(run_id, {}, root=store)
    assert resumed == cfg
    result = train.run_training(resumed, resume_run_id=run_id, root=store, verbose=0)
    assert result.run_id == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert "colorgan.error" not in run.data.tags  # the interruption is over: a FINISHED run shows no error
    for key in ("eval/psnr", "train/g_total", "images_per_sec", "images_seen", "cpu_seconds"):
        assert _history(client, run_id, key) == [1, 2, 3], key
    n_train = int(run.data.params["n_train"])
    assert _values(client, run_id, "images_seen") == [n_train, 2 * n_train, 3 * n_train]  # carried over the resume
    cpu = _values(client, run_id, "cpu_seconds")
    assert 0 < cpu[0] < cpu[1] < cpu[2]


def test_a_cpu_budget_stops_the_run_early_and_says_so(colour_folder, store, capsys):
    cfg = smoke_config(colour_folder, "epochs=3", "max_cpu_minutes=0.0001")  # spent within the first batch
    result = train.run_training(cfg, root=store, verbose=0)
    client = tracking.store.connect(store)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert result.epochs == 1
    assert _history(client, result.run_id, "eval/psnr") == [1]  # the stopped epoch is still evaluated and logged
    assert _values(client, result.run_id, "images_seen") == [cfg.batch_size]  # one batch, not the epoch's images
    assert "max_cpu_minutes = 0.0001 spent after 8 images, in epoch 1 of 3" in run.data.tags["colorgan.stopped"]
    assert "stopped: max_cpu_minutes" in capsys.readouterr().out
    assert run.data.tags["colorgan.model_uri"]  # the model trained so far is still logged


def test_failure_marks_the_run_failed_with_the_error(colour_folder, store):
    cfg = smoke_config(colour_folder, "epochs=1", "adversarial=false")
    with pytest.raises(RuntimeError, match="boom"):
        train.run_training(cfg, root=store, verbose=0, callbacks=(interrupt_after(1, RuntimeError("boom")),))
    client = tracking.store.connect(store)
    run = client.search_runs([tracking.experiment_id(cfg.experiment, store)])[0]
    assert run.info.status == "FAILED"
    assert "boom" in run.data.tags["colorgan.error"]


def test_non_finite_loss_stops_the_epoch():
    callback = epoch.EpochBoundary.__new__(epoch.EpochBoundary)
    callback.on_train_batch_end(0, {"g_total": 1.0})
    with pytest.raises(train.NonFiniteLoss, match="g_total"):
        callback.on_train_batch_end(3, {"g_total": float("nan"), "d_loss": 0.5})


class KeepModel(keras.callbacks.Callback):
    """Keeps the trained ColorGAN, to compare its networks with what the run logged."""

    def on_train_end(self, logs=None):
        self.trained = self.model


def _values(client: MlflowClient, run_id: str, key: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


def _logged_weights(client: MlflowClient, run_id: str) -> list[np.ndarray]:
    return mlflow.keras.load_model(client.get_run(run_id).data.tags["colorgan.model_uri"]).get_weights()


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_pretraining_then_the_gan_resumes_across_the_phase_boundary(colour_folder, store, capsys):
    cfg = smoke_config(colour_folder, "pretrain_epochs=1", "epochs=1")
    with pytest.raises(KeyboardInterrupt):  # stopped after the pre-training epoch
        train.run_training(cfg, root=store, verbose=0, callbacks=(interrupt_after(1, KeyboardInterrupt()),))
    assert "epoch 1/2 (pretrain)  train g_total" in capsys.readouterr().out
    client = tracking.store.connect(store)
    run_id = client.search_runs([tracking.experiment_id(cfg.experiment, store)])[0].info.run_id
    assert _history(client, run_id, "eval/psnr") == [1]

    keep = KeepModel()
    train.run_training(resume.resume_config(run_id, {}, root=store), resume_run_id=run_id, root=store, verbose=0,
                       callbacks=(keep,))
    assert "epoch 2/2 (gan)  train g_total" in capsys.readouterr().out
    assert client.get_run(run_id).info.status == "FINISHED"
    assert _history(client, run_id, "eval/psnr") == [1, 2]
    assert _values(client, run_id, "phase") == [0, 1]
    for key in ("train/d_loss", "eval/d_loss", "train/g_gan", "lr/d"):
        assert _history(client, run_id, key) == [2], key  # pre-training has no critic
    assert _history(client, run_id, "train/g_recon") == [1, 2]
    assert _values(client, run_id, "lr/g") == pytest.approx([cfg.lr_g] * 2)  # the constant schedule
    assert _values(client, run_id, "lr/d") == pytest.approx([cfg.lr_d])
    # without EMA, the logged model is the generator itself
    assert _same(_logged_weights(client, run_id), keep.trained.generator.get_weights())

    extended = resume.resume_config(run_id, {"epochs": 2}, root=store)  # --resume RUN --set epochs=2
    train.run_training(extended, resume_run_id=run_id, root=store, verbose=0)
    assert _history(client, run_id, "eval/psnr") == [1, 2, 3]
    assert _values(client, run_id, "phase") == [0, 1, 1]


def test_the_logged_learning_rates_follow_linear_decay_through_a_resume(colour_folder, store):
    cfg = smoke_config(colour_folder, "pretrain_epochs=2", "epochs=3", "lr_schedule=linear_decay",
                       "decay_epochs=2", "max_train_images=16", "max_eval_images=8")
    with pytest.raises(KeyboardInterrupt):  # the optimizers' state (rates included) comes back from the checkpoint
        train.run_training(cfg, root=store, verbose=0, callbacks=(interrupt_after(3, KeyboardInterrupt()),))
    client = tracking.store.connect(store)
    run_id = client.search_runs([tracking.experiment_id(cfg.experiment, store)])[0].info.run_id
    train.run_training(cfg, resume_run_id=run_id, root=store, verbose=0)
    # per phase of n epochs, epoch e: 1 - max(0, e + 1 - (n - 2)) / 3; pre-training n = 2, then the GAN n = 3
    factors = [2 / 3, 1 / 3, 1.0, 2 / 3, 1 / 3]
    assert _values(client, run_id, "lr/g") == pytest.approx([cfg.lr_g * f for f in factors], rel=1e-6)
    assert _history(client, run_id, "lr/d") == [3, 4, 5]
    assert _values(client, run_id, "lr/d") == pytest.approx([cfg.lr_d * f for f in factors[2:]], rel=1e-6)


def test_with_ema_the_logged_model_and_the_checkpoint_hold_the_average(colour_folder, store):
    cfg = smoke_config(colour_folder, "epochs=1", "ema_decay=0.5")
    keep = KeepModel()
    result = train.run_training(cfg, root=store, verbose=0, callbacks=(keep,))
    model = keep.trained
    client = tracking.store.connect(store)
    logged = _logged_weights(client, result.run_id)
    assert _same(logged, model.ema_generator.get_weights())
    assert not _same(logged, model.generator.get_weights())
    fresh = gan.build_colorgan(cfg)  # what --resume restores: the shadow too
    assert resume.restore(result.run_id, store, resume.checkpoint_of(fresh)) is not None
    assert _same(fresh.ema_generator.get_weights(), model.ema_generator.get_weights())
    assert _same(fresh.generator.get_weights(), model.generator.get_weights())


def test_auto_precision_is_resolved_by_the_hardware_and_logged(colour_folder, store, capsys):
    result = train.run_training(smoke_config(colour_folder, "epochs=1", "precision=auto"), root=store, verbose=0)
    run = tracking.store.connect(store).get_run(result.run_id)
    expected, why = hardware.resolve_precision("auto")  # this machine's flags (no GPU in CI)
    assert run.data.params["precision"] == "auto"
    assert run.data.params["precision_resolved"] == expected
    assert run.data.tags[train.PRECISION_TAG] == why and why.startswith("auto: ")
    assert f"precision: {expected} ({why})" in capsys.readouterr().out


def test_a_run_that_takes_over_the_last_model_scores_as_a_freshly_built_one(colour_folder, store):
    """process_cache.REUSABLE_MODEL: a run differing from the last one only in its rates and seed takes over that model
    and its traced steps. Its numbers must be a fresh model's: run A fresh, run B (other rates, other seed) in
    between, then A's config again, which takes over B's model, and must log A's figures exactly."""
    a = smoke_config(colour_folder, "ema_decay=0.9", "pretrain_epochs=1", "epochs=1", "seed=3")
    b = smoke_config(colour_folder, "ema_decay=0.9", "pretrain_epochs=1", "epochs=1", "seed=4", "lr_g=1e-3",
                     "lr_d=5e-5")
    process_cache.REUSABLE_MODEL.model = None  # A is built fresh, whatever the tests before it ran
    first = train.run_training(a, root=store, verbose=0, epoch_lines=False)
    kept = process_cache.REUSABLE_MODEL.model
    other = train.run_training(b, root=store, verbose=0, epoch_lines=False)
    again = train.run_training(a, root=store, verbose=0, epoch_lines=False)
    assert process_cache.REUSABLE_MODEL.model is kept  # B and A again took over A's model: its steps not traced again
    assert other.final["eval/psnr"] != first.final["eval/psnr"]  # B trained otherwise: the comparison can fail
    scores = [k for k in first.final if k.startswith(("train/", "eval/"))]  # not the timings
    assert len(scores) > 10 and {k: again.final[k] for k in scores} == {k: first.final[k] for k in scores}
    client = tracking.store.connect(store)
    for key in ("curve/train/g_total", "curve/eval/psnr", "train/d_loss"):
        assert ([m.value for m in client.get_metric_history(again.run_id, key)]
                == [m.value for m in client.get_metric_history(first.run_id, key)]), key


def test_a_run_on_the_built_in_samples_says_so_loudly_and_is_tagged(store, monkeypatch, capsys):
    """No data set (no data_dir, COLORGAN_DATA, data/landscapes or ../shared/data/landscapes beside the project):
    a WARNING line on stderr, the run's last line repeats it, and the run's data-source tag says so."""
    from colorgan.__main__ import main
    from colorgan.data import datasets
    from colorgan.tracking.tags import DATA_SOURCE_TAG

    monkeypatch.delenv("COLORGAN_DATA", raising=False)
    monkeypatch.setenv("COLORGAN_HOME", str(store))
    assert not (store.parent / "shared").exists() and not (store / "data").exists()
    assert main(["train", str(ROOT / "experiments" / "smoke.toml"), "--set", "epochs=1", "max_train_images=8",
                 "max_eval_images=8", "curve_points=0"]) == 0
    out, err = capsys.readouterr()
    warned = [line for line in err.splitlines() if line.startswith("WARNING: no data set found: using the small "
                                                                   "built-in sample set in ")]
    assert len(warned) == 1, err
    last = out.splitlines()[-1]
    assert last.startswith("run ") and " finished: " in last and last.endswith(
        "; trained on the built-in sample set, not a data set: figures are not comparable"), last
    run_id = last.split()[1]
    assert tracking.store.connect(store).get_run(run_id).data.tags[DATA_SOURCE_TAG] == datasets.BUILT_IN
    assert main(["evaluate", "--model", run_id]) == 0  # its test split: the sample set's too
    assert capsys.readouterr().out.splitlines()[-1].endswith(
        "; scored on the built-in sample set, not a data set: figures are not comparable")
