"""A shipped model: a folder in the repository (``models/NAME/``) that holds a generator without any store.

The folder is what a fresh clone colorizes with, and what ``init_from = "shipped"`` warm-starts from:

- ``generator.keras``: the Keras generator, its weights stored as float16 (the 128x128 U-Net is 60.4 MB as a
  float32 ``.keras``, over the repository's 40 MB limit; 30.3 MB as float16). ``load`` casts them back to float32.
- ``config.toml``: the resolved config it trained with (``config.to_toml``);
- ``model_card.md``: data, config, the training command, figures next to gray, limitations;
- ``figures.json``: the same figures, machine-readable, with those on a fixed subset of the test split that
  ``tests/release/test_shipped_model.py`` recomputes;
- ``samples.png``: the card's sample grid (gray | this model | original), where `colorgan ship` drew one.

Writing the figures is `colorgan ship`'s job (colorgan.release.shipping); this module only knows the format. No MLflow.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from colorgan.base import config as config_mod
from colorgan.base import paths
from colorgan.base.errors import UsageError

GENERATOR_FILE = "generator.keras"
CONFIG_FILE = "config.toml"
CARD_FILE = "model_card.md"
FIGURES_FILE = "figures.json"
SAMPLES_FILE = "samples.png"
STORED_DTYPE = "float16"
MAX_BYTES = 40_000_000  # the most a shipped generator may add to the repository
SHA_CHARS = 12  # the weights file's sha256 prefix that names a shipped model in lineage tags


class ShippedModelError(UsageError):
    """No shipped model where one was named, or one that cannot be written; the message says what to do."""


@dataclass(frozen=True)
class Shipped:
    generator: keras.Model  # float32, L in [-1, 1] -> colour channels
    cfg: config_mod.Config
    folder: Path
    sha: str  # the first SHA_CHARS hex digits of generator.keras's sha256

    @property
    def name(self) -> str:
        return display(self.folder)


def display(folder: str | Path) -> str:
    """A folder as people see it: relative to the checkout when it lies in it."""
    folder = Path(folder).resolve()
    return str(folder.relative_to(paths.CHECKOUT)) if folder.is_relative_to(paths.CHECKOUT) else str(folder)


def _set_dtype(conf: dict, dtype: str) -> dict:
    conf = dict(conf)
    if "dtype" in conf:
        conf["dtype"] = dtype
    inner = conf.get("layer")  # a wrapper (SpectralNormalization) holds its layer's serialized config
    if isinstance(inner, dict) and isinstance(inner.get("config"), dict):
        conf["layer"] = {**inner, "config": _set_dtype(inner["config"], dtype)}
    return conf


def _with_dtype(model: keras.Model, dtype: str) -> keras.Model:
    """The same network with every layer (wrapped ones too) in ``dtype`` and the weights cast to it."""
    copy = keras.models.clone_model(
        model, clone_function=lambda layer: layer.__class__.from_config(_set_dtype(layer.get_config(), dtype)))
    copy.set_weights([np.asarray(w).astype(dtype) for w in model.get_weights()])
    return copy


def stored(generator: keras.Model) -> keras.Model:
    """The generator as ``load`` will return it once written (weights rounded to float16, float32 again): the
    figures of a shipped model are computed on exactly these weights."""
    return _with_dtype(_with_dtype(generator, STORED_DTYPE), "float32")


def write(folder: str | Path, generator: keras.Model, cfg: config_mod.Config, card: str, figures: dict,
          replace: bool = False, grid: np.ndarray | None = None, keep_weights: bool = False) -> Path:
    """Write a shipped-model folder; an existing one is replaced only with ``replace``. ``grid``: the sample grid
    (uint8 RGB), as SAMPLES_FILE. ``keep_weights``: the folder's own generator file is left as it is, byte for byte
    (its card and figures re-made from those weights: ``generator`` must be what it loads)."""
    folder = Path(folder)
    if (folder / GENERATOR_FILE).exists() and not replace:
        raise ShippedModelError(f"{folder} already holds a shipped model: pass --replace to overwrite it")
    if keep_weights and not exists(folder):
        raise ShippedModelError(f"no shipped model at {folder} whose weights could be kept")
    small = _with_dtype(generator, STORED_DTYPE)
    if not all(np.isfinite(np.asarray(w)).all() for w in small.get_weights()):
        raise ShippedModelError("a weight overflows float16 (|w| > 65504): this generator cannot be shipped")
    folder.mkdir(parents=True, exist_ok=True)
    if not keep_weights:
        small.save(folder / GENERATOR_FILE)
        size = (folder / GENERATOR_FILE).stat().st_size
        if size > MAX_BYTES:
            (folder / GENERATOR_FILE).unlink()
            raise ShippedModelError(f"{GENERATOR_FILE} would be {size / 1e6:.1f} MB, over the {MAX_BYTES / 1e6:.0f} "
                                    "MB a shipped model may take")
    (folder / CONFIG_FILE).write_text(config_mod.to_toml(cfg))
    (folder / CARD_FILE).write_text(card)
    (folder / FIGURES_FILE).write_text(json.dumps(figures, indent=1) + "\n")
    if grid is not None:
        from PIL import Image

        Image.fromarray(grid).save(folder / SAMPLES_FILE, optimize=True)
    return folder


def exists(folder: str | Path) -> bool:
    return (Path(folder) / GENERATOR_FILE).is_file() and (Path(folder) / CONFIG_FILE).is_file()


def weights_sha(folder: str | Path) -> str:
    return hashlib.sha256((Path(folder) / GENERATOR_FILE).read_bytes()).hexdigest()[:SHA_CHARS]


def load(folder: str | Path) -> Shipped:
    """(float32 generator, config, folder, weights sha) of a shipped-model folder."""
    folder = Path(folder)
    if not exists(folder):
        raise ShippedModelError(f"no shipped model at {folder} (it needs {GENERATOR_FILE} and {CONFIG_FILE}; "
                                "`colorgan ship` writes one)")
    cfg = config_mod.build(config_mod.read_toml(folder / CONFIG_FILE))
    generator = _with_dtype(keras.models.load_model(folder / GENERATOR_FILE, compile=False), "float32")
    return Shipped(generator, cfg, folder, weights_sha(folder))
