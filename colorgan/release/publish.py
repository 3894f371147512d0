"""`colorgan publish`: a trained generator -> the registered model ``colorgan`` (alias ``champion``) + a model card.

One publish = one run in the MLflow experiment ``colorgan-registry`` (tag ``colorgan.source_run`` = the training
run) holding the test-split figures next to the gray baseline, a sample grid, the model card, and the pyfunc
(colorgan.serving.pyfunc_model, behind colorgan.tracking.pyfunc) that is registered. The card is also the registered
version's description.

This is the workflow (what is scored, drawn and written); every MLflow call is ``colorgan.tracking``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import tensorflow as tf

from colorgan import tracking
from colorgan.base import config as config_mod
from colorgan.data import color, datasets
from colorgan.scoring import grids, metrics
from colorgan.serving import pyfunc_model
from colorgan.serving.references import ALIAS, MODEL_NAME
from colorgan.tracking import registry
from colorgan.tracking.models import load_generator
from colorgan.tracking.tags import SOURCE_RUN_TAG, STUDY_TAG

EXPERIMENT = "colorgan-registry"
TEST_CAP = 256  # test images scored per publish (at the model's size): keeps `publish` to seconds on a CPU
GRID_ROWS = 8
CARD_FILE = "model_card.md"


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    alias: str
    run_id: str  # the publish run
    source_run_id: str  # the training run
    card: str


def _test_batches(cfg: config_mod.Config, params: dict, root: Path) -> tuple[list, dict]:
    """The first TEST_CAP images of the run's test split (same data folder, split and grey filter)."""
    data_dir = params.get("data_dir", "")
    if data_dir and Path(data_dir).is_dir():
        cfg = cfg.replace(data_dir=data_dir)
    bundle = datasets.load(cfg, root)
    return list(bundle.test.unbatch().take(TEST_CAP).batch(32)), bundle.info


def _scores_and_grid(generator, batches: list, color_space: str) -> tuple[dict, dict, np.ndarray | None]:
    if not batches:
        return {}, {}, None

    def predict(l_in):
        return generator(l_in, training=False)

    model = metrics.split_scores(batches, color_space, predict)
    gray = metrics.split_scores(batches, color_space)
    l_in = tf.concat([b[0] for b in batches], 0)[:GRID_ROWS]
    target = tf.concat([b[1] for b in batches], 0)[:GRID_ROWS]
    grid = grids.sample_grid([np.asarray(color.gray_rgb(l_in)),
                              np.asarray(color.decode(l_in, predict(l_in), color_space)),
                              np.asarray(color.decode(l_in, target, color_space))])
    return model, gray, grid


def model_card(*, name: str, version: str, source_run_id: str, study: str | None, cfg: config_mod.Config,
               info: dict, params: dict, model: dict, gray: dict, last_eval: dict) -> str:
    size = cfg.image_size
    lines = [
        f"# {name} version {version}: colorization cGAN generator",
        "",
        f"Published {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from training run `{source_run_id}`"
        + (f", the best trial of the Optuna study `{study}`." if study else "."),
        "",
        *card_intro(cfg, info, params),
        "## Test-split figures",
        "",
    ]
    if model:
        lines += [
            f"Scored on the first {int(model['images'])} images of the test split (capped at {TEST_CAP}), at "
            f"{size}x{size}, with `colorgan.scoring.metrics`; the gray baseline is the L* image itself (a*b* = 0).",
            "",
            *figures_table(model, gray),
            "",
        ]
    else:
        lines += ["The test split is empty for this data set: no test figures.", ""]
    if last_eval:
        lines += ["Last epoch's eval split (from the training run): "
                  + ", ".join(f"{k.removeprefix('eval/')} {v:.3f}" for k, v in sorted(last_eval.items())), ""]
    lines += [
        "## Sample grid",
        "",
        "`model_card/test_samples.png` in this publish run: one test image per row, gray | predicted | original.",
        "",
        "## How to use it",
        "",
        f"- `colorgan colorize PHOTO... --model models:/{name}@{ALIAS} --out DIR`",
        f"- `mlflow models serve -m models:/{name}@{ALIAS} --env-manager local`, then POST /invocations "
        '`{"dataframe_records": [{"image": "<base64 image file>"}]}` -> `{"predictions": [{"image": "<base64 PNG>"}]}`',
        "- in Python: `mlflow.pyfunc.load_model(...).predict(uint8 HxW or HxWx3 array)` -> uint8 RGB HxWx3",
        "",
        *card_limitations(size),
        "- Needs colorgan installed where the pyfunc is loaded (`pip install -e .` of the repository).",
    ]
    return "\n".join(lines) + "\n"


def _cell(row: dict, m: metrics.Metric) -> str:
    if m.name not in row:
        return ""
    ci = row.get(f"{m.mean_of}_ci95") if m.mean_of else None
    return f"{row[m.name]:.{m.digits}f}" + (f" ± {ci:.{m.digits}f}" if ci is not None else "")


def figures_table(model: dict, gray: dict) -> list[str]:
    """Every model card's table: metrics.QUALITY's figures, this model next to the gray image on the same images;
    a mean over images with its 95% interval when the row has one."""
    return ["| figure | this model | gray image |", "|---|---|---|",
            *(f"| {m.heading} | {_cell(model, m)} | {_cell(gray, m)} |" for m in metrics.QUALITY.values()
              if m.name in model)]


def card_intro(cfg: config_mod.Config, info: dict, params: dict) -> list[str]:
    """The sections every model card opens with: what the model does, its training data and its config."""
    size = cfg.image_size
    return [
        "## What it does",
        "",
        f"A pix2pix-style U-Net generator trained at {size}x{size}. Given a photo of any size (uint8 gray HxW or "
        "colour HxWx3; colour is reduced to its L*), it predicts the chroma from the photo resized to "
        f"{size}x{size}, resizes that chroma (bilinear) to the full resolution and joins it with the photo's own "
        "full-resolution L*. The output has the input's size and lightness.",
        "",
        "## Training data",
        "",
        f"- folder: `{info.get('data_dir', params.get('data_dir', '?'))}` ({info.get('data_source', '?')})",
        f"- fingerprint: `{info.get('fingerprint', '?')}`",
        f"- usable files: {info.get('n_usable', '?')} of {info.get('n_files', '?')} "
        f"(skipped: {info.get('n_skipped', '?')})",
        f"- split: {params.get('n_train', '?')} train (the run's cap), {info.get('n_eval', '?')} eval, "
        f"{info.get('n_test', '?')} test; near-grey photos (mean chroma < {cfg.grey_threshold}) left out of each",
        "",
        "## Config",
        "",
        "```toml",
        config_mod.to_toml(cfg).rstrip(),
        "```",
        "",
    ]


def card_limitations(size: int) -> list[str]:
    """The limitations section every model card holds (a card may add its own lines after it)."""
    return [
        "## Limitations",
        "",
        f"- Colours come from a {size}x{size} view of the whole photo (squashed, not cropped): chroma has at most "
        f"{size}x{size} detail, and small objects get the colour of their surroundings.",
        "- It knows only the photos it was trained on (above). Trained on the landscape set, it gives portraits, "
        "indoor scenes and objects landscape colours (sky blue, vegetation green, earth brown).",
        "- Colours are plausible, not true: the model cannot know the real colour of a car or a dress.",
        "- Trained briefly on a CPU (see the config: epochs and images). PSNR rewards dull, greyish output: read it "
        "next to the gray baseline and the colourfulness figures.",
    ]


def publish(run_id: str, root: Path, study: str | None = None, name: str = MODEL_NAME,
            alias: str = ALIAS) -> Published:
    """Register the generator of a FINISHED training run as the pyfunc ``name``, point ``alias`` at it, and attach
    the model card (registry descriptions + artifact)."""
    loaded = load_generator(run_id, root)
    source = tracking.run_data(root, loaded.run_id)
    batches, info = _test_batches(loaded.cfg, source.params, root)
    model, gray, grid = _scores_and_grid(loaded.generator, batches, loaded.cfg.color_space)
    last_eval = {k: v for k, v in source.metrics.items() if k in ("eval/psnr", "eval/ssim", "eval/colorfulness")}
    tags = {SOURCE_RUN_TAG: loaded.run_id, **({STUDY_TAG: study} if study else {})}
    with tracking.open_run(root, EXPERIMENT, f"publish-{loaded.run_id[:8]}", tags=tags) as run:
        run.log_params({"source_run": loaded.run_id, "study": study or "", "test_cap": TEST_CAP})
        run.log_metrics({**{f"test/{k}": v for k, v in model.items()},
                         **{f"baseline/gray_{k}": v for k, v in gray.items()}}, step=0)
        if grid is not None:
            run.log_image(grid, "model_card/test_samples.png")
        settings = {"predictor": pyfunc_model.PREDICTOR, "image_size": loaded.cfg.image_size,
                    "color_space": loaded.cfg.color_space}
        model_uri = registry.log_pyfunc(run, loaded.model_uri, settings)
    version = registry.register(root, model_uri, name, tags)
    card = model_card(name=name, version=version, source_run_id=loaded.run_id, study=study, cfg=loaded.cfg,
                      info=info, params=source.params, model=model, gray=gray, last_eval=last_eval)
    registry.describe(root, name, version, card, run.run_id, f"model_card/{CARD_FILE}")
    registry.set_alias(root, name, alias, version)
    return Published(name, version, alias, run.run_id, loaded.run_id, card)
