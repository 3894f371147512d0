"""Model references -> (generator, config, where it came from): the one resolver behind colorize, serve, export,
ship and warm start (``init_from``), and the default model when none is named.

Accepted: a run id, ``runs:/RUN_ID``, ``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` (through
colorgan.tracking.models), ``shipped`` (the checkout's ``models/landscapes-128``) or the path of a shipped-model
folder (colorgan.shipped). ``study:NAME`` is Optuna's: the CLI turns it into a run id (colorgan.studies) first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from colorgan import config as config_mod
from colorgan import paths, shipped
from colorgan.tracking import models

MODEL_NAME = "colorgan"  # the registered model `publish` writes
ALIAS = "champion"  # the alias `publish` moves to its new version
CHAMPION = f"models:/{MODEL_NAME}@{ALIAS}"
SHIPPED = "shipped"
FORMS = "RUN_ID, runs:/RUN_ID, models:/NAME/VERSION, models:/NAME@ALIAS, study:NAME, shipped or a shipped folder"


@dataclass(frozen=True)
class Model:
    generator: object  # keras.Model: L (in [-1, 1]) -> target channels
    cfg: config_mod.Config
    ref: str  # the reference it was resolved from
    description: str  # for people: which model this is, in the output of every command
    lineage: str  # for the run it warm-starts: the training run id, or shipped:<folder>@<weights sha256 prefix>
    run_id: str | None = None  # the training run; None for a shipped folder


def is_shipped(ref: str) -> bool:
    """``shipped``, or a path (anything with a slash or an existing folder) rather than an MLflow reference."""
    if ref == SHIPPED:
        return True
    return not ref.startswith(("runs:/", "models:/", "study:")) and ("/" in ref or Path(ref).is_dir())


def resolve(ref: str, root: Path, shipped_dir: Path | None = None) -> Model:
    """Any accepted reference -> Model; ``shipped`` means ``shipped_dir`` (default: the checkout's folder)."""
    if ref.startswith("study:"):
        raise models.ModelRefError(f"{ref}: a study's best trial is found by the command line (colorgan.studies); "
                                   "pass its run id here")
    if is_shipped(ref):
        found = shipped.load(Path(shipped_dir or paths.shipped_model_dir()) if ref == SHIPPED else Path(ref))
        return Model(found.generator, found.cfg, ref, f"the shipped model {found.name} (weights sha256 {found.sha})",
                     f"shipped:{found.name}@{found.sha}")
    loaded = models.load_generator(ref, root)
    named = ref if ref.removeprefix("runs:/") != loaded.run_id else ""
    return Model(loaded.generator, loaded.cfg, ref, f"{named} (run {loaded.run_id})" if named else
                 f"run {loaded.run_id}", loaded.run_id, loaded.run_id)


def default_ref(root: Path, shipped_dir: Path | None = None) -> str:
    """The model used when none is named: the registered champion if the store has one, else the shipped model."""
    if models.alias_exists(root, MODEL_NAME, ALIAS):
        return CHAMPION
    folder = Path(shipped_dir or paths.shipped_model_dir())
    if shipped.exists(folder):
        return str(folder) if shipped_dir else SHIPPED
    raise models.ModelRefError(f"no model named and none to default to: no {CHAMPION} in the store and no shipped "
                               f"model at {folder}; name one with --model ({FORMS})")


def load_colorizer(ref: str, root: Path, shipped_dir: Path | None = None):
    """(Colorizer for full-resolution photos, Model) for any reference form."""
    from colorgan.colorize import Colorizer

    model = resolve(ref, root, shipped_dir)
    return Colorizer(model.generator, model.cfg.image_size, model.cfg.color_space), model
