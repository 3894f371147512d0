"""Model cards: every section of the registered model's card (`colorgan publish`) and of a shipped folder's card
(`colorgan ship`), written here from the figures each command computed with `colorgan evaluate`'s code.

A card is markdown text; the two cards share their opening sections (what it does, its intended and out-of-scope
use, its training data, where that data comes from and under what licence, its config), their figures table, what
using the model costs (colorgan.release.inference), the terms of its weights and their limitations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from colorgan.base import config as config_mod
from colorgan.data import datasets
from colorgan.model import colorbins, confidence
from colorgan.release.terms import data_source_section, use_sections, weights_terms
from colorgan.scoring import metrics
from colorgan.serving import model_folder, references


def registered_card(*, name: str, version: str, source_run_id: str, study: str | None, cfg: config_mod.Config,
                    info: dict, params: dict, model: dict, gray: dict, last_eval: dict, cap: int,
                    grid_file: str, inference: dict) -> str:
    """The card of registered version ``version`` of ``name`` (its description and the publish run's artifact):
    ``model``/``gray`` are the "all" rows of `evaluate`'s summary on the first ``cap`` files of the sorted test
    split (empty when there was none), ``grid_file`` the publish run's sample grid, ``inference`` what using it
    costs (colorgan.release.inference.measure)."""
    size = cfg.image_size
    lines = [
        f"# {name} version {version}: colorization cGAN generator",
        "",
        f"Published {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from training run `{source_run_id}`"
        + (f", the best trial of the Optuna study `{study}`." if study else "."),
        "",
        *intro(cfg, info, params, None),
        "## Test-split figures",
        "",
    ]
    if model:
        lines += [
            f"Scored on the first {model['n']} images of the sorted test split (capped at {cap}), at {size}x{size}, "
            "as `colorgan evaluate` scores them (`colorgan.scoring.metrics`); the gray baseline is the L* image "
            "itself (a*b* = 0). Means over images are given with their 95% interval.",
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
        f"`{grid_file}` in this publish run: `colorgan evaluate`'s grid of the same images, one test image per row "
        "(taken in turn from each class), gray | predicted | original.",
        "",
        *cost_of_use(inference),
        "## How to use it",
        "",
        f"- `colorgan colorize PHOTO... --model models:/{name}@{references.ALIAS} --out DIR`",
        f"- `mlflow models serve -m models:/{name}@{references.ALIAS} --env-manager local`, then POST /invocations "
        '`{"dataframe_records": [{"image": "<base64 image file>"}]}` -> `{"predictions": [{"image": "<base64 PNG>"}]}`',
        "- in Python: `mlflow.pyfunc.load_model(...).predict(uint8 HxW or HxWx3 array)` -> uint8 RGB HxWx3",
        "",
        *weights_terms(info),
        *limitations(size),
        "- Needs colorgan installed where the pyfunc is loaded (`pip install -e .` of the repository).",
    ]
    return "\n".join(lines) + "\n"


def shipped_card(folder: str, cfg: config_mod.Config, figures: dict, info: dict, params: dict,
                 kept_sha: str = "") -> str:
    """The card of a shipped model in ``folder`` (as model_folder.display shows it), from ship's figures;
    ``kept_sha``: the weights file's sha256 prefix when the card is re-made from the folder's own weights."""
    size, name = cfg.image_size, Path(folder).name
    model, gray = figures["test"]["model"], figures["test"]["gray"]
    psnr, gap, delta = (metrics.QUALITY[k] for k in ("psnr", "colorfulness_gap", "colorfulness_delta"))
    lines = [
        f"# {name}: the reference colorization generator",
        "",
        (f"Card and figures re-made {datetime.now(UTC):%Y-%m-%d %H:%M UTC} by `colorgan ship` from this folder's own "
         f"weights (`{model_folder.GENERATOR_FILE}` unchanged, sha256 {kept_sha}...), shipped from "
         f"{figures['source']}. "
         if kept_sha else f"Shipped {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from {figures['source']}. ")
        + f"`{model_folder.GENERATOR_FILE}` stores its weights as {model_folder.STORED_DTYPE} (cast back to float32 "
        "on load); every figure below was computed on those weights.",
        "",
        *intro(cfg, info, params, figures["other_subjects"]),
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
        *figures_table(model[0], gray[0]),
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
        *shipped_grid(figures.get("sample_grid"), size),
        *other_subjects_section(figures["other_subjects"], size),
        *(line for head in HEADS for line in head_section(head, figures.get(head.prefix, {}))),
        *cost_section(figures.get("training_cpu", [])),
        f"`{model_folder.FIGURES_FILE}` holds these figures, and under `subset` those of the first "
        f"{len(figures['subset']['files'])} files of the sorted test split, which "
        "`tests/release/test_shipped_model.py` recomputes with those of the other subjects.",
        "",
        *cost_of_use(figures.get("inference", {})),
        "## How to use it",
        "",
        f"- `colorgan colorize PHOTO... --model {folder} --out DIR`; shipped as `models/landscapes-128` (the "
        "reference `shipped`) it is what `colorize`, `evaluate`, `export` and `make serve` use when no "
        f"`{references.CHAMPION}` is registered",
        f'- warm start: `init_from = "{folder}"` in an experiment file (`"shipped"` for models/landscapes-128)',
        f"- in Python: `colorgan.serving.model_folder.load(\"{folder}\")` -> (generator, config)",
        "",
        *weights_terms(info),
        *limitations(size),
    ]
    return "\n".join(lines) + "\n"


def intro(cfg: config_mod.Config, info: dict, params: dict, ood: dict | None) -> list[str]:
    """The sections every model card opens with: what the model does, its intended and out-of-scope use (``ood``:
    its figures on the photos of other subjects, where it was scored on them), its training data and their source
    and licence, and its config."""
    size = cfg.image_size
    return [
        "## What it does",
        "",
        f"A pix2pix-style U-Net generator trained at {size}x{size}. Given a photo of any size (uint8 gray HxW or "
        "colour HxWx3; colour is reduced to its L*), it predicts the chroma from the photo resized to "
        f"{size}x{size}, resizes that chroma (bilinear) to the full resolution and joins it with the photo's own "
        "full-resolution L*. The output has the input's size and lightness.",
        "",
        *use_sections(info, ood),
        "## Training data",
        "",
        f"- data: {data_line(info, params)}",
        f"- fingerprint: `{info.get('fingerprint', '?')}`",
        f"- usable files: {info.get('n_usable', '?')} of {info.get('n_files', '?')} "
        f"(skipped: {info.get('n_skipped', '?')})",
        f"- split: {params.get('n_train', '?')} train (the run's cap), {info.get('n_eval', '?')} eval, "
        f"{info.get('n_test', '?')} test; near-grey photos (mean chroma < {cfg.grey_threshold}) left out of each",
        "",
        *data_source_section(info),
        "## Config",
        "",
        "```toml",
        config_mod.to_toml(cfg).rstrip(),
        "```",
        "",
    ]


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


def limitations(size: int) -> list[str]:
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


@dataclass(frozen=True)
class Head:
    """What a card says of a head fitted on the frozen generator after training, from the run's PREFIX/ metrics
    (each head logs eval_psnr, eval_colorfulness_gap, their ``_alone`` values without it, and ``used``)."""

    prefix: str
    title: str
    unused: str  # why it was fitted but not folded in
    setting: Callable[[Callable[[str], float]], str]  # what it does and the setting chosen, from its metric reader
    after: str = "."  # what follows "The figures above are the model's with it"


HEADS = (
    Head(confidence.PREFIX, "Confidence head", "no offset raised the eval PSNR within the colour budget",
         lambda v: "The model scales each pixel's a*b* by a confidence in (0, 1) learned after training on where the "
                   "generator's colour goes wrong (`confidence_epochs`, docs/guides/training.md), so an unfamiliar "
                   f"subject is coloured less. Offset {v('offset'):g}"),
    Head(colorbins.PREFIX, "Colour-bins head", "no decoding narrowed the eval gap within the PSNR allowance",
         lambda v: "Beside the regression, a head gives each pixel a distribution over a*b* cells, fitted by "
                   "rebalanced cross-entropy after training (Zhang et al. 2016; `bins_epochs`, "
                   "docs/guides/training.md), "
                   f"decoded by the annealed mean at temperature {v('temperature'):g} and mixed {v('mix'):g} : "
                   f"{1 - v('mix'):g} with the regression's a*b*",
         after=": more colour, paid for in PSNR."),
)


def head_section(head: Head, values: dict) -> list[str]:
    """The card's lines on one head (colorgan.model.confidence or colorbins); none when the run fitted none."""
    if not values:
        return []

    def v(name: str) -> float:
        return values[f"{head.prefix}/{name}"]

    alone = (f"eval split without it: pooled PSNR {v('eval_psnr_alone'):.2f} dB, colourfulness gap "
             f"{v('eval_colorfulness_gap_alone'):.1f}")
    if not values.get(f"{head.prefix}/used"):
        return [f"## {head.title}", "", f"Fitted but not used: {head.unused} ({alone}).", ""]
    return [f"## {head.title}", "",
            f"{head.setting(v)}, chosen on the eval split: pooled PSNR {v('eval_psnr'):.2f} dB, colourfulness gap "
            f"{v('eval_colorfulness_gap'):.1f} ({alone}). The figures above are the model's with it{head.after}", ""]


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


def shipped_grid(grid: dict | None, size: int) -> list[str]:
    """The shipped card's sample grid, an image in the folder (model_folder.SAMPLES_FILE)."""
    if not grid:
        return []
    return ["## Sample grid", "",
            f"![gray | this model | original]({grid['file']})", "",
            f"`{grid['file']}` in this folder: {len(grid['files'])} test-split photos, one per row taken in turn from "
            f"each class in the split's sorted order (not picked for looks), at {size}x{size}: gray | this model | "
            "original.", ""]


def cost_of_use(measured: dict) -> list[str]:
    """Parameters, and the time and peak memory of colorizing one photo (colorgan.release.inference), with the
    CPU they were measured on."""
    if not measured:
        return []
    rows = [f"| {r['side']}x{r['side']} | {r['seconds'] * 1000:,.0f} ms (fastest {r['seconds_min'] * 1000:,.0f}) | "
            f"{r['peak_mb']:,.0f} MB | {r['peak_mb'] - r['loaded_mb']:+,.0f} MB |" for r in measured["photos"]]
    return ["## Size, speed and memory", "",
            f"{measured['parameters']:,} parameters. Measured when this card was written, on {measured['cpu']} "
            f"({measured['cores']} cores, load average {measured['load']:g} at the time), by "
            "`colorgan.release.inference`: one grey photo through `Colorizer.colorize_image` (what `colorize` and "
            f"`serve` run; decoding and encoding the file left out), each size in a fresh process, the median of "
            f"{measured['photos'][0]['repeats']} calls after one warm-up.", "",
            "| photo | time per photo | peak memory (resident) | over the process with the model loaded |",
            "|---|---|---|---|", *rows, ""]


def data_line(info: dict, params: dict) -> str:
    """Where the photos were found, said without this machine's paths: the landscape set and the built-in samples by
    their source; another folder by its name and how it was named (config data_dir or $COLORGAN_DATA)."""
    source = str(info.get("data_source", "?"))
    if source in datasets.LANDSCAPES or source == datasets.BUILT_IN:
        return f"{source} (see *Data source and licence*)"
    folder = Path(str(info.get("data_dir", params.get("data_dir", "?")))).name
    return f"a folder named `{folder}` ({source})"
