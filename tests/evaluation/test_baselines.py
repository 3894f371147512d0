"""The non-learned baselines and `colorgan evaluate` on folders (no training needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import write_colour_images
from PIL import Image
from skimage import color as skcolor
from skimage import metrics as skmetrics

from colorgan import tracking
from colorgan.evaluation import evaluate
from colorgan.scoring import baselines
from colorgan.serving import references
from colorgan.tracking import evaluations


@pytest.mark.slow  # a real MLflow store and the evaluate pipeline
def test_gray_reproduces_the_psnr_skimage_computes(env, tmp_path):
    folder = tmp_path / "small"
    write_colour_images(folder, 6, size=32, seed=3)
    result = evaluate.evaluate_model("baseline:gray", str(folder), 32, root=env)
    assert len(result.per_image) == 6
    for _, row in result.per_image.iterrows():
        original = np.asarray(Image.open(folder / row["file"]), np.float64) / 255.0
        lab = skcolor.rgb2lab(original)
        lab[..., 1:] = 0.0
        expected = skmetrics.peak_signal_noise_ratio(original, skcolor.lab2rgb(lab), data_range=1.0)
        assert row["psnr"] == pytest.approx(expected, abs=1e-3), row["file"]
    pooled = result.summary.set_index("group").loc["all", "psnr"]
    assert pooled == pytest.approx(10 * np.log10(1 / result.per_image["mse"].mean()), abs=1e-9)


def _sky(rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A blue sky over green grass, with random brightness: the colours depend on the luminance structure."""
    img = np.zeros((size, size, 3), np.float32)
    horizon = size // 2 + rng.integers(-4, 4)
    shade = rng.uniform(0.8, 1.0)
    img[:horizon] = np.array([0.35, 0.6, 0.95]) * shade
    img[horizon:] = np.array([0.2, 0.55, 0.15]) * shade
    img[horizon:] *= 1 + 0.3 * rng.standard_normal((size - horizon, size, 1)).clip(-1, 1)  # textured grass
    return img.clip(0, 1)


def test_welsh_beats_gray_on_colourfulness_when_the_reference_has_the_right_colours():
    rng = np.random.default_rng(0)
    references = np.stack([_sky(rng) for _ in range(4)])
    targets = np.stack([_sky(rng) for _ in range(6)])
    welsh = baselines.Welsh(baselines.lab_of(references))
    scores = {name: evaluate.score(fn, targets) for name, fn in (("gray", baselines.gray), ("welsh", welsh))}
    assert scores["welsh"]["colorfulness"].mean() > scores["gray"]["colorfulness"].mean() + 10
    assert scores["welsh"]["colorfulness_gap"].mean() < scores["gray"]["colorfulness_gap"].mean() / 2
    assert scores["welsh"]["psnr"].mean() > scores["gray"]["psnr"].mean()
    np.testing.assert_array_equal(welsh(targets), welsh(targets))  # seeded jitter: deterministic


def test_welsh_keeps_the_targets_luminance():
    rng = np.random.default_rng(1)
    targets = np.stack([_sky(rng) for _ in range(2)])
    out = baselines.Welsh(baselines.lab_of(targets[::-1]))(targets)
    np.testing.assert_allclose(baselines.lab_of(out)[..., 0], baselines.lab_of(targets)[..., 0], atol=1.5)


def test_local_std_matches_a_loop():
    lum = np.random.default_rng(2).random((9, 7))
    got = baselines.local_std(lum)
    padded = np.pad(lum, 2, mode="reflect")
    want = np.array([[padded[y:y + 5, x:x + 5].std() for x in range(7)] for y in range(9)])
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.slow  # a real MLflow store and the evaluate pipeline
def test_bad_files_are_counted_named_and_skipped(env, tmp_path):
    folder = tmp_path / "mixed"
    write_colour_images(folder, 4, size=32)
    (folder / "a" / "broken.png").write_bytes(b"not a png")
    (folder / "a" / "tiny.png").write_bytes(b"")
    result = evaluate.evaluate_model("baseline:gray", str(folder), 32, root=env, out=tmp_path / "per_image.csv")
    assert sorted(name for name, _ in result.skipped) == ["a/broken.png", "a/tiny.png"]
    assert len(result.per_image) == 4 and (tmp_path / "per_image.csv").is_file()
    info = tracking.store.connect(env).download_artifacts(result.run_id, f"evaluation/{result.key}/info.json",
                                                          str(tmp_path))
    assert '"n_skipped": 2' in Path(info).read_text()


@pytest.mark.slow  # a real MLflow store and the evaluate pipeline
def test_baseline_reevaluation_updates_its_run(env):
    first = evaluate.evaluate_model("baseline:gray", size=32, root=env)
    second = evaluate.evaluate_model("baseline:gray", size=32, root=env)
    assert first.run_id == second.run_id and first.key == "test"
    client = tracking.store.connect(env)
    exp = client.get_experiment_by_name(evaluations.BASELINE_EXPERIMENT)
    assert len(client.search_runs([exp.experiment_id])) == 1
    run = client.get_run(first.run_id)
    assert run.data.tags["colorgan.baseline"] == "gray" and run.data.tags["colorgan.image_size"] == "32"
    assert run.data.metrics["test/psnr"] == pytest.approx(first.summary.iloc[0]["psnr"])
    assert set(first.summary["group"]) == {"all", "a", "b"}


@pytest.mark.slow  # a real MLflow store and a trained run
def test_unknown_baseline_and_missing_l1_run_say_what_to_do(env):
    with pytest.raises(references.ModelRefError, match=r"'baseline:sepia' names no baseline \(known: gray, welsh, "
                                                       r"l1_only\); a model reference is one of: RUN_ID, "):
        evaluate.evaluate_model("baseline:sepia", root=env)
    with pytest.raises(evaluate.EvaluateError, match="make train EXP=l1_only"):
        evaluate.evaluate_model("baseline:l1_only", root=env)


@pytest.mark.slow  # a real MLflow store and the evaluate pipeline
def test_evaluate_data_names_and_counts_the_skips_training_uses(env, tmp_path, capsys, caplog):
    """`evaluate --data` with a symlink loop, a dangling link, a non-UTF-8 name and an undecodable image: the same
    named, counted skips as a training scan (data.screen, then the one decoder), not a traceback or a bad log."""
    import json
    import os

    import mlflow

    from colorgan.__main__ import main

    folder = tmp_path / "messy"
    write_colour_images(folder, 6, size=32, seed=4)
    os.symlink("loop_b.png", folder / "loop_a.png")
    os.symlink("loop_a.png", folder / "loop_b.png")
    os.symlink("nowhere.png", folder / "gone.png")
    Image.open(folder / "a" / "img_000.png").save(os.fsencode(folder) + b"/caf\xe9.png")  # a Latin-1 name
    (folder / "broken.jpg").write_bytes(b"not an image at all")
    assert main(["evaluate", "--model", "baseline:gray", "--size", "32", "--data", str(folder)]) == 0
    logged = capsys.readouterr().out.splitlines()[-1]
    assert logged.endswith("(5 files skipped)"), logged
    reasons = {"loop_a.png": "symlink loop", "loop_b.png": "symlink loop",
               "gone.png": "dangling symlink (to nowhere.png, which does not exist)",
               "caf\\xe9.png": "file name is not valid UTF-8: rename it", "broken.jpg": "not a readable image"}
    warned = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith(f"skipped 5 of 11 image files in {folder}")
    assert all(f"{name}: {why}" in warned[0] for name, why in reasons.items())
    tracking.store.connect(env)
    info = json.loads(mlflow.artifacts.load_text(
        f"runs:/{logged.split()[3]}/evaluation/{evaluate.data_key(str(folder))}/info.json"))
    assert info["n_images"] == 6 and info["n_skipped"] == 5
    assert dict(line.split("\t") for line in info["skipped"]) == reasons


@pytest.mark.slow  # the shipped model on the test split, through the CLI
def test_evaluate_without_a_model_scores_the_default_model_as_colorize_does(env, tmp_path, capsys):
    """A fresh clone (no champion registered): `make evaluate` with no MODEL passes no --model, and evaluate falls
    back to the shipped model, as colorize and serve do, and says so."""
    import json
    import subprocess

    import mlflow

    from colorgan.__main__ import main
    from colorgan.base import paths
    from colorgan.tracking.tags import SHIPPED_TAG

    made = subprocess.run(["make", "-n", "evaluate"], cwd=paths.CHECKOUT, capture_output=True, text=True, check=True)
    assert "-m colorgan evaluate" in made.stdout and "--model" not in made.stdout, made.stdout
    assert references.default_ref(env) == references.SHIPPED  # no models:/colorgan@champion in this store
    assert main(["evaluate"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == "evaluated shipped: the default model (no --model named)", out
    run_id = out[-1].split()[3]
    run = tracking.store.connect(env).get_run(run_id)
    assert run.data.tags[SHIPPED_TAG].startswith("shipped:models/landscapes-128@")
    info = json.loads(mlflow.artifacts.load_text(f"runs:/{run_id}/evaluation/test/info.json"))
    assert info["model"] == "shipped" and info["image_size"] == 128 and info["n_images"] > 0
