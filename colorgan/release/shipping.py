"""`colorgan ship`: a trained generator -> a shipped-model folder in the repository (serving.model_folder's format).

The generator is rounded to the float16 weights the folder stores, then scored on the whole test split of its
config, on a fixed subset (the first SUBSET files of the sorted test split) and on the photos of other subjects
(`make ood`: colorgan.data.samples.other_subjects_dir), next to the gray image, with `evaluate`'s code. The card and
``figures.json`` hold those figures; ``tests/test_shipped_model.py`` recomputes the subset's and the other
subjects', so a change that breaks loading or the colour pipeline fails CI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from colorgan import tracking
from colorgan.base import paths
from colorgan.data import datasets, samples
from colorgan.evaluation import evaluate
from colorgan.model import colorbins, confidence
from colorgan.release import publish
from colorgan.scoring import metrics
from colorgan.serving import model_folder, references
from colorgan.training import warmstart

SUBSET = 64  # the fixed subset: the first files of the sorted test split, at the model's size
FORMAT = 1  # figures.json's layout
HEADS = (confidence.PREFIX, colorbins.PREFIX)  # heads fitted after training: their metrics and CPU go in the card


@dataclass(frozen=True)
class ShipResult:
    folder: Path
    source: str  # the description of the shipped model's source
    figures: dict
    card: str


def _records(summary: pd.DataFrame) -> list[dict]:
    return [{k: (v if isinstance(v, str) else int(v) if k == "n" else float(v)) for k, v in row.items()}
            for row in summary.to_dict("records")]


def _tables(subjects: dict[str, evaluate.Subject], folder: Path, rels: list[str]):
    """(names kept, skipped, each subject's per-image table) on the files, at the subjects' size."""
    size = next(iter(subjects.values())).size
    names, rgb, skipped = evaluate.load_images(folder, rels, size)
    if not names:
        raise datasets.DataError(f"{folder}: no usable image to score ({len(skipped)} skipped)")
    return names, skipped, {label: evaluate.per_image_table(subject, names, rgb) for label, subject in subjects.items()}


def score(subjects: dict[str, evaluate.Subject], data_dir: Path, rels: list[str]) -> dict:
    """Each subject's figures on the files: ``test`` (summary rows: "all", then one per class) and ``subset`` (the
    "all" row of the first SUBSET files), with the files of the subset."""
    names, skipped, tables = _tables(subjects, data_dir, rels)
    return {
        "n_test": len(names),
        "skipped": [f"{n}\t{why}" for n, why in skipped],
        "test": {label: _records(evaluate.summarise(t)) for label, t in tables.items()},
        "subset": {"files": names[:SUBSET],
                   **{label: _records(evaluate.summarise(t.iloc[:SUBSET]))[0] for label, t in tables.items()}},
    }


def other_subjects(subjects: dict[str, evaluate.Subject], root: Path) -> dict:
    """The model and the gray image on the photos of other subjects (`make ood`): each one's "all" row, every
    photo's PSNR, and the model's per-photo PSNR gain over gray with its paired 95% interval. A landscape model
    that does not know a subject should not do worse than leaving it gray."""
    folder = samples.other_subjects_dir(paths.cache_dir(root) / "colorgan")
    names, _, tables = _tables(subjects, folder, datasets.find_images(folder))  # what `colorgan evaluate --data` lists
    gain = metrics.paired_difference(tables["model"]["psnr"], tables["gray"]["psnr"], "psnr", "higher")
    return {"files": names,
            **{label: _records(evaluate.summarise(t))[0] for label, t in tables.items()},
            "psnr_per_photo": {label: [float(v) for v in t["psnr"]] for label, t in tables.items()},
            "psnr_gain": {"mean": gain.mean, "low": gain.low, "high": gain.high, "verdict": gain.verdict}}


def ship(ref: str, out: Path, root: Path, command: str = "", replace: bool = False,
         study_run: references.StudyRun | None = None) -> ShipResult:
    """Score the generator ``ref`` names (as it will be stored) and write it, its config, card and figures to
    ``out``. ``command``: how it was trained (default: train again from the folder's resolved config)."""
    model = references.resolve(ref, root, study_run=study_run)
    generator = model_folder.stored(model.generator)
    cfg = model.cfg
    data_dir, rels, split_info = evaluate.sorted_test_split(cfg, root)
    subjects = {"model": evaluate.generator_subject(ref, generator, cfg, model.run_id),
                "gray": evaluate.baseline_subject("gray", cfg.image_size, cfg, root)}
    command = command or f"colorgan train {out}/{model_folder.CONFIG_FILE}  # the resolved config; command not recorded"
    record = tracking.run_data(root, model.run_id) if model.run_id else None
    params = dict(record.params) if record else {}
    figures = {"format": FORMAT, "source": model.description, "lineage": model.lineage, "command": command,
               "training_cpu": training_cpu(record, root) if record else [],
               **{head: {k: v for k, v in record.metrics.items() if k.startswith(head + "/")} if record else {}
                  for head in HEADS},
               "image_size": cfg.image_size, "color_space": cfg.color_space,
               "data": {"data_dir": str(data_dir), "data_source": split_info["data_source"],
                        "fingerprint": split_info["fingerprint"]},
               **score(subjects, data_dir, rels), "other_subjects": other_subjects(subjects, root)}
    card = model_card(model_folder.display(out), cfg, figures, {**params, **split_info, "n_test": figures["n_test"]},
                      params)
    model_folder.write(out, generator, cfg, card, figures, replace=replace)
    return ShipResult(Path(out), model.description, figures, card)


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


def cost_section(rows: list[dict]) -> list[str]:
    """The card's lines on what training cost, in the CPU time the runs logged (time.process_time)."""
    if not rows:
        return []
    total = sum(r["cpu_seconds"] for r in rows)
    parts = "; ".join(f"run {r['run_id']} (`{r['name']}`) {r['cpu_seconds']:,.0f} s"
                      + (f" of a {r['max_cpu_minutes']:g}-minute budget" if r["max_cpu_minutes"] else "")
                      + (f" on {r['cpu_model']}" if r["cpu_model"] else "") for r in rows)
    return ["## Training cost", "",
            f"{total:,.0f} CPU-seconds ({total / 60:.1f} CPU-minutes) of the training processes, as each run logged "
            f"it (`cpu_seconds`, and `confidence/cpu_seconds` or `bins/cpu_seconds` for its head): {parts}.", ""]


def confidence_section(values: dict) -> list[str]:
    """The card's lines on the confidence head (colorgan.model.confidence), from the run's confidence/ metrics."""
    if not values:
        return []
    key = confidence.PREFIX + "/"
    alone = (f"eval split without it: pooled PSNR {values[key + 'eval_psnr_alone']:.2f} dB, colourfulness gap "
             f"{values[key + 'eval_colorfulness_gap_alone']:.1f}")
    if not values.get(key + "used"):
        return ["## Confidence head", "", f"Fitted but not used: no offset raised the eval PSNR within the colour "
                f"budget ({alone}).", ""]
    return ["## Confidence head", "",
            "The model scales each pixel's a*b* by a confidence in (0, 1) learned after training on where the "
            "generator's colour goes wrong (`confidence_epochs`, docs/training.md), so an unfamiliar subject is "
            f"coloured less. Offset {values[key + 'offset']:g}, chosen on the eval split: pooled PSNR "
            f"{values[key + 'eval_psnr']:.2f} dB, colourfulness gap {values[key + 'eval_colorfulness_gap']:.1f} "
            f"({alone}). The figures above are the model's with it.", ""]


def bins_section(values: dict) -> list[str]:
    """The card's lines on the colour-bins head (colorgan.model.colorbins), from the run's bins/ metrics."""
    if not values:
        return []
    key = colorbins.PREFIX + "/"
    alone = (f"eval split without it: pooled PSNR {values[key + 'eval_psnr_alone']:.2f} dB, colourfulness gap "
             f"{values[key + 'eval_colorfulness_gap_alone']:.1f}")
    if not values.get(key + "used"):
        return ["## Colour-bins head", "", f"Fitted but not used: no decoding narrowed the eval gap within the PSNR "
                f"allowance ({alone}).", ""]
    return ["## Colour-bins head", "",
            "Beside the regression, a head gives each pixel a distribution over a*b* cells, fitted by rebalanced "
            "cross-entropy after training (Zhang et al. 2016; `bins_epochs`, docs/training.md), decoded by the "
            f"annealed mean at temperature {values[key + 'temperature']:g} and mixed {values[key + 'mix']:g} : "
            f"{1 - values[key + 'mix']:g} with the regression's a*b*, chosen on the eval split: pooled PSNR "
            f"{values[key + 'eval_psnr']:.2f} dB, colourfulness gap {values[key + 'eval_colorfulness_gap']:.1f} "
            f"({alone}). The figures above are the model's with it: more colour, paid for in PSNR.", ""]


def model_card(folder: str, cfg, figures: dict, info: dict, params: dict) -> str:
    """The card of a shipped model in ``folder`` (as model_folder.display shows it), from ship's figures."""
    size, name = cfg.image_size, Path(folder).name
    model, gray = figures["test"]["model"], figures["test"]["gray"]
    psnr, gap, delta = (metrics.QUALITY[k] for k in ("psnr", "colorfulness_gap", "colorfulness_delta"))
    lines = [
        f"# {name}: the reference colorization generator",
        "",
        f"Shipped {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from {figures['source']}. "
        f"`{model_folder.GENERATOR_FILE}` stores its weights as {model_folder.STORED_DTYPE} (cast back to float32 on "
        "load); every figure below was computed on those weights.",
        "",
        *publish.card_intro(cfg, info, params),
        "## How it was trained",
        "",
        "```bash",
        figures["command"],
        "```",
        "",
        "## Test-split figures",
        "",
        f"The whole test split ({figures['n_test']} images, near-grey ones left out), at {size}x{size}, scored "
        "with `scoring.metrics` as `colorgan evaluate` does; the gray image is the L* image itself (a*b* = 0). "
        "Means over images are given with their 95% interval.",
        "",
        *publish.figures_table(model[0], gray[0]),
        "",
        f"Pooled PSNR {model[0]['psnr'] - gray[0]['psnr']:+.2f} dB over the gray image; colourfulness "
        f"{model[0]['colorfulness']:.1f} against {model[0]['colorfulness_orig']:.1f} for the originals "
        f"(mean gap {model[0]['colorfulness_gap']:.1f}; set-level ΔCF {model[0]['colorfulness_delta']:+.1f}, the "
        "figure DDColor and Zhang et al. publish).",
        "",
        f"| class | images | {psnr.heading}: model | gray | {gap.heading}: model | gray | {delta.heading}: model |",
        "|---|---|---|---|---|---|---|",
        *(f"| {m['group']} | {m['n']} | {m['psnr']:.2f} | {g['psnr']:.2f} | {m['colorfulness_gap']:.1f} | "
          f"{g['colorfulness_gap']:.1f} | {m['colorfulness_delta']:+.1f} |" for m, g in zip(model, gray, strict=True)),
        "",
        *other_subjects_section(figures["other_subjects"], size),
        *confidence_section(figures.get("confidence", {})),
        *bins_section(figures.get("bins", {})),
        *cost_section(figures.get("training_cpu", [])),
        f"`{model_folder.FIGURES_FILE}` holds these figures, and under `subset` those of the first "
        f"{len(figures['subset']['files'])} files of the sorted test split, which `tests/test_shipped_model.py` "
        "recomputes with those of the other subjects.",
        "",
        "## How to use it",
        "",
        f"- `colorgan colorize PHOTO... --model {folder} --out DIR`; shipped as `models/landscapes-128` (the "
        f"reference `shipped`) it is what `colorize`, `export` and `make serve` use when no `{references.CHAMPION}` "
        "is registered",
        f'- warm start: `init_from = "{folder}"` in an experiment file (`"shipped"` for models/landscapes-128)',
        f"- in Python: `colorgan.serving.model_folder.load(\"{folder}\")` -> (generator, config)",
        "",
        *publish.card_limitations(size),
    ]
    return "\n".join(lines) + "\n"


def other_subjects_section(ood: dict, size: int) -> list[str]:
    """The card's lines on the photos of other subjects: every photo against gray, the paired mean gain."""
    model, gray, gain = ood["model"], ood["gray"], ood["psnr_gain"]
    per_photo = zip(ood["files"], ood["psnr_per_photo"]["model"], ood["psnr_per_photo"]["gray"], strict=True)
    return [
        "## Photos of other subjects",
        "",
        f"The {len(ood['files'])} colour photographs bundled with scikit-image and scikit-learn (`make ood`), whole, "
        f"at {size}x{size}: subjects a landscape model never saw. Where it does worse than the gray image it colours "
        "a subject wrongly; so few photos are a smoke alarm, not a benchmark.",
        "",
        "| photo | PSNR (dB): model | gray | gain |",
        "|---|---|---|---|",
        *(f"| {Path(name).stem} | {m:.2f} | {g:.2f} | {m - g:+.2f} |" for name, m, g in per_photo),
        "",
        f"Per photo {gain['mean']:+.2f} dB over the gray image, paired 95% interval [{gain['low']:+.2f}, "
        f"{gain['high']:+.2f}] ({gain['verdict']}); pooled {model['psnr'] - gray['psnr']:+.2f} dB; colourfulness "
        f"gap {model['colorfulness_gap']:.1f} (gray {gray['colorfulness_gap']:.1f}), ΔCF "
        f"{model['colorfulness_delta']:+.1f}.",
        "",
    ]
