"""One typed, frozen configuration for a run; TOML files and ``key=value`` strings override it.

Every hyper-parameter lives here and nowhere else. Defaults are the original report's final settings
(batch 128, label smoothing 0.1, lambda 100, lr_G 4e-4, lr_D 1e-3, beta1 0.5, 10 power iterations).
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from colorgan.base import errors


class ConfigError(errors.UsageError):
    """A config file or override names an unknown key or holds a bad value."""


# Allowed values for the string-valued choices; checked in Config.__post_init__.
CHOICES: dict[str, tuple[str, ...]] = {
    "color_space": ("lab", "rgb"),
    "smoothing_mode": ("one_sided", "two_sided"),
    "recon_loss": ("l1", "l2"),
    "precision": ("auto", "fp32", "bf16"),
    "spectral_norm_on": ("discriminator", "both"),
    "generator": ("unet",),  # each value names a builder in networks.GENERATORS
    "lr_schedule": ("constant", "linear_decay"),
    "padding": ("zero", "reflect"),
    "recon_weighting": ("none", "rebalance"),
    "full_eval": ("every_epoch", "last_epoch"),
    "critic_norm": ("batch", "instance", "layer", "group", "none"),
    "critic_batches": ("joint", "separate"),
    "colorfulness_loss": ("ddcolor", "match"),
}
CRITIC_PATCHES = (1, 16, 46)  # the critic's receptive field in pixels: each value names a layout in networks
# the keys that shape the critic's weights: a pre-trained critic serves only a run of the same design (warmstart)
CRITIC_DESIGN = ("critic_norm", "critic_patch", "power_iterations")


@dataclass(frozen=True)
class Config:
    # --- data ---
    data_dir: str = ""  # "" = auto: COLORGAN_DATA, data/landscapes, ../shared/data/landscapes, built-in samples
    image_size: int = 128  # a power of two, 32..256
    color_space: str = "lab"  # "lab" (L* in, a*b* out) or "rgb" (L* in, RGB out; the report's foil)
    eval_fraction: float = 0.1
    test_fraction: float = 0.1
    max_train_images: int = 0  # 0 = every training image; a cap budgets studies in images
    max_eval_images: int = 0  # 0 = the whole eval split
    grey_threshold: float = 3.0  # mean Lab chroma below this is "near-grey": dropped from train/eval/test; 0 = off
    resize_margin: float = 1.125  # train images are resized to size*margin, then randomly cropped (jitter)
    # --- networks ---
    generator: str = "unet"  # the generator architecture: the report's U-Net
    generator_width: float = 1.0  # multiplies the U-Net's channel widths (capacity; cost grows about as its square)
    dropout: float = 0.5  # on the deepest up-sampling blocks of the U-Net
    power_iterations: int = 10  # spectral normalization power iterations; 0 = no spectral normalization
    critic_norm: str = "batch"  # the critic's normalisation layers (the report's: batch); see docs/results/critic.md
    critic_batches: str = "joint"  # "separate": real and generated in batches of their own (the report's), which
    # BatchNorm lets the critic tell apart by their statistics alone: held-out photos then score at chance
    critic_patch: int = 46  # the critic's receptive field (pixels): 46 (the report's PatchGAN), 16, or 1 (PixelGAN)
    critic_pretrain_steps: int = 0  # before the GAN phase: steps of the critic alone on the frozen generator
    critic_pretrain_auc: float = 0.9  # ...ended early once its held-out AUC (real vs generated photos) reaches this
    critic_real_saturation: float = 1.0  # the real photos' a*b* times this, as the critic sees them (> 1: it calls
    # only colour at least as vivid as the photos' real; recipe round 3, docs/results/recipe.md)
    spectral_norm_on: str = "discriminator"  # which network's convolutions get spectral normalization
    padding: str = "zero"  # the generator's strided convolutions: "reflect" pads with the image, not zeros (no frame)
    # --- losses ---
    adversarial: bool = True  # False = lambda*L1 alone: the regression baseline
    recon_loss: str = "l1"  # "l2" is the pix2pix paper's ablation
    lambda_recon: float = 100.0
    label_smoothing: float = 0.1
    smoothing_mode: str = "one_sided"  # real target 1-s; "two_sided" also lifts fake targets to s
    recon_weighting: str = "none"  # "rebalance": weight each pixel by the rarity of its true a*b* (Zhang 2016)
    rebalance_mix: float = 0.5  # Zhang's lambda: 1 = uniform weights (plain loss), 0 = 1/prior
    rebalance_bins: int = 16  # the a*b* plane in bins x bins cells for the prior
    colorfulness_weight: float = 0.0  # a colourfulness term in G's loss, this times it; 0 = off
    colorfulness_loss: str = "ddcolor"  # DDColor's 1 - CF/100 of the output (more colour, whatever the photo), or
    # "match": |CF(output) - CF(photo)| / 100 per photo (the photo's own colourfulness; losses.colorfulness_loss)
    # --- optimisation ---
    batch_size: int = 128
    lr_g: float = 4e-4
    lr_d: float = 1e-3
    beta1: float = 0.5
    epochs: int = 10
    pretrain_epochs: int = 0  # epochs of the generator alone on lambda*recon before the `epochs` of the GAN
    lr_schedule: str = "constant"  # or "linear_decay": pix2pix's policy, per phase and network
    decay_epochs: int = 0  # linear_decay: the last epochs of each phase, over which the rates fall towards 0
    max_cpu_minutes: float = 0.0  # stop at the first batch past this much CPU time of the run; 0 = off
    ema_decay: float = 0.0  # exponential moving average of G's weights used for inference; 0 = off
    precision: str = "auto"  # bf16 (keras mixed_bfloat16) where the hardware has it, else fp32 (colorgan.base.hardware)
    jit_compile: bool = False  # XLA measured 1.6-2x slower on a 2-core CPU
    seed: int = 42
    # --- tracking ---
    experiment: str = "colorgan"  # MLflow experiment name
    run_name: str = ""  # "" = the experiment file's name
    sample_images: int = 8  # eval images in the per-epoch sample grid
    curve_points: int = 4  # loss and eval-subset points per epoch (training.curves); 0 = only epoch ends
    curve_eval_images: int = 64  # the fixed eval subset those points are scored on (the first eval images)
    full_eval: str = "every_epoch"  # "last_epoch": the whole eval split only after the last epoch (studies)
    checkpoint: bool = True  # save the training state every epoch (needed by --resume); studies turn it off
    # --- warm start ---
    init_from: str = ""  # warm start from a model reference (run id, runs:/, models:/, study:, shipped, a folder)
    # --- confidence (colorgan.model.confidence) ---
    confidence_epochs: int = 0  # after training: epochs of a head that shrinks chroma where G errs; 0 = off
    confidence_gap_allowance: float = 1.0  # the eval-split colourfulness gap the head may add (its colour budget)
    # --- colour bins (model.colorbins: Zhang et al.'s classification over a*b* cells, beside the regression) ---
    bins_epochs: int = 0  # after training: epochs of a head giving each pixel a distribution over a*b* cells; 0 = off
    bins_psnr_allowance: float = 0.2  # the eval-split pooled PSNR (dB) its decoding may cost to narrow the gap

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, _TYPES[f.name]) or (f.type != "bool" and isinstance(value, bool)):
                raise ConfigError(f"{f.name}: expected {f.type}, got {value!r}")
            if f.type == "float" and not math.isfinite(value):  # every bound below would let NaN through
                raise ConfigError(f"{f.name}: must be a finite number, got {value}")
        if not self.experiment.strip():
            raise ConfigError("experiment: must name the MLflow experiment, got an empty string")
        for key, allowed in CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"{key}: {getattr(self, key)!r} is not one of {', '.join(allowed)}")
        size = self.image_size
        if size < 32 or size > 1024 or size & (size - 1):
            raise ConfigError(f"image_size: {size} must be a power of two between 32 and 1024")
        _check_range(self, "eval_fraction", 0.0, 0.5)
        if self.eval_fraction == 0:
            raise ConfigError("eval_fraction: must be above 0: every epoch is scored on the eval split")
        _check_range(self, "test_fraction", 0.0, 0.5)
        _check_range(self, "label_smoothing", 0.0, 0.5)
        _check_range(self, "dropout", 0.0, 0.95)
        _check_range(self, "beta1", 0.0, 0.999)
        _check_range(self, "resize_margin", 1.0, 2.0)
        _check_range(self, "generator_width", 0.25, 4.0)
        if self.critic_patch not in CRITIC_PATCHES:
            raise ConfigError(f"critic_patch: {self.critic_patch} is not one of {', '.join(map(str, CRITIC_PATCHES))}")
        _check_range(self, "critic_pretrain_auc", 0.5, 1.0)
        _check_range(self, "critic_real_saturation", 1.0, 3.0)
        _check_range(self, "colorfulness_weight", 0.0, 1000.0)
        if self.epochs == 0 and not self.pretrain_epochs:
            raise ConfigError("epochs: 0 GAN epochs leaves a run with nothing to train (set pretrain_epochs too)")
        for key in ("batch_size", "sample_images", "curve_eval_images"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: must be at least 1, got {getattr(self, key)}")
        for key in ("max_train_images", "max_eval_images", "power_iterations", "grey_threshold", "lambda_recon",
                    "curve_points", "pretrain_epochs", "decay_epochs", "max_cpu_minutes", "confidence_epochs",
                    "confidence_gap_allowance", "epochs", "critic_pretrain_steps", "bins_epochs",
                    "bins_psnr_allowance"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key}: must not be negative, got {getattr(self, key)}")
        for key in ("lr_g", "lr_d"):
            if not (0 < getattr(self, key) < 1):
                raise ConfigError(f"{key}: must be in (0, 1), got {getattr(self, key)}")
        _check_schedule(self)
        _check_range(self, "rebalance_mix", 0.0, 1.0)
        _check_range(self, "rebalance_bins", 2, 128)
        if self.recon_weighting == "rebalance" and self.color_space != "lab":
            raise ConfigError("recon_weighting: 'rebalance' weights a*b* bins and needs color_space = 'lab'")
        if self.critic_real_saturation != 1.0 and self.color_space != "lab":
            raise ConfigError("critic_real_saturation: it scales the real photos' a*b* and needs color_space = 'lab'")
        if self.bins_epochs and (self.color_space != "lab" or self.recon_weighting != "rebalance"):
            raise ConfigError("bins_epochs: the colour-bins head classifies a*b* over the rebalancing grid and needs "
                              "color_space = 'lab' and recon_weighting = 'rebalance'")
        if self.bins_epochs and self.confidence_epochs:
            raise ConfigError("bins_epochs and confidence_epochs: one head after training, not both")
        if self.confidence_epochs and self.color_space != "lab":  # it shrinks a*b* towards 0: in RGB, towards black
            raise ConfigError("confidence_epochs: the confidence head scales a*b* and needs color_space = 'lab'")

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _check_range(cfg: Config, key: str, low: float, high: float) -> None:
    value = getattr(cfg, key)
    if not (low <= value <= high) or math.isnan(value):
        raise ConfigError(f"{key}: {value} is outside [{low}, {high}]")


def _check_schedule(cfg: Config) -> None:
    """The training-schedule keys: a decay must fit in every phase it applies to, and must apply at all."""
    if cfg.lr_schedule == "constant" and cfg.decay_epochs:
        raise ConfigError(f"decay_epochs: {cfg.decay_epochs} has no effect with lr_schedule = constant "
                          "(set lr_schedule = linear_decay, or decay_epochs = 0)")
    phases = ([("epochs", cfg.epochs)] if cfg.epochs else []) + (
        [("pretrain_epochs", cfg.pretrain_epochs)] if cfg.pretrain_epochs else [])
    for key, length in phases:
        if cfg.decay_epochs > length:
            raise ConfigError(f"decay_epochs: {cfg.decay_epochs} is longer than the phase it applies to "
                              f"({key} = {length})")
    if not (0.0 <= cfg.ema_decay < 1.0):  # also refuses NaN
        raise ConfigError(f"ema_decay: must be 0 (off) or in (0, 1), got {cfg.ema_decay}")


_PY_TYPES = {"int": int, "float": (int, float), "bool": bool, "str": str}
_TYPES = {f.name: _PY_TYPES[f.type] for f in fields(Config)}
KEYS = tuple(f.name for f in fields(Config))


def field_type(key: str) -> str:
    """The declared type name ("int", "float", "bool", "str") of a config key; unknown keys are errors."""
    for f in fields(Config):
        if f.name == key:
            return f.type
    raise ConfigError(f"unknown config key {key!r}; known keys: {', '.join(KEYS)}")


def parse_value(key: str, text: str) -> Any:
    """Turn the text of ``--set key=value`` into the key's declared type, or raise ConfigError."""
    kind = field_type(key)
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise ValueError(text)
    except ValueError:
        raise ConfigError(f"{key}: {text!r} is not a valid {kind}") from None
    return text


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["epochs=2", "batch_size=32"]`` -> typed dict; a malformed pair or unknown key is an error."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} must look like key=value")
        key, text = pair.split("=", 1)
        out[key.strip()] = parse_value(key.strip(), text.strip())
    return out


def build(overrides: dict[str, Any], base: Config | None = None) -> Config:
    """Apply typed overrides to a base config, refusing unknown keys (so typos never pass silently)."""
    unknown = sorted(set(overrides) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown config key(s) {', '.join(unknown)}; known keys: {', '.join(KEYS)}")
    values = dict(overrides)
    for key, value in values.items():  # TOML gives ints for floats like 100; accept them as floats
        if field_type(key) == "float" and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
    return (base or Config()).replace(**values)


def read_toml(path: str | Path, what: str = "config file",
              error: type[errors.UsageError] = ConfigError) -> dict[str, Any]:
    """A TOML file's tables; a missing, undecodable or invalid file is one ``error`` naming it (experiment and
    study files share this reading)."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist")
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a TOML text file (not UTF-8: byte {exc.object[exc.start]:#04x} at "
                    f"offset {exc.start})") from None


def load(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Defaults <- experiment TOML (only the changes) <- ``key=value`` overrides."""
    values: dict[str, Any] = {}
    if path is not None:
        values.update(read_toml(path))
        nested = [k for k, v in values.items() if isinstance(v, dict)]
        if nested:
            raise ConfigError(f"{path}: tables are not allowed in an experiment file: {', '.join(nested)}")
        if "run_name" not in values:
            values["run_name"] = Path(path).stem
    values.update(parse_overrides(overrides))
    try:
        return build(values)
    except ConfigError as exc:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{exc}") from None


def to_toml(cfg: Config) -> str:
    """The fully resolved config as TOML, for the run's artifacts and for resuming."""
    lines = []
    for key, value in cfg.to_dict().items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, str):
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            text = repr(value)
        lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"
