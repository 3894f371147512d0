"""Warm start (config key ``init_from``): a new run begins from another model's weights instead of random ones.

The generator always comes from the source (and the EMA shadow, when the model keeps one, starts equal to it).
The discriminator comes too when the source is a training run whose checkpoint holds one of the same shape; a
shipped model has none, so D then starts fresh. The optimizers always start fresh. Only a new run is warm-started:
a resumed run restores its own checkpoint instead (and is warm-started again only if it never saved one).

A source of another image size, colour space or generator architecture, or with weights of other shapes, is a
ConfigError naming both sides, raised before the run exists.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import tensorflow as tf

from colorgan import tracking
from colorgan.base import config as config_mod
from colorgan.base.config import Config, ConfigError
from colorgan.base.errors import UsageError
from colorgan.serving import references
from colorgan.tracking.tags import DISCRIMINATOR_TAG, LINEAGE_TAG

MUST_MATCH = ("image_size", "color_space", "generator")


def apply(model, cfg: Config, root: Path, study_run: references.StudyRun | None = None,
          resume_run_id: str | None = None, announce: bool = True) -> dict[str, str]:
    """Load ``cfg.init_from`` into ``model`` (a gan.ColorGAN) before training; returns the tags recording the
    source (and prints one line saying what was loaded, with ``announce``). Does nothing without ``init_from``,
    or for a resumed run that has a checkpoint to restore."""
    if not cfg.init_from or (resume_run_id and tracking.has_checkpoint(root, resume_run_id)):
        return {}
    source = resolve(cfg.init_from, root, study_run)
    check(cfg, source)
    copy_weights(model.generator, source.generator, f"init_from {cfg.init_from}: the generator")
    shadow = getattr(model, "ema_generator", None)  # the EMA shadow (ema_decay > 0) starts from the same weights
    if shadow is not None:
        shadow.set_weights(model.generator.get_weights())
    discriminator = _load_discriminator(model, cfg, source, root)
    if announce:
        print(f"warm start from {source.description}: generator loaded, discriminator {discriminator}", flush=True)
    return {LINEAGE_TAG: source.lineage, DISCRIMINATOR_TAG: discriminator}


def parse(cfg: Config) -> None:
    """Check ``init_from``'s grammar only (references.parse): cheap, so train.run_training does it before anything
    else."""
    if cfg.init_from:
        try:
            references.parse(cfg.init_from)
        except UsageError as exc:
            raise ConfigError(f"init_from {cfg.init_from}: {exc}") from None


def resolve(ref: str, root: Path, study_run: references.StudyRun | None = None) -> references.Model:
    """The source model (references.resolve, the grammar of every command); a reference that names nothing
    usable is a ConfigError about ``init_from``."""
    try:
        return references.resolve(ref, root, study_run=study_run)
    except ConfigError:
        raise
    except UsageError as exc:
        raise ConfigError(f"init_from {ref}: {exc}") from None


def check(cfg: Config, source: references.Model) -> None:
    for key in MUST_MATCH:
        theirs, ours = getattr(source.cfg, key), getattr(cfg, key)
        if theirs != ours:
            raise ConfigError(f"init_from {cfg.init_from}: {key} {theirs} != this run's {ours}")


def copy_weights(target, source, what: str) -> None:
    """Set ``target``'s weights to ``source``'s, or raise ConfigError naming the first weight that differs."""
    theirs, ours = source.get_weights(), target.weights
    if len(theirs) != len(ours):
        raise ConfigError(f"{what} has {len(theirs)} weight arrays != this run's {len(ours)}")
    for value, variable in zip(theirs, ours, strict=True):
        if tuple(value.shape) != tuple(variable.shape):
            raise ConfigError(f"{what}: {variable.path} has shape {tuple(value.shape)} != this run's "
                              f"{tuple(variable.shape)}")
    target.set_weights(theirs)


def _load_discriminator(model, cfg: Config, source: references.Model, root: Path) -> str:
    """Restore D from the source run: its pre-trained critic (the ``critic/`` artifact of a run that pre-trained
    one, training.train.pretrain_critic) when there is one of the same design, else its checkpoint's when that holds
    a compatible one; what happened, in words ("loaded..." when a critic came)."""
    if model.discriminator is None:
        return "not used (adversarial = false)"
    if source.run_id is None:
        return "fresh (a shipped model has none)"
    differs = [f"{key} {getattr(source.cfg, key)} != {getattr(cfg, key)}" for key in config_mod.CRITIC_DESIGN
               if getattr(source.cfg, key) != getattr(cfg, key)]
    with tempfile.TemporaryDirectory() as tmp:
        tracker = tracking.run_tracker(root, source.run_id)
        prefix = tracker.load_critic(Path(tmp) / "critic")
        if prefix is not None:
            if differs:
                return f"fresh (the source's pre-trained critic is another design: {', '.join(differs)})"
            return _read_discriminator(model, prefix, "loaded (pre-trained critic)")
        if not source.cfg.adversarial:
            return "fresh (the source trained without one)"
        if (source.cfg.power_iterations > 0) != (cfg.power_iterations > 0):
            return "fresh (the source's spectral normalization differs)"
        found = tracker.load_checkpoint(Path(tmp) / "checkpoint")
        if found is None:
            return "fresh (the source run saved no checkpoint)"
        return _read_discriminator(model, found[0], "loaded")


def _read_discriminator(model, prefix: str, loaded: str) -> str:
    """Read D from a checkpoint prefix, never half: ``loaded``, or "fresh (why)" with D's own weights kept."""
    fresh = [w.copy() for w in model.discriminator.get_weights()]
    try:
        status = tf.train.Checkpoint(discriminator=model.discriminator).read(prefix)
        status.expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError) as exc:
        model.discriminator.set_weights(fresh)  # never half-restored
        return f"fresh (the checkpoint's does not fit: {str(exc).splitlines()[0][:200]})"
    return loaded
