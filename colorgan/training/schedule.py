"""The epoch plan of a run: generator pre-training, then the GAN, and the learning rates of each epoch.

Pure arithmetic on the config, so the training loop, a resumed run and the tests agree on which epoch is which.
Epochs are counted 0-based and globally here (as keras.fit counts them); MLflow steps are that number + 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from colorgan.base.config import Config

PRETRAIN, MAIN = 0, 1  # the logged `phase` metric


@dataclass(frozen=True)
class Phase:
    index: int  # PRETRAIN (the generator alone on lambda*recon) or MAIN (the GAN, or L1 alone if not adversarial)
    name: str  # shown on the epoch line
    start: int  # its first epoch
    stop: int  # one past its last epoch

    @property
    def length(self) -> int:
        return self.stop - self.start


def total_epochs(cfg: Config) -> int:
    return cfg.pretrain_epochs + cfg.epochs


def phases(cfg: Config) -> list[Phase]:
    """``pretrain_epochs`` of pre-training (when any), then ``epochs`` of the main phase (when any: a shared warm
    start is pre-training alone, its critic pre-trained after it, colorgan.scoring.critic)."""
    main = Phase(MAIN, "gan" if cfg.adversarial else "l1", cfg.pretrain_epochs, total_epochs(cfg))
    return ([Phase(PRETRAIN, "pretrain", 0, cfg.pretrain_epochs)] if cfg.pretrain_epochs else []) + (
        [main] if cfg.epochs else [])


def phase_at(cfg: Config, epoch: int) -> Phase:
    for phase in phases(cfg):
        if phase.start <= epoch < phase.stop:
            return phase
    raise ValueError(f"epoch {epoch} is outside the run's {total_epochs(cfg)} epochs")


def lr_factor(cfg: Config, epoch: int) -> float:
    """pix2pix's linear policy within the epoch's phase: 1 until the last ``decay_epochs`` epochs of the phase,
    then falling linearly towards (never to) 0: e (0-based in a phase of n) gets 1 - max(0, e+1-(n-d)) / (d+1)."""
    if cfg.lr_schedule == "constant":
        return 1.0
    phase = phase_at(cfg, epoch)
    e, n, d = epoch - phase.start, phase.length, cfg.decay_epochs
    return 1.0 - max(0, e + 1 - (n - d)) / (d + 1)


def learning_rates(cfg: Config, epoch: int) -> tuple[float, float]:
    """(lr_G, lr_D) for an epoch: both networks follow the same policy from their own base rate."""
    factor = lr_factor(cfg, epoch)
    return cfg.lr_g * factor, cfg.lr_d * factor
