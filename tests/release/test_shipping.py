"""`colorgan ship`: a trained run -> a shipped-model folder with its figures and card, loaded back."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import FLOAT16_ATOL, FLOAT16_RTOL, check_shipped_figures
from PIL import Image

from colorgan.__main__ import main
from colorgan.evaluation import evaluate
from colorgan.serving import model_folder, references

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shipped_folder(trained, tmp_path_factory):
    """The trained run shipped once for this module, through the CLI."""
    out = tmp_path_factory.mktemp("ship") / "tiny-32"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("COLORGAN_HOME", str(trained.root))
        assert main(["ship", "--model", trained.run_id, "--out", str(out), "--command", "make train EXP=smoke"]) == 0
    return out


def test_ship_writes_the_folder_with_its_figures_and_card(shipped_folder, home, capsys):
    source = references.resolve(home.run_id, home.root)
    loaded = model_folder.load(shipped_folder)
    assert loaded.cfg == source.cfg
    for a, b in zip(source.generator.get_weights(), loaded.generator.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=FLOAT16_RTOL, atol=FLOAT16_ATOL)
    figures = json.loads((shipped_folder / model_folder.FIGURES_FILE).read_text())
    _, rels, _ = evaluate.sorted_test_split(source.cfg, home.root)
    assert figures["n_test"] == len(rels) > 0 and figures["subset"]["files"] == rels[:64]
    assert figures["lineage"] == home.run_id and figures["command"] == "make train EXP=smoke"
    for label in ("model", "gray"):
        rows = figures["test"][label]
        assert rows[0]["group"] == "all" and rows[0]["n"] == len(rels)
        assert {r["group"] for r in rows[1:]} == {"a", "b"}  # the classes of the tiny set
        assert figures["subset"][label]["n"] == len(rels)  # fewer than 64 test images: the subset is all of them
        assert figures["subset"][label]["psnr"] == pytest.approx(rows[0]["psnr"], abs=1e-3)
    assert figures["test"]["gray"][0]["colorfulness"] == pytest.approx(0.0, abs=0.05)
    ood = figures["other_subjects"]  # the photos of other subjects, whole: per photo, and the paired gain
    assert [f.split("/")[0] for f in ood["files"]] == ["other"] * len(ood["files"]) and len(ood["files"]) >= 5
    gains = np.subtract(ood["psnr_per_photo"]["model"], ood["psnr_per_photo"]["gray"])
    assert ood["psnr_gain"]["mean"] == pytest.approx(gains.mean(), abs=1e-6)
    assert ood["psnr_gain"]["low"] < ood["psnr_gain"]["mean"] < ood["psnr_gain"]["high"]
    assert ood["model"]["n"] == ood["gray"]["n"] == len(ood["files"])
    card = (shipped_folder / "model_card.md").read_text()
    for text in ("# tiny-32: the reference colorization generator", f"from run {home.run_id}", "float16",
                 "## Training data", "## Config", "image_size = 32", "make train EXP=smoke", "| PSNR pooled (dB) |",
                 "| PSNR mean (dB) |", " ± ", "| colourfulness gap to original |", "gray image", "| a |",
                 "## Limitations", f'init_from = "{shipped_folder}"', "## Photos of other subjects",
                 "| chelsea |", "paired 95% interval", "## Training cost", f"run {home.run_id}"):
        assert text in card, text
    for title in ("## Intended use", "## Out-of-scope use", "## Data source and licence", "## Sample grid",
                  "## Size, speed and memory", "## Licence and terms of the weights"):  # issue 36's sections
        assert f"\n{title}\n" in card, title
    assert "a folder named by config data_dir" in card and "Kaggle" not in card  # the tiny set: not the landscapes
    grid = np.asarray(Image.open(shipped_folder / model_folder.SAMPLES_FILE))
    layout = figures["sample_grid"]["layout"]
    assert grid.shape[:2] == (layout["rows"] * (32 + layout["border"]) + layout["border"],
                              3 * (32 + layout["border"]) + layout["border"]) and layout["names"] == list(
        evaluate.GRID_COLUMNS)
    assert "![gray | this model | original](samples.png)" in card
    used = figures["inference"]  # what using it costs, measured in a fresh process per photo size
    assert used["parameters"] == source.generator.count_params() and f"{used['parameters']:,} parameters" in card
    assert [row["side"] for row in used["photos"]] == [32, 1024]
    assert all(row["seconds"] > 0 and row["peak_mb"] >= row["loaded_mb"] > 0 for row in used["photos"])
    assert f"| 1024x1024 | {used['photos'][1]['seconds'] * 1000:,.0f} ms" in card and used["cpu"] in card
    cost = figures["training_cpu"]  # what training cost: the run's own CPU seconds (it has no warm start)
    assert [row["run_id"] for row in cost] == [home.run_id] and cost[0]["cpu_seconds"] > 0
    assert figures["confidence"] == {} and "## Confidence head" not in card  # trained without the head


def test_ship_refuses_to_overwrite_without_replace(shipped_folder, home, capsys):
    assert main(["ship", "--model", home.run_id, "--out", str(shipped_folder)]) == 2
    assert "already holds a shipped model: pass --replace" in capsys.readouterr().err


def test_shipping_a_folder_onto_itself_remakes_its_card_and_keeps_its_weights_file(shipped_folder, home, tmp_path,
                                                                                    capsys):
    """`colorgan ship --model FOLDER --out FOLDER --replace`: the card, figures and grid re-made from the folder's own
    weights, generator.keras byte for byte as it was, and what only the first ship knew carried from figures.json."""
    import hashlib
    import shutil

    folder = tmp_path / "again-32"
    shutil.copytree(shipped_folder, folder)
    (folder / model_folder.SAMPLES_FILE).unlink()
    first = json.loads((folder / model_folder.FIGURES_FILE).read_text())
    weights = hashlib.sha256((folder / model_folder.GENERATOR_FILE).read_bytes()).hexdigest()
    assert main(["ship", "--model", str(folder), "--out", str(folder)]) == 2  # --replace, as for any other ship
    assert main(["ship", "--model", str(folder), "--out", str(folder), "--replace"]) == 0
    assert hashlib.sha256((folder / model_folder.GENERATOR_FILE).read_bytes()).hexdigest() == weights
    again = json.loads((folder / model_folder.FIGURES_FILE).read_text())
    for key in ("source", "lineage", "command", "training_cpu", "confidence"):
        assert again[key] == first[key], key
    assert again["subset"]["files"] == first["subset"]["files"]
    assert again["subset"]["model"]["psnr"] == pytest.approx(first["subset"]["model"]["psnr"], abs=1e-4)
    card = (folder / "model_card.md").read_text()
    assert f"from this folder's own weights (`generator.keras` unchanged, sha256 {weights[:12]}...), shipped from " \
           f"run {home.run_id}." in card
    assert "make train EXP=smoke" in card and "## Training cost" in card and "## Sample grid" in card
    assert (folder / model_folder.SAMPLES_FILE).is_file()


def test_the_ci_check_passes_on_a_shipped_folder_and_catches_a_change(shipped_folder, home, monkeypatch, tmp_path):
    """tests/release/test_shipped_model.py's check, on this folder (its data found through $COLORGAN_DATA)."""
    monkeypatch.setenv("COLORGAN_DATA", str(home.data_dir))
    check_shipped_figures(shipped_folder, home.root)
    figures = json.loads((shipped_folder / model_folder.FIGURES_FILE).read_text())
    figures["subset"]["model"]["psnr"] += 0.5
    changed = model_folder.write(tmp_path / "changed", model_folder.load(shipped_folder).generator, model_folder.load(
        shipped_folder).cfg, "card", figures)
    with pytest.raises(AssertionError, match=r"the shipped model's figures changed:\s+model psnr: "):
        check_shipped_figures(changed, home.root)


def test_a_run_warm_started_from_a_shipped_folder_counts_that_models_training_cpu(tmp_path):
    """shipping.shipped_cpu: the source folder's recorded training cost, found while it holds the same weights."""
    import shutil

    from colorgan.base import paths
    from colorgan.release import shipping

    folder = tmp_path / "models" / "source"
    shutil.copytree(paths.shipped_model_dir(), folder)
    sha = model_folder.weights_sha(folder)
    recorded = json.loads((folder / model_folder.FIGURES_FILE).read_text())["training_cpu"]
    assert recorded and shipping.shipped_cpu(f"{references.SHIPPED_LINEAGE}models/source@{sha}", tmp_path) == recorded
    assert shipping.shipped_cpu(f"{references.SHIPPED_LINEAGE}models/source@{'0' * len(sha)}", tmp_path) == []
    assert shipping.shipped_cpu(f"{references.SHIPPED_LINEAGE}models/gone@{sha}", tmp_path) == []
