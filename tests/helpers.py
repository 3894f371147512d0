"""Plain functions and constants several test files share: the smoke config, the tiny generator and data of the
heads' tests, the float16 tolerances and the shipped-figures check, and the study files of the study tests.

Not a test file (pytest collects nothing here): test files import it, so that no test file imports another
(tests/test_layout.py checks that). Fixtures live in conftest.py. Heavy modules (TensorFlow, colorgan) are imported
inside the functions, so that a test file importing this one for a constant loads neither.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tensorflow as tf

    from colorgan.base import config

ROOT = Path(__file__).resolve().parent.parent


# --- training: the smoke experiment on a test's image folder --------------------------------------------------------

def smoke_config(data_dir: Path, *extra: str) -> config.Config:
    from colorgan.base import config

    return config.load(ROOT / "experiments" / "smoke.toml",
                       [f"data_dir={data_dir}", "eval_fraction=0.2", "test_fraction=0.1", *extra])


def after_epoch(epoch: int, action):
    """A Keras callback that calls ``action()`` once epoch ``epoch`` (counted from 1) has ended: passed to
    ``run_training`` after the run's own callbacks, so that epoch is checkpointed and logged first."""
    import keras

    class AfterEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, done, logs=None):
            if done + 1 == epoch:
                action()

    return AfterEpoch()


def interrupt_after(epoch: int, exc: BaseException | None = None):
    """``after_epoch`` raising ``exc`` (Ctrl-C's KeyboardInterrupt by default) in the training loop."""
    def interrupt():
        raise exc if exc is not None else KeyboardInterrupt()

    return after_epoch(epoch, interrupt)


# --- the heads on a trained generator (test_confidence.py, test_colorbins.py) ----------------------------------------

def tiny_generator(size: int = 32):
    """An untrained U-Net that paints everything one strong colour (a*, b* < 0: blue-green), whatever the truth."""
    from colorgan.base import config
    from colorgan.model import networks

    generator = networks.unet(config.Config(image_size=size, dropout=0.0))
    out = generator.get_layer("out_convT")
    kernel, bias = out.get_weights()
    out.set_weights([kernel * 0.0, bias * 0.0 - 0.6])
    return generator


def batches(n: int, size: int = 32, seed: int = 0) -> tf.data.Dataset:
    """(L, ab) pairs whose a*b* the (untrained) generator cannot know: a random colour per image."""
    import numpy as np
    import tensorflow as tf

    from colorgan.data import color

    rng = np.random.default_rng(seed)
    rgb = np.clip(rng.uniform(0, 1, (n, 1, 1, 3)) + rng.normal(0, 0.02, (n, size, size, 3)), 0, 1)
    pairs = color.encode(tf.constant(rgb, tf.float32), "lab")
    return tf.data.Dataset.from_tensor_slices(pairs).batch(8)


def check_head_run(store: Path, run_id: str, head, calibration_rows: int, used_key: str, logged: tuple[str, ...]):
    """A run trained with a head (``head``: colorgan.model.confidence or colorbins): it logged ``logged`` and the
    head's calibration table, its model carries the head exactly when ``used_key`` says it was used, every command's
    resolver loads it, and a shipped folder of it keeps the figure. (the run, the Shipped)."""
    import numpy as np

    from colorgan import tracking
    from colorgan.release import shipping
    from colorgan.serving import references

    run = tracking.run_data(store, run_id)
    for key in (used_key, *logged):
        assert key in run.metrics, key
    table = tracking.read_text(store, run_id, head.CALIBRATION_ARTIFACT)
    assert table is not None and len(table.splitlines()) == 2 + calibration_rows
    model = references.resolve(run_id, store)
    assert any(layer.name == head.LOGIT_LAYER for layer in model.generator.layers) == bool(run.metrics[used_key])
    assert model.generator(np.zeros((1, 32, 32, 1), np.float32), training=False).shape == (1, 32, 32, 2)
    shipped = shipping.ship(run_id, store / "shipped-32", store)  # the card shows the head's figures
    assert shipped.figures[used_key.split("/")[0]][used_key] == run.metrics[used_key]
    return run, shipped


# --- shipped folders (test_shipped.py, test_shipped_model.py, test_shipping.py) -------------------------------------

FLOAT16_RTOL = 2.0**-11  # float16 keeps 11 significant bits
FLOAT16_ATOL = 1e-7  # weights below float16's normal range (6e-5) are stored as subnormals

# Largest allowed difference, per figure, between figures.json and the recomputed figure. Both are computed the
# same way from the same float16 weights; the margin is for float round-off across TensorFlow builds and CPUs.
TOLERANCE = {"psnr": 0.05, "psnr_mean": 0.05, "psnr_median": 0.05, "ssim": 0.002, "colorfulness": 0.3,
             "colorfulness_orig": 0.3, "colorfulness_gap": 0.3}


def check_shipped_figures(folder: Path, root: Path) -> None:
    """Recompute a shipped model's subset figures and those on the photos of other subjects, and compare them
    with its figures.json."""
    from colorgan.evaluation import evaluate
    from colorgan.release import shipping
    from colorgan.serving import model_folder

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


# --- study files (the test_study_*.py files) --------------------------------------------------------------------------

SMOKE_STUDY = ROOT / "studies" / "smoke.toml"


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def study_text(*, top: str = "", extra: str = "") -> str:
    """The smoke study with top-level keys put before its first table, and tables appended."""
    head, _, tables = SMOKE_STUDY.read_text().partition("\n[fixed]")
    return head + "\n" + top + "[fixed]" + tables + extra


def tiny_smoke(tmp_path: Path, grace: int = 6) -> Path:
    """The smoke study on 8 training and 8 eval images (one step a trial), with its heartbeat grace set."""
    text = SMOKE_STUDY.read_text().replace("[fixed]\n", "[fixed]\nmax_train_images = 8\nmax_eval_images = 8\n")
    return spec_file(tmp_path, text.replace("grace_period = 6", f"grace_period = {grace}"))


def trial_runs(store: Path, parent: str) -> dict[int, object]:
    """A study's trial runs under its parent run, by trial number."""
    from colorgan import tracking

    return {int(r.tags["colorgan.trial"]): r for r in tracking.trial_runs(store, parent)}
