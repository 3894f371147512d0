"""`colorgan publish`: a trained generator -> the registered model ``colorgan`` (alias ``champion``) + a model card.

One publish = one run in the MLflow experiment ``colorgan-registry`` (tag ``colorgan.source_run`` = the training
run) holding the test-split figures next to the gray baseline, a sample grid, the model card, and the pyfunc
(colorgan.serving.pyfunc_model, behind colorgan.tracking.pyfunc) that is registered. The card is also the registered
version's description.

The figures and the grid are `colorgan evaluate`'s (colorgan.evaluation.evaluate) on the first TEST_CAP files of
the run's sorted test split; what using the model costs is measured (colorgan.release.inference); the card is
colorgan.release.cards'. This is the workflow (what is scored, drawn and
written); every MLflow call is ``colorgan.tracking``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colorgan import tracking
from colorgan.base import config as config_mod
from colorgan.evaluation import evaluate
from colorgan.release import cards, inference
from colorgan.serving import pyfunc_model
from colorgan.serving.references import ALIAS, MODEL_NAME
from colorgan.tracking import registry
from colorgan.tracking.models import load_generator
from colorgan.tracking.tags import SOURCE_RUN_TAG, STUDY_TAG

EXPERIMENT = "colorgan-registry"
TEST_CAP = 256  # test images scored per publish (at the model's size): keeps `publish` to seconds on a CPU
CARD_FILE = "model_card.md"
GRID_FILE = "model_card/test_samples.png"


@dataclass(frozen=True)
class Published:
    name: str
    version: str
    alias: str
    run_id: str  # the publish run
    source_run_id: str  # the training run
    card: str


def sorted_test_files(cfg: config_mod.Config, params: dict, root: Path) -> tuple[Path, list[str], dict]:
    """(data folder, its test split sorted by name, the data info) of a training run: the folder it trained on
    when it is still there (else its config's), with the config's split and grey filter."""
    data_dir = params.get("data_dir", "")
    if data_dir and Path(data_dir).is_dir():
        cfg = cfg.replace(data_dir=data_dir)
    return evaluate.sorted_test_split(cfg, root)


def figures_and_grid(subject: evaluate.Subject, data_dir: Path, rels: list[str], root: Path
                     ) -> tuple[dict, dict, np.ndarray | None]:
    """(the model's, the gray image's "all" summary row, the sample grid) on ``rels`` as `colorgan evaluate` gives
    them for those files; ({}, {}, None) when none is usable."""
    gray = evaluate.baseline_subject("gray", subject.size, subject.cfg, root)
    names, rgb, _, tables = evaluate.per_image_tables({"model": subject, "gray": gray}, data_dir, rels)
    if not names:
        return {}, {}, None
    model_row, gray_row = (evaluate.records(evaluate.summarise(tables[label]))[0] for label in ("model", "gray"))
    grid, _ = evaluate.sample_grid(subject, names, rgb)  # the registered card's grid: its layout is evaluate's
    return model_row, gray_row, grid


def _logged(row: dict) -> dict[str, float]:
    """A summary row as metrics: its figures and intervals, its image count as ``images``."""
    return {("images" if k == "n" else k): v for k, v in row.items() if k != "group"}


def publish(run_id: str, root: Path, study: str | None = None, name: str = MODEL_NAME,
            alias: str = ALIAS) -> Published:
    """Register the generator of a FINISHED training run as the pyfunc ``name``, point ``alias`` at it, and attach
    the model card (registry descriptions + artifact)."""
    loaded = load_generator(run_id, root)
    source = tracking.run_data(root, loaded.run_id)
    data_dir, rels, split_info = sorted_test_files(loaded.cfg, source.params, root)
    subject = evaluate.generator_subject(loaded.run_id, loaded.generator, loaded.cfg, loaded.run_id)
    model, gray, grid = figures_and_grid(subject, data_dir, rels[:TEST_CAP], root)
    last_eval = {k: v for k, v in source.metrics.items() if k in ("eval/psnr", "eval/ssim", "eval/colorfulness")}
    tags = {SOURCE_RUN_TAG: loaded.run_id, **({STUDY_TAG: study} if study else {})}
    with tracking.open_run(root, EXPERIMENT, f"publish-{loaded.run_id[:8]}", tags=tags) as run:
        run.log_params({"source_run": loaded.run_id, "study": study or "", "test_cap": TEST_CAP})
        run.log_metrics({**{f"test/{k}": v for k, v in _logged(model).items()},
                         **{f"baseline/gray_{k}": v for k, v in _logged(gray).items()}}, step=0)
        if grid is not None:
            run.log_image(grid, GRID_FILE)
        settings = {"predictor": pyfunc_model.PREDICTOR, "image_size": loaded.cfg.image_size,
                    "color_space": loaded.cfg.color_space}
        model_uri = registry.log_pyfunc(run, loaded.model_uri, settings)
    version = registry.register(root, model_uri, name, tags)
    card = cards.registered_card(name=name, version=version, source_run_id=loaded.run_id, study=study,
                                 cfg=loaded.cfg, info={**source.params, **split_info, "n_test": len(rels)},
                                 params=source.params, model=model, gray=gray, last_eval=last_eval, cap=TEST_CAP,
                                 grid_file=GRID_FILE,
                                 inference=inference.measure(loaded.run_id, loaded.cfg.image_size, root))
    registry.describe(root, name, version, card, run.run_id, f"model_card/{CARD_FILE}")
    registry.set_alias(root, name, alias, version)
    return Published(name, version, alias, run.run_id, loaded.run_id, card)
