"""`colorgan ship`: a trained generator -> a shipped-model folder in the repository (serving.model_folder's format).

The generator is rounded to the float16 weights the folder stores, then scored on the whole test split of its
config, on a fixed subset (the first SUBSET files of the sorted test split) and on the photos of other subjects
(`make ood`: colorgan.data.samples.other_subjects_dir), next to the gray image, with `evaluate`'s code. The card and
``figures.json`` hold those figures; ``tests/release/test_shipped_model.py`` recomputes the subset's and the other
subjects', so a change that breaks loading or the colour pipeline fails CI. The card is written by
colorgan.release.cards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colorgan import tracking
from colorgan.base import paths
from colorgan.data import datasets, samples
from colorgan.evaluation import evaluate
from colorgan.release import cards, inference
from colorgan.scoring import metrics
from colorgan.serving import model_folder, references
from colorgan.training import warmstart

SUBSET = 64  # the fixed subset: the first files of the sorted test split, at the model's size
FORMAT = 1  # figures.json's layout
HEADS = tuple(head.prefix for head in cards.HEADS)  # heads fitted after training: their metrics and CPU go in the card
CARRIED = ("source", "lineage", "command", "training_cpu", *HEADS)  # what a shipped source's figures.json passes on


class ShipError(datasets.DataError):
    """A folder whose card cannot be re-made as it stands; the message says why."""


@dataclass(frozen=True)
class ShipResult:
    folder: Path
    source: str  # the description of the shipped model's source
    figures: dict
    card: str


def _tables(subjects: dict[str, evaluate.Subject], folder: Path, rels: list[str]):
    """(names kept, skipped, each subject's per-image table) on the files, at the subjects' size."""
    names, _, skipped, tables = evaluate.per_image_tables(subjects, folder, rels)
    if not names:
        raise datasets.DataError(f"{folder}: no usable image to score ({len(skipped)} skipped)")
    return names, skipped, tables


def score(subjects: dict[str, evaluate.Subject], data_dir: Path, rels: list[str]) -> dict:
    """Each subject's figures on the files: ``test`` (summary rows: "all", then one per class) and ``subset`` (the
    "all" row of the first SUBSET files), with the files of the subset."""
    return scored(subjects, data_dir, rels)[0]


def scored(subjects: dict[str, evaluate.Subject], data_dir: Path, rels: list[str]) -> tuple[dict, np.ndarray]:
    """(score's figures with the sample grid's files and layout, the grid): `evaluate`'s grid of the model
    (gray | model | original) on the files, one per row taken in turn from each class."""
    names, rgb, skipped, tables = evaluate.per_image_tables(subjects, data_dir, rels)
    if not names:
        raise datasets.DataError(f"{data_dir}: no usable image to score ({len(skipped)} skipped)")
    grid, layout = evaluate.sample_grid(subjects["model"], names, rgb)
    return {
        "n_test": len(names),
        "skipped": [f"{n}\t{why}" for n, why in skipped],
        "test": {label: evaluate.records(evaluate.summarise(t)) for label, t in tables.items()},
        "subset": {"files": names[:SUBSET],
                   **{label: evaluate.records(evaluate.summarise(t.iloc[:SUBSET]))[0] for label, t in tables.items()}},
        "sample_grid": {"file": model_folder.SAMPLES_FILE, "layout": layout,
                        "files": [names[i] for i in evaluate.spread_pick(names, evaluate.SAMPLE_ROWS)]},
    }, grid


def other_subjects(subjects: dict[str, evaluate.Subject], root: Path) -> dict:
    """The model and the gray image on the photos of other subjects (`make ood`): each one's "all" row, every
    photo's PSNR, and the model's per-photo PSNR gain over gray with its paired 95% interval. A landscape model
    that does not know a subject should not do worse than leaving it gray."""
    folder = samples.other_subjects_dir(paths.cache_dir(root) / "colorgan")
    names, _, tables = _tables(subjects, folder, datasets.find_images(folder))  # what `colorgan evaluate --data` lists
    gain = metrics.paired_difference(tables["model"]["psnr"], tables["gray"]["psnr"], "psnr", "higher")
    return {"files": names,
            **{label: evaluate.records(evaluate.summarise(t))[0] for label, t in tables.items()},
            "psnr_per_photo": {label: [float(v) for v in t["psnr"]] for label, t in tables.items()},
            "psnr_gain": {"mean": gain.mean, "low": gain.low, "high": gain.high, "verdict": gain.verdict}}


def ship(ref: str, out: Path, root: Path, command: str = "", replace: bool = False,
         study_run: references.StudyRun | None = None) -> ShipResult:
    """Score the generator ``ref`` names (as it will be stored) and write it, its config, card, figures and grid to
    ``out``. ``command``: how it was trained (default: train again from the folder's resolved config, or what a
    shipped source recorded). A shipped folder shipped onto itself keeps its weights file (module docstring)."""
    model = references.resolve(ref, root, study_run=study_run)
    source = shipped_source(ref)
    earlier = json.loads((source / model_folder.FIGURES_FILE).read_text()) if source and (
        source / model_folder.FIGURES_FILE).is_file() else {}
    keep = source is not None and Path(out).resolve() == source.resolve()
    generator = model_folder.stored(model.generator)
    cfg = model.cfg
    data_dir, scan, splits, split_info = datasets.split_dataset(cfg, root)
    recorded = earlier.get("data", {}).get("fingerprint")
    if keep and recorded and recorded != split_info["fingerprint"]:
        raise ShipError(f"{data_dir} is not the data {out} was shipped with (fingerprint {split_info['fingerprint']}, "
                        f"not {recorded}): its card cannot be re-made on it")
    rels = sorted(splits["test"])
    subjects = {"model": evaluate.generator_subject(ref, generator, cfg, model.run_id),
                "gray": evaluate.baseline_subject("gray", cfg.image_size, cfg, root)}
    record = tracking.run_data(root, model.run_id) if model.run_id else None
    params = {**split_counts(cfg, scan, splits), **(dict(record.params) if record else {})}
    figures = {"format": FORMAT, "source": model.description, "lineage": model.lineage,
               "command": command or f"colorgan train {out}/{model_folder.CONFIG_FILE}  # the resolved config; "
                                     "command not recorded",
               "training_cpu": training_cpu(record, root) if record else [],
               **{head: {k: v for k, v in record.metrics.items() if k.startswith(head + "/")} if record else {}
                  for head in HEADS}}
    figures.update({k: earlier[k] for k in CARRIED if k in earlier and not record and not (k == "command" and command)})
    scores, grid = scored(subjects, data_dir, rels)
    figures.update({"image_size": cfg.image_size, "color_space": cfg.color_space,
                    "data": {"data_dir": str(data_dir), "data_source": split_info["data_source"],
                             "fingerprint": split_info["fingerprint"]},
                    **scores, "other_subjects": other_subjects(subjects, root),
                    "inference": inference.measure(model.run_id or str(source), cfg.image_size, root)})
    card = cards.shipped_card(model_folder.display(out), cfg, figures,
                              {**params, **split_info, "n_test": figures["n_test"]}, params,
                              kept_sha=model_folder.weights_sha(out) if keep else "")
    model_folder.write(out, generator, cfg, card, figures, replace=replace, grid=grid, keep_weights=keep)
    return ShipResult(Path(out), figures["source"], figures, card)


def shipped_source(ref: str) -> Path | None:
    """The shipped-model folder ``ref`` names, or None (a run, a registered model, a study)."""
    parsed = references.parse(ref)
    if parsed.kind == "shipped":
        return paths.shipped_model_dir()
    return Path(parsed.name) if parsed.kind == "folder" else None


def split_counts(cfg, scan: datasets.ScanResult, splits: dict[str, list[str]]) -> dict[str, int]:
    """What the card says of the data, as training counted it (datasets.load): files found, usable and skipped, and
    the train and eval splits after the grey filter and the config's caps."""
    return {"n_files": scan.n_found, "n_usable": len(scan.files), "n_skipped": len(scan.skipped),
            "n_train": len(splits["train"][: cfg.max_train_images or None]),
            "n_eval": len(splits["eval"][: cfg.max_eval_images or None])}


def training_cpu(record: tracking.RunRecord, root: Path, depth: int = 5) -> list[dict]:
    """The CPU time that made the model: the run's own (its epochs, then its confidence head) and, along its warm
    starts (init_from), each source run's, newest first; what each ``max_cpu_minutes`` allowed."""
    rows = [{"run_id": record.run_id, "name": record.name, "cpu_seconds": record.metrics.get("cpu_seconds", 0.0)
             + sum(record.metrics.get(f"{head}/cpu_seconds", 0.0) for head in HEADS),
             "max_cpu_minutes": float(record.params.get("max_cpu_minutes", 0) or 0),
             "cpu_model": record.params.get("cpu_model", "")}]
    source = record.tags.get(warmstart.LINEAGE_TAG, "")
    if depth > 1 and source.startswith(references.SHIPPED_LINEAGE):
        rows += shipped_cpu(source, root)
    elif depth > 1 and source:
        rows += training_cpu(tracking.run_data(root, source), root, depth - 1)
    return rows


def shipped_cpu(lineage: str, root: Path) -> list[dict]:
    """The training cost a shipped model's card recorded, for a run warm-started from it: found while the folder
    still holds those weights (a ship that replaced them reads it before writing), else nothing to add."""
    folder, _, sha = lineage[len(references.SHIPPED_LINEAGE):].rpartition("@")
    path = Path(folder) if Path(folder).is_absolute() else root / folder
    if not model_folder.exists(path) or model_folder.weights_sha(path) != sha:
        return []
    return json.loads((path / model_folder.FIGURES_FILE).read_text()).get("training_cpu", [])
