"""End to end: a tiny real training run against a temporary real MLflow store."""

from __future__ import annotations

from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from colorgan import config, tracking, train

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def smoke_config(data_dir: Path, *extra: str) -> config.Config:
    return config.load(ROOT / "experiments" / "smoke.toml",
                       [f"data_dir={data_dir}", "eval_fraction=0.2", "test_fraction=0.1", *extra])


def _history(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


class InterruptAfter(keras.callbacks.Callback):
    def __init__(self, epoch: int, exc: BaseException):
        super().__init__()
        self.epoch, self.exc = epoch, exc

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise self.exc


def test_run_is_tracked_completely(colour_folder, store):
    cfg = smoke_config(colour_folder)
    result = train.run(cfg, ROOT / "experiments" / "smoke.toml", root=store, verbose=0)
    client = tracking.connect(store)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    params = run.data.params
    for key, value in cfg.to_dict().items():
        assert params[key] == str(value), key
    for key in ("fingerprint", "n_train", "n_eval", "n_skipped", "git_commit", "tf_version"):
        assert params[key], key
    assert int(params["n_eval"]) > 0
    assert sum(int(params[k]) for k in ("n_train", "n_eval", "n_test")) == 60
    metric_keys = [k for k in run.data.metrics if not k.startswith("baseline/")]
    for key in ("train/g_total", "train/d_loss", "eval/g_total", "eval/d_loss", "eval/psnr", "eval/psnr_median",
                "eval/psnr_mean", "eval/ssim", "eval/colorfulness", "eval/colorfulness_gap", "images_per_sec",
                "epoch_seconds"):
        assert key in metric_keys, key
    for key in metric_keys:
        assert _history(client, result.run_id, key) == [1, 2], key
    assert 0 < run.data.metrics["eval/psnr"] < 60
    assert run.data.metrics["baseline/gray_psnr"] > 0
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "samples")}
    assert artifacts == {"samples/epoch_001.png", "samples/epoch_002.png"}
    grid = mlflow.artifacts.load_image(f"runs:/{result.run_id}/samples/epoch_002.png")
    assert grid.size[0] > 3 * 32 and grid.size[1] > 4 * 32  # 3 columns x 4 rows of 32 px tiles
    assert {a.path for a in client.list_artifacts(result.run_id, "config")} >= {"config/resolved.toml",
                                                                                "config/smoke.toml"}
    model = mlflow.pyfunc.load_model(run.data.tags["colorgan.model_uri"])
    batch = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 1)).astype(np.float32)
    out = np.asarray(model.predict(batch))
    assert out.shape == (3, 32, 32, 2) and np.all(np.abs(out) <= 1.0)


def test_interrupted_run_resumes_at_the_right_epoch(colour_folder, store):
    cfg = smoke_config(colour_folder, "epochs=3")
    with pytest.raises(KeyboardInterrupt):
        train.run(cfg, root=store, verbose=0, callbacks=(InterruptAfter(1, KeyboardInterrupt()),))
    client = tracking.connect(store)
    run_id = client.search_runs([tracking.experiment_id(cfg.experiment, store)])[0].info.run_id
    assert client.get_run(run_id).info.status == "KILLED"
    assert _history(client, run_id, "eval/psnr") == [1]

    resumed = train.resume_config(run_id, {}, root=store)
    assert resumed == cfg
    result = train.run(resumed, resume_run_id=run_id, root=store, verbose=0)
    assert result.run_id == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    for key in ("eval/psnr", "train/g_total", "images_per_sec"):
        assert _history(client, run_id, key) == [1, 2, 3], key


def test_failure_marks_the_run_failed_with_the_error(colour_folder, store):
    cfg = smoke_config(colour_folder, "epochs=1", "adversarial=false")
    with pytest.raises(RuntimeError, match="boom"):
        train.run(cfg, root=store, verbose=0, callbacks=(InterruptAfter(1, RuntimeError("boom")),))
    client = tracking.connect(store)
    run = client.search_runs([tracking.experiment_id(cfg.experiment, store)])[0]
    assert run.info.status == "FAILED"
    assert "boom" in run.data.tags["colorgan.error"]


def test_non_finite_loss_stops_the_epoch():
    callback = train.EpochEnd.__new__(train.EpochEnd)
    callback.on_train_batch_end(0, {"g_total": 1.0})
    with pytest.raises(train.NonFiniteLoss, match="g_total"):
        callback.on_train_batch_end(3, {"g_total": float("nan"), "d_loss": 0.5})
