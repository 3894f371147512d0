"""Image-quality metrics shared by per-epoch evaluation, `evaluate` and the baselines, and QUALITY: the one
declaration of each split figure's name, label, unit and direction that every reader shows them by.

All images are RGB in [0, 1]. PSNR per image is capped at PSNR_CAP_DB, because an exactly grey original
predicted exactly (the gray baseline on a grey photo) has zero error and an infinite PSNR; the pooled PSNR
(from the mean squared error over the whole split) needs no cap and is the headline figure.

The border check (issue 14): zero padding in a U-Net's strided convolutions dulls a frame along the edges of
its outputs. ``border_ratio`` = mean Lab chroma of a thin border ring / mean chroma of the interior, pooled
over the split (a ratio of means, so near-neutral images cannot blow it up), read against the same ratio of
the originals (``border_ratio_orig``), which is about 1 for photographs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from colorgan.data import color
from colorgan.scoring import critic

PSNR_CAP_DB = 100.0  # per-image cap: 10*log10(1/1e-10); stated wherever mean/median PSNR is reported
_MSE_FLOOR = 10.0 ** (-PSNR_CAP_DB / 10.0)


@dataclass(frozen=True)
class Metric:
    """A split figure: logged as ``eval/NAME`` (``baseline/gray_NAME``, ``best/...``), a column of `evaluate`'s
    summary, a row of the model card and of the study summary."""

    name: str
    label: str
    unit: str  # "dB", or "" for a unitless figure
    better: str  # "higher", "lower", or "" for neither (colourfulness: read it against the originals')
    digits: int  # decimals shown
    mean_of: str = ""  # the per-image score this is the mean of ("" = a pooled or median figure)
    gain_of: str = ""  # the QUALITY figure this is the gain over the gray image's of ("" = not a gain)

    @property
    def heading(self) -> str:
        """The label with its unit, for a table heading: "PSNR pooled (dB)"."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def show(self, value: float) -> str:
        """A value as text, with its unit: "21.81 dB"."""
        return f"{value:.{self.digits}f}" + (f" {self.unit}" if self.unit else "")


QUALITY: dict[str, Metric] = {m.name: m for m in (
    Metric("psnr", "PSNR pooled", "dB", "higher", 2),
    Metric("psnr_mean", "PSNR mean", "dB", "higher", 2, mean_of="psnr"),
    Metric("psnr_median", "PSNR median", "dB", "higher", 2),
    Metric("ssim", "SSIM", "", "higher", 3, mean_of="ssim"),
    Metric("colorfulness", "colourfulness", "", "", 1, mean_of="colorfulness"),
    Metric("colorfulness_orig", "colourfulness of the originals", "", "", 1, mean_of="colorfulness_orig"),
    Metric("colorfulness_gap", "colourfulness gap to original", "", "lower", 1, mean_of="colorfulness_gap"),
    # DDColor's (and Zhang et al.'s) set-level figure, signed: the outputs' mean colourfulness minus the
    # originals'; 0 is best, a pale model is negative. Equal to the mean of the per-photo signed differences, so
    # it has an interval and a paired comparison like the gap (which is the mean of their absolute values).
    Metric("colorfulness_delta", "ΔCF (outputs − originals)", "", "", 1, mean_of="colorfulness_delta"),
    Metric("color_auc", "colour AuC", "", "higher", 4, mean_of="color_auc"),
    Metric("color_auc_rebal", "colour AuC, rebalanced", "", "higher", 4, mean_of="color_auc_rebal"),
    Metric("border_ratio", "border chroma ratio", "", "", 2),  # read against the originals' ratio
    Metric("border_ratio_orig", "border chroma ratio of the originals", "", "", 2),
)}
MEANS = tuple(m for m in QUALITY.values() if m.mean_of)  # the figures that are means over images
# Figures read against the gray image on the same images: logged by training every epoch, a study's default
# objective (a gain is readable on its own; a PSNR needs its gray figure beside it).
GAINS: dict[str, Metric] = {m.name: m for m in (
    Metric("psnr_gain", "PSNR gain over the gray image", "dB", "higher", 2, gain_of="psnr"),
)}
# The critic's skill on the same photos (colorgan.scoring.critic): logged where a GAN phase's critic scored them.
CRITIC: dict[str, Metric] = {m.name: m for m in (
    Metric("critic_auc", "critic AUC (0.5 = chance)", "", "", 3),
    Metric("critic_gap", "critic D(real) - D(fake)", "", "", 3),
)}
# What the reports graph of these figures, by report figure, in panel order: each a name above, read as eval/NAME
# after each epoch ("quality") or curve/eval/NAME at each curve point ("score_curves"). Logged with every evaluation
# (info.json "plots", beside model.gan.PLOTS), so a figure named here is graphed without editing reports/.
PLOTS: dict[str, tuple[str, ...]] = {
    "quality": ("psnr", "colorfulness"),
    "score_curves": ("psnr_gain", "color_auc_rebal", "colorfulness_gap"),
}
# The per-image scores a paired comparison of two models reads (each "higher" or "lower" is better).
PAIRED = (("psnr", "higher"), ("colorfulness_gap", "lower"), ("color_auc_rebal", "higher"))


def declared(key: str) -> Metric | None:
    """The declared figure behind a logged key (``eval/psnr``, ``test/psnr``, ``psnr``), or None."""
    name = key.rsplit("/", 1)[-1]
    return QUALITY.get(name) or GAINS.get(name) or CRITIC.get(name)


def heading_of(key: str) -> str:
    """A table heading for a logged key: the declared label and unit ("eval PSNR pooled (dB)"), else the key."""
    metric = declared(key)
    if metric is None:
        return key
    where = key.rsplit("/", 1)[0] + " " if "/" in key else ""
    return where + metric.heading
# The per-image scores the pooled border figures are computed from: (figure, ring score, interior score).
BORDER = (("border_ratio", "chroma_ring", "chroma_inner"),
          ("border_ratio_orig", "chroma_ring_orig", "chroma_inner_orig"))
POOLED_SCORES = ("mse", *(score for _, ring, inner in BORDER for score in (ring, inner)))
# Zhang et al. (2016)'s colour accuracy: the share of pixels whose a*b* error is within a threshold, as the area
# under that curve for thresholds 0..AUC_MAX_ERROR (a*b* units), 1 = every pixel exact. "Rebalanced" weighs each
# true a*b* cell (AUC_CELL units wide, centred on neutral) equally, so the rare saturated colours a GAN is there
# for count as much as the common dull ones; computed per image so two models can be compared image by image.
AUC_MAX_ERROR = 150.0
AUC_CELL = 10.0
_AUC_CELLS = 25  # per axis: cells cover a*, b* in [-125, 125), neutral in the middle of the centre cell
_CHROMA_FLOOR = 1e-6  # keeps 0/0 (an all-black or exactly neutral split) at a ratio of 1, as for any uniform image


def mse_per_image(pred: tf.Tensor, true: tf.Tensor) -> tf.Tensor:
    diff = tf.cast(pred, tf.float32) - tf.cast(true, tf.float32)
    return tf.reduce_mean(tf.square(diff), axis=[-3, -2, -1])


def psnr_from_mse(mse):
    """dB for data range 1, never inf/NaN: mse is floored so the result is at most PSNR_CAP_DB."""
    return -10.0 * np.log10(np.maximum(np.asarray(mse, np.float64), _MSE_FLOOR))


def psnr(pred: tf.Tensor, true: tf.Tensor) -> tf.Tensor:
    """Per-image PSNR in dB (capped), as a float32 tensor of shape [batch]."""
    mse = tf.maximum(mse_per_image(pred, true), _MSE_FLOOR)
    return -10.0 * tf.math.log(mse) / tf.math.log(10.0)


def ssim(pred: tf.Tensor, true: tf.Tensor) -> tf.Tensor:
    """Per-image SSIM (Gaussian 11x11, sigma 1.5, as Wang et al. 2004 and skimage's gaussian_weights=True)."""
    return tf.image.ssim(tf.cast(pred, tf.float32), tf.cast(true, tf.float32), max_val=1.0)


colorfulness = color.colorfulness  # the figure and the generator's colourfulness loss share one formula


def border_width(size: int) -> int:
    """The border ring's width in pixels: 2 at 128x128, 1 at 64 and below."""
    return max(1, int(size) // 64)


def border_chroma(rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(mean Lab chroma of the border ring, of the interior) per image of a [B, H, W, 3] batch; the ring is
    border_width(min(H, W)) pixels wide on all four sides (H and W must be known when traced)."""
    chroma = tf.norm(color.rgb_to_lab(rgb)[..., 1:], axis=-1)
    h, w = int(rgb.shape[-3]), int(rgb.shape[-2])
    width = border_width(min(h, w))

    def edge(n):
        index = np.arange(n)
        return (index < width) | (index >= n - width)

    ring = tf.constant(edge(h)[:, np.newaxis] | edge(w)[np.newaxis, :], tf.float32)

    def masked_mean(mask):
        return tf.reduce_sum(chroma * mask, axis=[-2, -1]) / tf.reduce_sum(mask)

    return masked_mean(ring), masked_mean(1.0 - ring)


def color_auc(pred_ab: tf.Tensor, true_ab: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(raw, rebalanced) colour AuC per image of [B, H, W, 2] a*b* batches in Lab units.

    The area under "share of pixels with error <= t" over t in [0, AUC_MAX_ERROR], divided by AUC_MAX_ERROR, is
    the mean over pixels of max(0, 1 - error / AUC_MAX_ERROR): a constant error d gives 1 - d / 150."""
    pred_ab, true_ab = tf.cast(pred_ab, tf.float32), tf.cast(true_ab, tf.float32)
    error = tf.norm(pred_ab - true_ab, axis=-1)
    score = tf.clip_by_value(1.0 - error / AUC_MAX_ERROR, 0.0, 1.0)
    raw = tf.reduce_mean(score, axis=[-2, -1])
    cell = tf.cast(tf.floor(true_ab / AUC_CELL + _AUC_CELLS / 2.0), tf.int32)
    cell = tf.clip_by_value(cell, 0, _AUC_CELLS - 1)
    cells = _AUC_CELLS * _AUC_CELLS
    batch = tf.shape(score)[0]
    ids = cell[..., 0] * _AUC_CELLS + cell[..., 1] + tf.range(batch)[:, None, None] * cells
    sums = tf.reshape(tf.math.unsorted_segment_sum(score, ids, batch * cells), [batch, cells])
    counts = tf.reshape(tf.math.unsorted_segment_sum(tf.ones_like(score), ids, batch * cells), [batch, cells])
    present = tf.cast(counts > 0, tf.float32)
    per_cell = sums / tf.maximum(counts, 1.0)
    rebalanced = tf.reduce_sum(per_cell * present, axis=-1) / tf.maximum(tf.reduce_sum(present, axis=-1), 1.0)
    return raw, rebalanced


def image_scores(pred: tf.Tensor, true: tf.Tensor) -> dict[str, tf.Tensor]:
    """Every per-image score for a batch; the accumulator below turns them into split figures."""
    pred_c = colorfulness(pred)
    true_c = colorfulness(true)
    pred_ring, pred_inner = border_chroma(pred)
    true_ring, true_inner = border_chroma(true)
    auc, auc_rebal = color_auc(color.rgb_to_lab(pred)[..., 1:], color.rgb_to_lab(true)[..., 1:])
    return {
        "mse": mse_per_image(pred, true),
        "ssim": ssim(pred, true),
        "colorfulness": pred_c,
        "colorfulness_orig": true_c,
        "chroma_ring": pred_ring,
        "chroma_inner": pred_inner,
        "chroma_ring_orig": true_ring,
        "chroma_inner_orig": true_inner,
        "color_auc": auc,
        "color_auc_rebal": auc_rebal,
    }


@dataclass
class QualityAccumulator:
    """Collects per-image scores over a split and summarises them."""

    scores: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def update(self, batch_scores: dict) -> None:
        for key, value in batch_scores.items():
            self.scores.setdefault(key, []).append(np.asarray(value, np.float64).reshape(-1))

    def per_image(self) -> dict[str, np.ndarray]:
        out = {key: np.concatenate(parts) for key, parts in self.scores.items()}
        if "mse" in out:
            out["psnr"] = psnr_from_mse(out["mse"])
        if "colorfulness" in out and "colorfulness_orig" in out:
            out["colorfulness_delta"] = out["colorfulness"] - out["colorfulness_orig"]
            out["colorfulness_gap"] = np.abs(out["colorfulness_delta"])
        return out

    def result(self) -> dict[str, float]:
        return summarise(self.per_image())


def summarise(per_image: dict[str, np.ndarray]) -> dict[str, float]:
    """Split figures (QUALITY): PSNR pooled and median (of capped per-image values), and the means over images."""
    if not per_image or len(per_image["mse"]) == 0:
        raise ValueError("no images to summarise")
    out = {
        "psnr": float(psnr_from_mse(np.mean(per_image["mse"]))),  # pooled: the headline figure
        "psnr_median": float(np.median(per_image["psnr"])),
        "images": float(len(per_image["mse"])),
    }
    for m in MEANS:
        if m.mean_of in per_image:
            out[m.name] = float(np.mean(per_image[m.mean_of]))
    for name, ring, inner in BORDER:
        if ring in per_image and inner in per_image:
            out[name] = border_ratio(per_image[ring], per_image[inner])
    out.update(critic.figures(per_image))  # the critic's skill on the same photos, when a critic scored them
    return out


def border_ratio(ring, inner) -> float:
    """Pooled border figure: mean ring chroma / mean interior chroma over the images (1 = no frame)."""
    return float((np.mean(ring) + _CHROMA_FLOOR) / (np.mean(inner) + _CHROMA_FLOOR))


@dataclass(frozen=True)
class Paired:
    """A paired comparison of two models on the same images: mean of the per-image differences a - b."""

    score: str
    mean: float
    half_width: float  # of the 95% Student-t interval
    images: int
    verdict: str  # "better" / "worse" (for a, by the score's direction) / "within noise"

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def sd(self) -> float:
        """The per-image SD of the differences, recovered from the interval's half-width."""
        from scipy import stats

        if self.images < 2:
            return 0.0
        return self.half_width * np.sqrt(self.images) / stats.t.ppf(0.975, self.images - 1)

    @property
    def detectable(self) -> float:
        """The smallest difference these images detect (80% power, 5% two-sided): what "within noise" rules out."""
        return detectable(self.sd, self.images)

    @property
    def needed(self) -> int | None:
        """How many images would resolve the observed mean difference (its 95% interval excluding 0)."""
        return needed(self.sd, self.mean)

    def text(self, digits: int = 2) -> str:
        return (f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}] "
                f"(95% CI, {self.images} images): {self.verdict}")


def paired_difference(a, b, score: str, better: str) -> Paired:
    """a - b per image (aligned arrays of one score), its mean with a 95% CI, and a verdict: "better" when the
    whole interval lies on ``better``'s side of 0, "worse" on the other, else "within noise"."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired_difference: needs two aligned, non-empty sets of scores, got {a.shape}, {b.shape}")
    mean, half = mean_ci(a - b)
    sign = 1.0 if better == "higher" else -1.0
    lo, hi = sorted((sign * (mean - half), sign * (mean + half)))
    verdict = "better" if lo > 0 else "worse" if hi < 0 else "within noise"
    return Paired(score, mean, half, int(a.size), verdict)


def mean_ci(values) -> tuple[float, float]:
    """(mean, half-width of its 95% Student-t interval); the half-width is 0 for fewer than two values."""
    from scipy import stats

    values = np.asarray(values, np.float64)
    mean = float(np.mean(values)) if len(values) else float("nan")
    if len(values) < 2:
        return mean, 0.0
    sem = float(np.std(values, ddof=1)) / np.sqrt(len(values))
    return mean, float(stats.t.ppf(0.975, len(values) - 1) * sem)


def split_scores(dataset, color_space: str, predict=None) -> dict[str, float]:
    """Score a split of (l_in, target) batches: ``predict(l_in)`` -> network output, or None for the gray
    image itself (a*b* = 0), the baseline every PSNR must be read against."""
    acc = QualityAccumulator()
    for l_in, target in dataset:
        pred = color.gray_rgb(l_in) if predict is None else color.decode(l_in, predict(l_in), color_space)
        acc.update(image_scores(pred, color.decode(l_in, target, color_space)))
    return acc.result()


# What a "within noise" comparison would need (issue 21): the power arithmetic of a two-sided 5% test. reports/
# claims.py has its own copy (reports never imports colorgan).
POWER = 0.80


def detectable(sd: float, n: int) -> float:
    """The smallest mean difference that n paired samples of spread ``sd`` detect in a two-sided 5% test with 80%
    power: MDE = (t_{0.975,n-1} + t_{0.80,n-1}) * sd / sqrt(n). Below it, "within noise" says little."""
    from scipy import stats

    if n < 2:
        return float("nan")
    return float((stats.t.ppf(0.975, n - 1) + stats.t.ppf(POWER, n - 1)) * sd / np.sqrt(n))


def needed(sd: float, effect: float) -> int | None:
    """The fewest paired samples whose 95% interval around ``effect`` would exclude 0, from the measured spread:
    the smallest n with t_{0.975,n-1} * sd / sqrt(n) <= |effect| (None for an effect of 0: no n would do)."""
    from scipy import stats

    if effect == 0 or not np.isfinite(effect) or not np.isfinite(sd):
        return None
    # The normal quantile is below every t quantile, so its n is a lower bound; walk up from it as df grows.
    n = max(2, int(np.ceil((stats.norm.ppf(0.975) * sd / abs(effect)) ** 2)))
    while stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n) > abs(effect):
        n += 1
    return n
