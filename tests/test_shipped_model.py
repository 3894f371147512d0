"""The reference model that ships in the repository (models/landscapes-128) still gives the figures it states.

Its ``figures.json`` holds, under ``subset``, the figures of the model and of the gray image on a fixed subset of
the landscape test split: the first 64 files of the sorted test split, at the model's size. This test loads the
shipped folder, takes that subset again (the data found the usual way: $COLORGAN_DATA, data/landscapes, then
../shared/data/landscapes), scores both again, and on the photos of other subjects (`make ood`), and compares
within TOLERANCE, so a change that breaks loading the model or the colour pipeline fails CI.
(`tests/test_shipping.py` runs the same check on a folder it ships.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colorgan.base import paths
from colorgan.data import datasets
from colorgan.evaluation import evaluate
from colorgan.release import shipping
from colorgan.serving import model_folder

# Largest allowed difference, per figure, between figures.json and the recomputed figure. Both are computed the
# same way from the same float16 weights; the margin is for float round-off across TensorFlow builds and CPUs.
TOLERANCE = {"psnr": 0.05, "psnr_mean": 0.05, "psnr_median": 0.05, "ssim": 0.002, "colorfulness": 0.3,
             "colorfulness_orig": 0.3, "colorfulness_gap": 0.3}


def check_shipped_figures(folder: Path, root: Path) -> None:
    """Recompute a shipped model's subset figures and those on the photos of other subjects, and compare them
    with its figures.json."""
    assert model_folder.exists(folder), (f"no shipped model at {folder}: train the landscapes experiment and run "
                                         f"`colorgan ship --model RUN_ID --out {folder}`")
    model = model_folder.load(folder)
    figures = json.loads((folder / model_folder.FIGURES_FILE).read_text())
    expected = figures["subset"]
    cfg = model.cfg.replace(data_dir="")  # the data found the usual way, wherever it trained
    data_dir, rels, _ = evaluate.sorted_test_split(cfg, root)
    files = expected["files"]
    assert rels[:len(files)] == files, f"the test split of {data_dir} no longer starts with the shipped subset"
    subjects = {"model": evaluate.generator_subject("shipped", model.generator, model.cfg, None),
                "gray": evaluate.baseline_subject("gray", cfg.image_size, cfg, root)}
    got = shipping.score(subjects, data_dir, files)["subset"]
    wrong = [f"{label} {key}: {got[label][key]:.4f}, figures.json {expected[label][key]:.4f}"
             for label in ("model", "gray") for key, tol in TOLERANCE.items()
             if not abs(got[label][key] - expected[label][key]) <= tol]
    expected_ood = figures["other_subjects"]
    got_ood = shipping.other_subjects(subjects, root)
    assert got_ood["files"] == expected_ood["files"], "the photos of other subjects are not those it shipped with"
    wrong += [f"other subjects, {label} {key}: {got_ood[label][key]:.4f}, figures.json {expected_ood[label][key]:.4f}"
              for label in ("model", "gray") for key, tol in TOLERANCE.items()
              if not abs(got_ood[label][key] - expected_ood[label][key]) <= tol]
    assert not wrong, "the shipped model's figures changed:\n" + "\n".join(wrong)


@pytest.mark.slow  # the real landscape photos, scored twice
def test_the_shipped_model_keeps_its_figures():
    root = paths.repo_root()
    _, source = datasets.resolve_data_dir("", root)
    if source == "built-in samples":
        pytest.skip("the landscape photos are not here ($COLORGAN_DATA, data/landscapes, ../shared/data/landscapes)")
    check_shipped_figures(paths.shipped_model_dir(), root)
