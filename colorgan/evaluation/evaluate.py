"""`colorgan evaluate`: one model or baseline scored on a folder of colour photos, per image and as a summary.

Models and baselines go through the same code on the same images: decode (bad files are counted, named and
skipped), centre-crop and resize as the eval pipeline does, keep only L*, predict, and score with
``colorgan.scoring.metrics``. Results are logged to MLflow (``colorgan.tracking.evaluations``) for the report generator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from colorgan import tracking
from colorgan.base import config
from colorgan.base.errors import UsageError
from colorgan.data import color, datasets
from colorgan.data.images import BadImage, read_rgb
from colorgan.model import gan
from colorgan.scoring import baselines, grids, metrics
from colorgan.serving import references
from colorgan.tracking import evaluations

log = logging.getLogger(__name__)

SAMPLE_ROWS = 10  # fixed test images in the sample grid, taken in turn from each class (see spread_pick)
GRID_COLUMNS = ("gray", "prediction", "original")  # the sample grid's columns, left to right
BATCH = 32
WELSH_POOL = 256  # Welsh's candidate references: the first training photos in (deterministic) split order
DEFAULT_SIZE = 128


class EvaluateError(UsageError):
    """Nothing to evaluate, or a baseline that cannot be built; the message says what to run."""


@dataclass(frozen=True)
class Subject:
    """What is evaluated: a prediction function from original RGB batches (it only uses their L*)."""

    label: str
    size: int
    predict: Callable[[np.ndarray], np.ndarray]
    cfg: config.Config  # whose splits define the default test data
    run_id: str | None  # a model's run; None for a shipped model or a non-learned baseline (they get runs of their own)
    baseline: str = ""
    shipped: str = ""  # a shipped model's lineage (shipped:<folder>@<weights sha256 prefix>)


@dataclass(frozen=True)
class Evaluation:
    run_id: str
    key: str  # the data key: "test" or "data-<hash of the folder>"
    data_dir: str
    size: int
    per_image: pd.DataFrame
    summary: pd.DataFrame  # one row for "all", then one per class
    skipped: tuple[tuple[str, str], ...]
    model: str = ""  # the reference evaluated: the one named, else the default model (references.default_ref)
    data_source: str = ""  # the test split's (datasets.resolve_data_dir; BUILT_IN: the sample set); "" for --data


def data_key(folder: str | None) -> str:
    """"test" for the default test split; for an explicit folder, a stable key from its absolute path."""
    if folder is None:
        return "test"
    return "data-" + hashlib.sha1(str(Path(folder).resolve()).encode()).hexdigest()[:10]


def model_subject(ref: str | references.Ref, root: Path, study_run: references.StudyRun | None = None) -> Subject:
    """Any model reference (references.resolve) as a Subject."""
    model = references.resolve(ref, root, study_run=study_run)
    subject = generator_subject(model.ref, model.generator, model.cfg, model.run_id)
    return subject if model.run_id else dataclasses.replace(subject, shipped=model.lineage)


def generator_subject(label: str, generator, cfg: config.Config, run_id: str | None) -> Subject:
    """A generator (trained at ``cfg``'s size and colour space) as a Subject."""
    space = cfg.color_space

    def predict(rgb: np.ndarray) -> np.ndarray:
        l_in, _ = color.encode(tf.constant(rgb, tf.float32), space)
        return np.asarray(color.decode(l_in, generator(l_in, training=False), space))

    return Subject(label, cfg.image_size, predict, cfg, run_id)


def sorted_test_split(cfg: config.Config, root: Path) -> tuple[Path, list[str], dict]:
    """(data folder, its test split sorted by name, the data info): the default evaluation data of a config."""
    data_dir, _, splits, info = datasets.split_dataset(cfg, root)
    return data_dir, sorted(splits["test"]), info


def per_image_table(subject: Subject, names: list[str], rgb: np.ndarray) -> pd.DataFrame:
    """One row per image: file, class and every per-image score of ``subject`` on ``rgb``."""
    return pd.DataFrame({"file": names, "class": [class_of(n) for n in names], **score(subject.predict, rgb)})


def per_image_tables(subjects: dict[str, Subject], folder: Path, rels: list[str]
                     ) -> tuple[list[str], np.ndarray, list[tuple[str, str]], dict[str, pd.DataFrame]]:
    """(names kept, their RGB, skipped (name, reason), each subject's per-image table): the files decoded once, at
    the subjects' (shared) size, and every subject scored on them as `colorgan evaluate` scores one."""
    size = next(iter(subjects.values())).size
    names, rgb, skipped = load_images(folder, rels, size)
    return names, rgb, skipped, {label: per_image_table(subject, names, rgb) for label, subject in subjects.items()}


def baseline_subject(name: str, size: int, cfg: config.Config, root: Path) -> Subject:
    if name == "l1_only":
        run_id = tracking.find_finished_run(root, cfg.experiment, name="l1_only")
        if run_id is None:
            raise EvaluateError(f"no finished l1_only run in experiment {cfg.experiment!r}: run `make train "
                                f"EXP=l1_only` first")
        subject = model_subject(run_id, root)
        return Subject(f"baseline:{name}", subject.size, subject.predict, subject.cfg, run_id, name)
    if name == "gray":
        return Subject(f"baseline:{name}", size, baselines.gray, cfg, None, name)
    if name == "welsh":
        folder, _, splits, _ = datasets.split_dataset(cfg, root)
        names, rgb, _ = load_images(folder, splits["train"][:WELSH_POOL], size)
        if not names:
            raise EvaluateError(f"Welsh needs reference photos: the training split of {folder} is empty")
        return Subject(f"baseline:{name}", size, baselines.Welsh(baselines.lab_of(rgb)), cfg, None, name)
    raise EvaluateError(f"unknown baseline {name!r}; known: {', '.join(baselines.NAMES)}")


def load_images(folder: Path, rels: list[str], size: int) -> tuple[list[str], np.ndarray, list[tuple[str, str]]]:
    """(names kept, RGB [N, size, size, 3] in [0, 1], skipped (name, reason)): decoded as the eval pipeline does."""
    names, images, skipped = [], [], []
    for rel in rels:
        try:
            rgb, _ = read_rgb(Path(folder) / rel)
        except BadImage as exc:
            skipped.append((rel, str(exc)))
            continue
        names.append(rel)
        images.append(np.asarray(datasets.square_resize(tf.constant(rgb), size), np.float32))
    stack = np.stack(images) if images else np.zeros((0, size, size, 3), np.float32)
    return names, stack, skipped


def score(predict: Callable[[np.ndarray], np.ndarray], rgb: np.ndarray) -> dict[str, np.ndarray]:
    acc = metrics.QualityAccumulator()
    for i in range(0, len(rgb), BATCH):
        chunk = rgb[i:i + BATCH]
        acc.update(metrics.image_scores(predict(chunk), chunk))
    return acc.per_image()


def summary_row(group: str, per_image: dict[str, np.ndarray]) -> dict:
    """One column per metrics.QUALITY figure, for one group of images: the pooled and median ones as they are,
    each mean over images with its 95% interval (column ``<per-image score>_ci95``)."""
    pooled = metrics.summarise(per_image)
    row = {"group": group, "n": int(pooled["images"])}
    row.update({m.name: pooled[m.name] for m in metrics.QUALITY.values() if not m.mean_of})
    for m in metrics.MEANS:
        row[m.name], row[f"{m.mean_of}_ci95"] = metrics.mean_ci(per_image[m.mean_of])
    return row


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    columns = [*metrics.POOLED_SCORES, *(m.mean_of for m in metrics.MEANS)]
    groups = [("all", table)] + [(c, t) for c, t in table.groupby("class", sort=True) if c]
    return pd.DataFrame([summary_row(g, {k: t[k].to_numpy() for k in columns}) for g, t in groups])


def records(summary: pd.DataFrame) -> list[dict]:
    """A summary's rows as plain values (``n`` an int, the figures floats): for JSON, a card or logged metrics."""
    return [{k: (v if isinstance(v, str) else int(v) if k == "n" else float(v)) for k, v in row.items()}
            for row in summary.to_dict("records")]


def class_of(rel: str) -> str:
    """The class sub-folder a file sits in ("" for a file at the top of the folder)."""
    return rel.split("/", 1)[0] if "/" in rel else ""


def spread_pick(names: list[str], rows: int) -> list[int]:
    """Indices of ``rows`` images taken in turn from each class (sorted classes, sorted files within each), so a
    grid shows every kind of scene rather than the first files of one folder; deterministic."""
    by_class: dict[str, list[int]] = {}
    for i in sorted(range(len(names)), key=lambda i: names[i]):
        by_class.setdefault(class_of(names[i]), []).append(i)
    queues = [by_class[c] for c in sorted(by_class)]
    pick: list[int] = []
    while len(pick) < min(rows, len(names)):
        for queue in queues:
            if queue and len(pick) < rows:
                pick.append(queue.pop(0))
    return pick


def sample_grid(subject: Subject, names: list[str], rgb: np.ndarray,
                rows: int = SAMPLE_ROWS) -> tuple[np.ndarray, dict]:
    """(grid, its layout): gray | prediction | original (GRID_COLUMNS) on ``rows`` fixed images spread over the
    classes (info.json's sample_files); the layout is logged beside it (info.json's sample_grid)."""
    originals = rgb[spread_pick(names, rows)]
    columns = [baselines.gray(originals), subject.predict(originals), originals]
    return grids.sample_grid(columns), grids.layout(columns, GRID_COLUMNS)


def evaluate_model(ref: str | None, folder: str | None = None, size: int | None = None, out: Path | None = None,
                   root: Path | None = None, overrides: tuple[str, ...] = (),
                   study_run: references.StudyRun | None = None) -> Evaluation:
    """Evaluate ``ref`` (a model reference or ``baseline:NAME``; None: the default model, as colorize's and serve's:
    the registered champion, else the shipped one) on ``folder`` (default: the test split)."""
    from colorgan.base.paths import repo_root

    root = Path(root or repo_root())
    ref = ref or references.default_ref(root)
    parsed = references.parse(ref, baselines=baselines.NAMES)
    if parsed.kind == "baseline":
        cfg = config.build(config.parse_overrides(list(overrides)))
        subject = baseline_subject(parsed.name, size or DEFAULT_SIZE, cfg, root)
    else:
        if overrides:
            raise EvaluateError("--set is for baselines; a model is evaluated with the config it trained with")
        subject = model_subject(parsed, root, study_run)
    if size and (subject.run_id or subject.shipped) and size != subject.size:
        raise EvaluateError(f"{ref} was trained at {subject.size}px and is evaluated at that size, not {size}px")
    unlisted: list[tuple[str, str]] = []  # entries that cannot even be opened (scan's checks: data.screen)
    source = ""
    if folder is None:
        data_dir, rels, split_info = sorted_test_split(subject.cfg, root)
        source = split_info["data_source"]
    else:
        data_dir = Path(folder).resolve()
        if not data_dir.is_dir():
            raise datasets.DataError(f"data directory {data_dir} does not exist or is not a directory")
        found = datasets.find_images(data_dir)
        rels, unlisted = datasets.screen(data_dir, found)
    names, rgb, undecoded = load_images(data_dir, rels, subject.size)
    skipped = sorted(unlisted + undecoded)
    if skipped:
        log.warning("%s", datasets.skipped_message(skipped, len(rels) + len(unlisted), data_dir))
    if not names:
        raise datasets.DataError(f"{data_dir}: no usable image to evaluate ({len(skipped)} skipped)")
    per_image = per_image_table(subject, names, rgb)
    table = summarise(per_image)
    key = data_key(folder)
    run_id = subject.run_id or (evaluations.shipped_run(root, subject.shipped, str(data_dir), subject.size)
                                if subject.shipped else
                                evaluations.baseline_run(root, subject.baseline, str(data_dir), subject.size))
    info = {"model": ref, "baseline": subject.baseline, "shipped": subject.shipped, "data_dir": str(data_dir),
            "data_key": key, "image_size": subject.size, "n_images": len(names), "n_skipped": len(skipped),
            "skipped": [f"{n}\t{why}" for n, why in skipped], "sample_rows": min(SAMPLE_ROWS, len(names)),
            "sample_files": [names[i] for i in spread_pick(names, SAMPLE_ROWS)],  # the grid's rows, top down
            "color_space": subject.cfg.color_space,
            # the figures' declarations, so the report labels its columns from what is logged, not a copy
            "metrics": [dataclasses.asdict(m) for m in metrics.QUALITY.values()],
            # what the report graphs, by figure, in panel order: read from what is logged, not a copy
            "plots": {**gan.PLOTS, **metrics.PLOTS}}
    headline = {k: v for k, v in table.iloc[0].items() if k != "group"}
    tables = {"per_image.csv": per_image.to_csv(index=False), "summary.csv": table.to_csv(index=False)}
    grid, info["sample_grid"] = sample_grid(subject, names, rgb)  # the grid's layout, logged with it
    evaluations.log_evaluation(root, run_id, key, headline, tables, grid, info)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        per_image.to_csv(out, index=False)
    return Evaluation(run_id, key, str(data_dir), subject.size, per_image, table, tuple(skipped), ref,
                      source)
