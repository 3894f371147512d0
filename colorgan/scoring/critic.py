"""The critic's skill: how well the discriminator tells real photos from generated ones, per photo, and whether a
GAN phase was a game at all; and its pre-training on a frozen generator (DeOldify's NoGAN critic step).

Skill is scored in inference mode (no batch statistics can carry the answer) on held-out photos: each photo's
score is the critic's mean logit over its patches, once on the photo and once on the generator's colouring of
it. ``critic_auc`` is the rank-based AUC of the real scores against the generated ones (0.5 = chance, 1 = every
real photo above every generated one; no threshold), with a 95% interval (Hanley & McNeil 1982); ``critic_gap``
is the mean D(real) - D(fake) in probability. A critic whose interval holds 0.5 is at chance: its gradient tells
the generator nothing, and a GAN phase trained against it answers nothing about the knobs it was run for.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

SCORES = ("critic_real", "critic_fake", "critic_real_p", "critic_fake_p")  # per-photo scores test_step returns
FIGURES = ("critic_auc", "critic_auc_low", "critic_auc_high", "critic_gap")  # what a split's scores summarise to
PRETRAIN_PREFIX = "critic_pretrain/"  # the logged keys of the critic's pre-training checks
# a GAN run's verdict on its game, logged by training as "learned: ..." or "chance: ..." (tracking.tags.VERDICT_TAG)
CHANCE = "chance"
LEARNED = "learned"
_Z95 = 1.959964


def photo_scores(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> dict[str, tf.Tensor]:
    """Per photo of a batch: the mean logit over its patch map and the mean probability, on real and generated."""
    def per_photo(logits):
        logits = tf.cast(logits, tf.float32)
        return tf.reduce_mean(logits, axis=[1, 2, 3]), tf.reduce_mean(tf.sigmoid(logits), axis=[1, 2, 3])

    real, real_p = per_photo(real_logits)
    fake, fake_p = per_photo(fake_logits)
    return dict(zip(SCORES, (real, fake, real_p, fake_p), strict=True))


def auc(real, fake) -> float:
    """P(a real photo's score > a generated one's) + half the ties: the Mann-Whitney U over n_real * n_fake, from
    mid-ranks (a constant critic ties everything: exactly 0.5)."""
    real, fake = np.asarray(real, np.float64).ravel(), np.asarray(fake, np.float64).ravel()
    if real.size == 0 or fake.size == 0:
        raise ValueError("critic AUC needs at least one real and one generated score")
    both = np.concatenate([real, fake])
    order = np.argsort(both, kind="mergesort")
    ranks = np.empty(both.size, np.float64)
    sorted_vals = both[order]
    # mid-ranks: every member of a run of equal values gets the mean of the run's ranks (1-based)
    starts = np.flatnonzero(np.r_[True, sorted_vals[1:] != sorted_vals[:-1]])
    ends = np.r_[starts[1:], both.size]
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = 0.5 * (start + 1 + end)
    u = ranks[:real.size].sum() - real.size * (real.size + 1) / 2.0
    return float(u / (real.size * fake.size))


def auc_interval(value: float, n_real: int, n_fake: int) -> tuple[float, float]:
    """A 95% interval for an AUC from Hanley & McNeil (1982)'s standard error, clipped to [0, 1]. At 0.5 with 64 +
    64 photos it is about +-0.10; with 600 + 600 about +-0.03."""
    q1, q2 = value / (2.0 - value), 2.0 * value * value / (1.0 + value)
    var = (value * (1 - value) + (n_real - 1) * (q1 - value ** 2) + (n_fake - 1) * (q2 - value ** 2)) / (
        n_real * n_fake)
    half = _Z95 * math.sqrt(max(var, 0.0))
    if half == 0.0:  # a perfect (or perfectly wrong) critic: the formula's variance is 0; keep a one-pair width
        half = _Z95 * math.sqrt(0.25 / min(n_real, n_fake))
    return max(0.0, value - half), min(1.0, value + half)


def figures(per_image: dict[str, np.ndarray]) -> dict[str, float]:
    """A split's critic figures (FIGURES) from its per-photo scores; {} when the scores hold none (no critic)."""
    if SCORES[0] not in per_image:
        return {}
    real, fake, real_p, fake_p = (per_image[name] for name in SCORES)
    value = auc(real, fake)
    low, high = auc_interval(value, real.size, fake.size)
    return dict(zip(FIGURES, (value, low, high, float(np.mean(real_p) - np.mean(fake_p))), strict=True))


def verdict(values: dict[str, float], prefix: str = "eval/") -> tuple[str, str] | None:
    """(CHANCE or LEARNED, a line saying why) from a run's logged critic figures; None when it logged none (no GAN
    phase). At chance: the 95% interval of the held-out AUC holds 0.5."""
    key = f"{prefix}critic_auc"
    if key not in values:
        return None
    value, low, high = values[key], values[f"{key}_low"], values[f"{key}_high"]
    shown = f"critic AUC {value:.3f} [{low:.3f}, {high:.3f}] on held-out photos"
    if low <= 0.5 <= high:
        return CHANCE, f"{shown}: the critic never left chance, so this GAN phase says nothing about its knobs"
    if high < 0.5:
        return CHANCE, f"{shown}: the critic ranks generated photos above real ones; no game happened"
    return LEARNED, f"{shown}: the critic tells real from generated"


def held_out_auc(score_batch: Callable, subset: tf.data.Dataset) -> dict[str, float]:
    """The critic's FIGURES on a held-out (L, target) dataset; ``score_batch((l, target))`` returns a batch's
    ``photo_scores`` in inference mode (gan.ColorGAN.critic_scores)."""
    parts: dict[str, list[np.ndarray]] = {}
    for batch in subset:
        for key, value in score_batch(batch).items():
            parts.setdefault(key, []).append(np.asarray(value, np.float64))
    return figures({key: np.concatenate(value) for key, value in parts.items()})


def pretrain(model, dataset: tf.data.Dataset, subset: tf.data.Dataset, steps: int, target_auc: float,
             check_every: int, log: Callable[[dict[str, float], int], None]) -> dict[str, float]:
    """Train ``model``'s critic alone (``model.critic_step``, the generator frozen) for at most ``steps`` batches of
    ``dataset``, scoring it on the held-out ``subset`` every ``check_every`` steps and stopping early once its AUC
    reaches ``target_auc``. ``log(values, step)`` gets each check (``critic_pretrain/`` keys); returns the last
    check's figures (FIGURES, ``d_loss``, ``steps``), unprefixed."""
    step_fn = tf.function(model.critic_step, reduce_retracing=True)
    score_fn = tf.function(model.critic_scores, reduce_retracing=True)
    last: dict[str, float] = {}
    losses: list[float] = []
    for step, batch in enumerate(dataset.repeat().take(steps), start=1):
        losses.append(float(step_fn(batch)["d_loss"]))
        if step % check_every and step != steps:
            continue
        figures_now = held_out_auc(score_fn, subset)
        last = {**figures_now, "d_loss": float(np.mean(losses)), "steps": float(step)}
        losses = []
        log({f"{PRETRAIN_PREFIX}{k}": v for k, v in last.items()}, step)
        if figures_now["critic_auc"] >= target_auc:
            break
    return last
