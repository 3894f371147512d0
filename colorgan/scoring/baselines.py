"""Non-learned colourisers that every model is compared with, evaluated by exactly the code that scores the models.

A baseline maps a batch of original RGB images [N, S, S, 3] in [0, 1] to predicted RGB images. It only ever sees
their L* channel (the colour is thrown away first), just like a generator. The third baseline, ``l1_only``, is a
trained U-Net (the ``l1_only`` experiment) and is evaluated as a model, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from colorgan.data import color

NAMES = ("gray", "welsh", "l1_only")  # l1_only is resolved to its latest trained run by `evaluate`
HIST_BINS = 32  # L* histogram bins used to choose Welsh's reference


def lab_of(rgb: np.ndarray) -> np.ndarray:
    """float RGB [..., 3] in [0, 1] -> L*a*b* [..., 3] (float64), through the project's one colour conversion."""
    return np.asarray(color.rgb_to_lab(np.asarray(rgb, np.float32)), np.float64)


def rgb_of(lab: np.ndarray) -> np.ndarray:
    return np.asarray(color.lab_to_rgb(np.asarray(lab, np.float32)), np.float32)


def gray(rgb: np.ndarray) -> np.ndarray:
    """a*b* = 0: the input itself. Every PSNR is read against this."""
    lab = lab_of(rgb)
    lab[..., 1:] = 0.0
    return rgb_of(lab)


def local_std(lum: np.ndarray, window: int = 5) -> np.ndarray:
    """Standard deviation of [..., H, W] over a window x window neighbourhood (edges reflected)."""
    pad = window // 2
    widths = [(0, 0)] * (lum.ndim - 2) + [(pad, pad), (pad, pad)]
    padded = np.pad(lum, widths, mode="reflect")
    return sliding_window_view(padded, (window, window), axis=(-2, -1)).std(axis=(-2, -1))


def l_histogram(lab: np.ndarray) -> np.ndarray:
    """Normalised L* histograms [N, HIST_BINS] of a batch of Lab images [N, H, W, 3]."""
    bins = np.clip((lab[..., 0] / color.L_MAX * HIST_BINS).astype(int), 0, HIST_BINS - 1).reshape(len(lab), -1)
    counts = np.stack([np.bincount(row, minlength=HIST_BINS) for row in bins])
    return counts / counts.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class Welsh:
    """Welsh, Ashikhmin & Mueller (2002), "Transferring color to greyscale images": global image matching.

    For each target, the reference is the candidate (a pool of training photos) whose L* histogram is closest in
    L1 distance. The reference's luminance is remapped to the target's mean and standard deviation; about
    ``samples`` reference pixels are drawn on a jittered grid; each target pixel takes the a*b* of the sample
    that best matches it on 0.5 * luminance + 0.5 * 5x5 neighbourhood standard deviation (squared differences),
    and keeps its own L*.

    What it simplifies: CIE L*a*b* instead of the paper's l-alpha-beta space; the reference is chosen
    automatically (the paper's user picks it), from a fixed pool rather than the whole training set, and is
    centre-cropped and resized to the evaluation size; no swatches (the paper's interactive variant); the
    jitter pattern is the same for every image (seeded), so results are deterministic.
    """

    references: np.ndarray  # Lab [K, S, S, 3] candidate references (training photos)
    samples: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.references) == 0:
            raise ValueError("Welsh needs at least one reference image from the training split")

    def choose(self, lab: np.ndarray) -> np.ndarray:
        """Index of the closest reference (L* histogram, L1) for each target in a Lab batch."""
        dist = np.abs(l_histogram(lab)[:, None, :] - l_histogram(self.references)[None, :, :]).sum(axis=-1)
        return np.argmin(dist, axis=1)

    def sample_positions(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """One random pixel in each cell of a g x g grid (g^2 ~ samples): jittered sampling."""
        g = max(1, int(round(np.sqrt(self.samples))))
        rng = np.random.default_rng(self.seed)
        edges_y, edges_x = np.linspace(0, height, g + 1), np.linspace(0, width, g + 1)
        ys = (edges_y[:-1, None] + rng.random((g, g)) * np.diff(edges_y)[:, None]).astype(int).ravel()
        xs = (edges_x[None, :-1] + rng.random((g, g)) * np.diff(edges_x)[None, :]).astype(int).ravel()
        return np.minimum(ys, height - 1), np.minimum(xs, width - 1)

    def transfer(self, target_l: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """Target L* [H, W] + reference Lab [H', W', 3] -> predicted a*b* [H, W, 2]."""
        ref_l = reference[..., 0]
        ref_l = (ref_l - ref_l.mean()) * (target_l.std() / max(ref_l.std(), 1e-6)) + target_l.mean()
        ys, xs = self.sample_positions(*ref_l.shape)
        sample_l, sample_s = ref_l[ys, xs], local_std(ref_l)[ys, xs]
        sample_ab = reference[ys, xs, 1:]
        lum, std = target_l.reshape(-1, 1), local_std(target_l).reshape(-1, 1)
        cost = 0.5 * (lum - sample_l[None, :]) ** 2 + 0.5 * (std - sample_s[None, :]) ** 2
        return sample_ab[np.argmin(cost, axis=1)].reshape(*target_l.shape, 2)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        lab = lab_of(rgb)
        chosen = self.choose(lab)
        for i, ref in enumerate(chosen):
            lab[i, ..., 1:] = self.transfer(lab[i, ..., 0], self.references[ref])
        return rgb_of(lab)
