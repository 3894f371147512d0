"""Model references: the one grammar (``parse``) and the one resolver (``resolve``) behind every command that takes
a model (colorize, evaluate, export, serve, ship and the warm start's ``init_from``), and the default model.

The kinds (KINDS): a run id (32 hex digits, as MLflow makes them), ``runs:/RUN_ID[/PATH]``,
``models:/NAME/VERSION``, ``models:/NAME@ALIAS`` (looked up through colorgan.tracking.models), ``study:NAME`` (the
study's best trial: Optuna is two layers up, so the caller hands in ``study_run``), ``shipped`` (the checkout's
``models/landscapes-128``) and a shipped-model folder (a path: it holds a ``/`` or starts with ``.`` or ``~``, or
is an existing folder). ``baseline:NAME`` is parsed here too, but only where a caller allows it (`evaluate`), so
every command refuses the same text with the same one line.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from colorgan.base import config as config_mod
from colorgan.base import paths
from colorgan.serving import model_folder
from colorgan.tracking import models

MODEL_NAME = "colorgan"  # the registered model `publish` writes
ALIAS = "champion"  # the alias `publish` moves to its new version
CHAMPION = f"models:/{MODEL_NAME}@{ALIAS}"
SHIPPED = "shipped"
SHIPPED_LINEAGE = "shipped:"  # a warm start's lineage tag from a shipped folder: shipped:<folder>@<weights sha prefix>
KINDS = ("RUN_ID", "runs:/RUN_ID", "models:/NAME/VERSION", "models:/NAME@ALIAS", "study:NAME", "shipped",
         "a shipped-model folder")
FORMS = ", ".join(KINDS)
RUN_ID = re.compile(r"[0-9a-f]{32}")  # MLflow's run ids: uuid4().hex
StudyRun = Callable[[str], str]  # a study's name -> its best trial's run id (colorgan.studies.lookup.best_run_id)


class ModelRefError(models.LoggedModelError):
    """A reference that parses to no kind, or names nothing in the store; one line listing the kinds (a
    LoggedModelError, as what it names in MLflow may be)."""


@dataclass(frozen=True)
class Ref:
    """A parsed reference: ``kind`` is run, registered, study, shipped, folder or baseline."""

    text: str  # as given
    kind: str
    name: str = ""  # run id, registered model, study, baseline or folder path
    version: str = ""  # models:/NAME/VERSION
    alias: str = ""  # models:/NAME@ALIAS


@dataclass(frozen=True)
class Model:
    generator: object  # keras.Model: L (in [-1, 1]) -> target channels
    cfg: config_mod.Config
    ref: str  # the reference it was resolved from
    description: str  # for people: which model this is, in the output of every command
    lineage: str  # for the run it warm-starts: the training run id, or shipped:<folder>@<weights sha256 prefix>
    run_id: str | None = None  # the training run; None for a shipped folder


def _refuse(text: str, why: str, kinds: tuple[str, ...] = KINDS) -> ModelRefError:
    return ModelRefError(f"{text!r} {why}; a model reference is one of: {', '.join(kinds)}")


def parse(text: str, baselines: tuple[str, ...] = ()) -> Ref:
    """Reference text -> Ref, or ModelRefError in one line; ``baselines``: the ``baseline:NAME`` names allowed."""
    kinds = (*KINDS, "baseline:" + "|".join(baselines)) if baselines else KINDS
    text = str(text).strip()
    prefix, colon, rest = text.partition(":")
    if text == SHIPPED:
        return Ref(text, "shipped")
    if colon and prefix == "runs" and rest.startswith("/"):
        run_id = rest.lstrip("/").split("/")[0]
        if not RUN_ID.fullmatch(run_id):
            raise _refuse(text, "does not hold a run id (32 hex digits) after runs:/", kinds)
        return Ref(text, "run", run_id)
    if colon and prefix == "models" and rest.startswith("/"):
        body = rest.removeprefix("/")
        name, at, alias = body.partition("@")
        if at and name and re.fullmatch(r"[\w.-]+", alias):
            return Ref(text, "registered", name, alias=alias)
        name, slash, version = body.rpartition("/")
        if slash and name and version.isdigit():
            return Ref(text, "registered", name, version=version)
        raise _refuse(text, "is neither models:/NAME/VERSION (a number) nor models:/NAME@ALIAS", kinds)
    if colon and prefix == "study":
        if not rest:
            raise _refuse(text, "names no study", kinds)
        return Ref(text, "study", rest)
    if colon and prefix == "baseline":
        if not baselines:
            raise _refuse(text, "is a baseline: only `colorgan evaluate` scores those", kinds)
        if rest not in baselines:
            raise _refuse(text, f"names no baseline (known: {', '.join(baselines)})", kinds)
        return Ref(text, "baseline", rest)
    if RUN_ID.fullmatch(text):
        return Ref(text, "run", text)
    if "/" in text or text.startswith((".", "~")) or (text and Path(text).is_dir()):
        return Ref(text, "folder", str(Path(text).expanduser()))
    raise _refuse(text, "is not a model reference" if text else "is empty", kinds)


def resolve(ref: str | Ref, root: Path, shipped_dir: Path | None = None, study_run: StudyRun | None = None) -> Model:
    """Any reference -> Model; ``shipped`` means ``shipped_dir`` (default: the checkout's folder); ``study_run``
    finds a study's best trial (without it, ``study:NAME`` is refused in one line)."""
    ref = ref if isinstance(ref, Ref) else parse(ref)
    if ref.kind == "baseline":
        raise _refuse(ref.text, "is a baseline, not a model")
    if ref.kind in ("shipped", "folder"):
        found = model_folder.load(Path(shipped_dir or paths.shipped_model_dir()) if ref.kind == "shipped"
                                  else Path(ref.name))
        return Model(found.generator, found.cfg, ref.text, f"the shipped model {found.name} (weights sha256 "
                     f"{found.sha})", f"{SHIPPED_LINEAGE}{found.name}@{found.sha}")
    try:
        if ref.kind == "study":
            if study_run is None:
                raise ModelRefError(f"{ref.text}: a study's best trial is found by the command line (it knows "
                                    "Optuna); pass its run id here")
            run_id, uri = study_run(ref.name), None
        elif ref.kind == "registered":
            run_id, uri = models.registered_run(root, ref.name, ref.version, ref.alias)
        else:
            run_id, uri = ref.name, None
        loaded = models.load_generator(run_id, root, uri)
    except models.NotFound as exc:
        raise _refuse(ref.text, f"names nothing in the store: {exc}") from None
    named = "" if ref.kind == "run" else ref.text
    return Model(loaded.generator, loaded.cfg, ref.text, f"{named} (run {loaded.run_id})" if named else
                 f"run {loaded.run_id}", loaded.run_id, loaded.run_id)


def default_ref(root: Path, shipped_dir: Path | None = None) -> str:
    """The model used when none is named: the registered champion if the store has one, else the shipped model."""
    if models.alias_exists(root, MODEL_NAME, ALIAS):
        return CHAMPION
    folder = Path(shipped_dir or paths.shipped_model_dir())
    if model_folder.exists(folder):
        return str(folder) if shipped_dir else SHIPPED
    raise ModelRefError(f"no model named and none to default to: no {CHAMPION} in the store and no shipped "
                        f"model at {folder}; name one with --model ({FORMS})")


def load_colorizer(ref: str | Ref, root: Path, shipped_dir: Path | None = None, study_run: StudyRun | None = None):
    """(Colorizer for full-resolution photos, Model) for any reference."""
    from colorgan.serving.colorize import Colorizer

    model = resolve(ref, root, shipped_dir, study_run)
    return Colorizer(model.generator, model.cfg.image_size, model.cfg.color_space), model
