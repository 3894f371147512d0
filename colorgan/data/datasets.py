"""Image files -> batched ``tf.data`` pipelines of (L input, colour target).

Every file is checked once up front with Pillow, so a bad file is reported and left out instead of crashing an
epoch. Splits come from a hash of each file's path, so a file keeps its split when others are added. The data
directory is only ever read: the scan cache and the built-in samples live under ``<repo>/.cache/colorgan``.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from colorgan.base import paths
from colorgan.base.config import Config
from colorgan.base.errors import UsageError
from colorgan.data import color, scan_cache
from colorgan.data.images import EXTENSIONS, BadImage, read_rgb

log = logging.getLogger(__name__)
BUILT_IN = "built-in samples"  # the data source (a run's colorgan.data_source tag) when no data set was found
LANDSCAPES = ("repo data/landscapes", "shared data ../shared/data/landscapes")  # the sources of the landscape set
_WARNED: set[Path] = set()  # the sample folders this process has warned of

# Not hyper-parameters (what a usable file is: colorgan.data.images).
CHROMA_SIZE = 32  # images are downscaled to this square before measuring mean chroma (speed)
SHUFFLE_MAX = 10_000  # cap on the shuffle buffer (memory); the real split is smaller, so it is a full shuffle
# Not a hyper-parameter: the sample size of an estimate. The a*b* prior of recon_weighting = "rebalance" is
# counted over the first PRIOR_IMAGES training images (16M pixels at 128x128), far more than a 16x16 grid needs.
PRIOR_IMAGES = 1000


class DataError(UsageError):
    """The data directory is missing, empty, or holds no usable image."""


@dataclass(frozen=True)
class DataBundle:
    train: tf.data.Dataset  # batched (l_in, target), shuffled, jittered
    eval: tf.data.Dataset  # batched, deterministic order
    eval_files: tuple[str, ...]  # the eval split's files (relative to the data root), in the eval dataset's order
    test: tf.data.Dataset  # batched, deterministic order
    eval_rgb_sample: np.ndarray  # first cfg.sample_images eval images, float32 RGB [N, H, W, 3] in [0, 1]
    info: dict  # flat, MLflow-param friendly
    skipped: tuple[tuple[str, str], ...]  # (relative path, reason)


@dataclass(frozen=True, eq=False)
class ScanResult:
    root: Path
    files: tuple[str, ...]  # usable files: POSIX paths relative to root, sorted
    chroma: np.ndarray  # mean Lab chroma of each usable file (float32, aligned with files)
    skipped: tuple[tuple[str, str], ...]  # (relative path, reason), sorted
    converted: int  # usable files that were not plain 8-bit RGB (CMYK, grey, 16-bit, alpha, palette)
    fingerprint: str  # sha256 over the sorted relative paths and sizes of every image file found
    n_found: int  # image files found (usable + skipped)


# --- decoding: colorgan.data.images, the one code path for the scan and the pipelines -----------------------------


def _decode_np(path: bytes) -> np.ndarray:
    return read_rgb(path.decode())[0]


# --- scanning ------------------------------------------------------------------------------------------------


def find_images(root: Path) -> list[str]:
    """Image files under root, recursively, as sorted POSIX relative paths.

    Hidden files and folders are ignored. A folder holding both ``color/`` and ``gray/`` (the Kaggle layout)
    contributes only ``color/``: the grey copies would teach nothing.
    """
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        lower = {d.lower(): d for d in dirs}
        if "color" in lower and "gray" in lower:
            dirs.remove(lower["gray"])
        for name in names:
            if not name.startswith(".") and name.lower().endswith(EXTENSIONS):
                found.append((Path(folder) / name).relative_to(root).as_posix())
    return sorted(found)


def entry(root: Path, rel: str) -> tuple[os.stat_result | None, str, str]:
    """(stat or None, printable name, reason it cannot be used or "") for one directory entry: a file name that is
    not valid UTF-8 (TensorFlow and MLflow need text), a symlink loop, a dangling symlink, an unreadable entry."""
    name = os.fsencode(rel).decode("utf-8", "backslashreplace")  # undecodable bytes shown as \xNN
    if name != rel:
        return None, name, "file name is not valid UTF-8: rename it"
    path = root / rel
    try:
        return path.stat(), name, ""
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, name, "symlink loop"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return None, name, f"dangling symlink (to {os.readlink(path)}, which does not exist)"
        return None, name, f"unreadable: {exc.strerror or exc}"


def screen(root: Path, rels: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """(the files that can be opened, (printable name, reason) of the entries that cannot): scan's entry checks,
    for code that decodes the files itself (`evaluate --data`)."""
    usable, skipped = [], []
    for rel in rels:
        _, name, reason = entry(root, rel)
        if reason:
            skipped.append((name, reason))
        else:
            usable.append(rel)
    return usable, skipped


def skipped_message(skipped, n_found: int, root: Path) -> str:
    """The one line naming skipped files (the first 20) that scan and `evaluate` print."""
    shown = "; ".join(f"{rel}: {why}" for rel, why in skipped[:20])
    more = f"; and {len(skipped) - 20} more" if len(skipped) > 20 else ""
    return f"skipped {len(skipped)} of {n_found} image files in {root}: {shown}{more}"


def _inspect(path: Path) -> tuple[np.ndarray | None, bool, str]:
    """(CHROMA_SIZE^2 thumbnail or None, converted, reason if unusable)."""
    try:
        rgb, converted = read_rgb(path)
    except BadImage as exc:
        return None, False, str(exc)
    thumb = Image.fromarray(rgb).resize((CHROMA_SIZE, CHROMA_SIZE), Image.Resampling.BOX)
    return np.asarray(thumb), converted, ""


def _mean_chroma(thumbs: list[np.ndarray], batch: int = 1024) -> np.ndarray:
    out = [np.zeros(0, np.float32)]
    for i in range(0, len(thumbs), batch):
        rgb = tf.constant(np.stack(thumbs[i : i + batch]).astype(np.float32) / 255.0)
        out.append(color.mean_chroma(rgb).numpy().astype(np.float32))
    return np.concatenate(out)


def scan(root: Path, cache_dir: Path | None = None) -> ScanResult:
    """Check every image file under root (thread pool), measure its mean chroma, and fingerprint the set.

    With ``cache_dir``, results are reused for files whose (path, size, mtime) are unchanged; the cache file is
    never written inside root. Skipped files are named in one warning.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist or is not a directory")
    found = find_images(root)
    if not found:
        raise DataError(f"data directory {root} holds no images ({', '.join(EXTENSIONS)})")
    rels, stats, unlisted = [], [], []  # unlisted: (printable name, reason) of entries that cannot be opened at all
    digest = hashlib.sha256()
    for rel in found:
        st, name, reason = entry(root, rel)
        digest.update(f"{name}\t{st.st_size if st else -1}\n".encode())
        if reason:
            unlisted.append((name, reason))
        else:
            rels.append(rel)
            stats.append(st)

    cache_file = scan_cache.location(root, cache_dir)
    cached = scan_cache.read(cache_file)
    entries: dict[str, list] = {}  # rel -> [size, mtime_ns, chroma or None, converted, reason]
    todo = []
    for rel, st in zip(rels, stats, strict=True):
        hit = cached.get(rel)
        if hit and hit[:2] == [st.st_size, st.st_mtime_ns]:
            entries[rel] = hit
        else:
            todo.append((rel, st))
    if todo:
        with ThreadPoolExecutor(max(2, os.cpu_count() or 1)) as pool:  # Pillow decodes outside the GIL
            results = list(pool.map(_inspect, [root / rel for rel, _ in todo]))
        good = [(i, thumb) for i, (thumb, _, _) in enumerate(results) if thumb is not None]
        chroma = dict(zip((i for i, _ in good), _mean_chroma([t for _, t in good]).tolist(), strict=True))
        for i, ((rel, st), (_, converted, reason)) in enumerate(zip(todo, results, strict=True)):
            entries[rel] = [st.st_size, st.st_mtime_ns, chroma.get(i), converted, reason]
        scan_cache.write(cache_file, entries)

    files = tuple(rel for rel in rels if entries[rel][2] is not None)
    skipped = tuple(sorted([(rel, entries[rel][4]) for rel in rels if entries[rel][2] is None] + unlisted))
    if skipped:
        warnings.warn(skipped_message(skipped, len(found), root), stacklevel=2)
    if not files:
        raise DataError(f"data directory {root} holds no usable image ({len(skipped)} files skipped)")
    return ScanResult(
        root=root,
        files=files,
        chroma=np.array([entries[rel][2] for rel in files], np.float32),
        skipped=skipped,
        converted=sum(bool(entries[rel][3]) for rel in files),
        fingerprint=digest.hexdigest(),
        n_found=len(found),
    )


# --- splits --------------------------------------------------------------------------------------------------


def split_key(rel: str) -> float:
    """A stable number in [0, 1) from a relative path: the file's split never depends on the other files."""
    return int.from_bytes(hashlib.sha1(rel.encode()).digest()[:8], "big") / 2.0**64


def split_files(files: tuple[str, ...] | list[str], eval_fraction: float, test_fraction: float) -> dict:
    """{"train"|"eval"|"test": relative paths in hash order} (hash order: deterministic, classes mixed)."""
    splits: dict[str, list[str]] = {"train": [], "eval": [], "test": []}
    for key, rel in sorted((split_key(rel), rel) for rel in files):
        name = "test" if key < test_fraction else "eval" if key < test_fraction + eval_fraction else "train"
        splits[name].append(rel)
    return splits


# --- where the data is ---------------------------------------------------------------------------------------


def resolve_data_dir(data_dir: str, repo_root: Path) -> tuple[Path, str]:
    """(data directory, where it came from): config data_dir > $COLORGAN_DATA > repo data/landscapes >
    ../shared/data/landscapes > the built-in samples. A path that was named but does not exist is an error."""
    for value, source in ((data_dir, "config data_dir"), (os.environ.get("COLORGAN_DATA", ""), "$COLORGAN_DATA")):
        if value:
            path = Path(value).expanduser().resolve()
            if not path.is_dir():
                raise DataError(f"data directory {path} (from {source}) does not exist or is not a directory")
            return path, source
    repo_root = Path(repo_root)
    for path, source in zip((repo_root / "data" / "landscapes", repo_root.parent / "shared" / "data" / "landscapes"),
                            LANDSCAPES, strict=True):
        if path.is_dir():
            return path.resolve(), source
    from colorgan.data.samples import sample_dir

    path = sample_dir(paths.cache_dir(repo_root) / "colorgan")
    if path not in _WARNED:  # once per process: every command reads the splits more than once
        _WARNED.add(path)
        print(f"WARNING: no data set found: using the small built-in sample set in {path}; figures from it are not "
              f"comparable with a data set's. For real results put the landscape photographs in "
              f"{repo_root / 'data' / 'landscapes'}, set data_dir in the config, or set COLORGAN_DATA.",
              file=sys.stderr, flush=True)
    return path, BUILT_IN


# --- pipelines -----------------------------------------------------------------------------------------------


def pipeline_options() -> tf.data.Options:
    """tf.data's autotuner off. On 2 cores its background optimisation, and the parallelism it grows, took the
    cores from the training step: 64x64 fit epochs 3-5 ran at 31 images/s with it and 50-55 without (the map
    stages then use every core, as the autotuner would, without the tuning; docs/results/measurements.md)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def _rgb_dataset(paths: list[str], side: int) -> tf.data.Dataset:
    """Paths -> float32 RGB [side, side, 3] in [0, 1]: decode, centre square crop, antialiased resize.

    A file that changed on disk since the scan is dropped with a logged warning rather than ending the epoch.
    """

    def decode(path):
        img = tf.numpy_function(_decode_np, [path], tf.uint8, stateful=False)
        img.set_shape([None, None, 3])
        return img

    ds = tf.data.Dataset.from_tensor_slices(tf.constant(paths, tf.string, shape=[len(paths)]))
    ds = ds.with_options(pipeline_options())
    ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors(log_warning=True)
    return ds.map(lambda img: square_resize(img, side), num_parallel_calls=tf.data.AUTOTUNE)


def square_resize(img: tf.Tensor, side: int) -> tf.Tensor:
    """uint8 RGB [H, W, 3] -> float32 RGB [side, side, 3] in [0, 1]: centre square crop (no squashing of
    non-square photos), antialiased resize. Training, evaluation and the baselines all see images through this."""
    h, w = tf.shape(img)[0], tf.shape(img)[1]
    s = tf.minimum(h, w)
    img = tf.image.crop_to_bounding_box(img, (h - s) // 2, (w - s) // 2, s, s)
    return tf.clip_by_value(tf.image.resize(img, [side, side], antialias=True) / 255.0, 0.0, 1.0)


def train_dataset(paths: list[str], cfg: Config) -> tf.data.Dataset:
    """Shuffled, jittered batches. The deterministic part is cached in memory as uint8 (4x smaller than float);
    the shuffle sits right after the cache, so its buffer holds references, not a second copy of the images.
    Crop and flip are stateless ops seeded per element from cfg.seed: the same run sees the same jitter."""
    size, margin_side = cfg.image_size, round(cfg.image_size * cfg.resize_margin)
    ds = _rgb_dataset(paths, margin_side)
    ds = ds.map(lambda rgb: tf.cast(tf.round(rgb * 255.0), tf.uint8), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.cache().shuffle(max(1, min(len(paths), SHUFFLE_MAX)), seed=cfg.seed, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=cfg.seed, rerandomize_each_iteration=True)

    def jitter(img, seed):
        img = tf.image.stateless_random_crop(img, [size, size, 3], seed=tf.stack([seed, 0]))
        img = tf.image.stateless_random_flip_left_right(img, seed=tf.stack([seed, 1]))
        return color.encode(tf.cast(img, tf.float32) / 255.0, cfg.color_space)

    ds = tf.data.Dataset.zip((ds, seeds)).map(jitter, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(cfg.batch_size, drop_remainder=False).prefetch(tf.data.AUTOTUNE)


def eval_dataset(paths: list[str], cfg: Config) -> tf.data.Dataset:
    """Deterministic batches in the given order: plain resize to image_size, encode, cache."""
    ds = _rgb_dataset(paths, cfg.image_size)
    ds = ds.map(lambda rgb: color.encode(rgb, cfg.color_space), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.cache().batch(cfg.batch_size, drop_remainder=False).prefetch(tf.data.AUTOTUNE)


def split_dataset(cfg: Config, repo_root: Path) -> tuple[Path, ScanResult, dict[str, list[str]], dict]:
    """(data root, scan, {"train"|"eval"|"test": relative paths, near-grey ones left out}, info): the splits every
    command agrees on, before any cap. `evaluate` reads its default test split and Welsh's references here."""
    root, source = resolve_data_dir(cfg.data_dir, repo_root)
    result = scan(root, cache_dir=paths.cache_dir(Path(repo_root)) / "colorgan")
    chroma = dict(zip(result.files, result.chroma.tolist(), strict=True))
    splits = split_files(result.files, cfg.eval_fraction, cfg.test_fraction)
    info: dict = {"data_dir": str(root), "data_source": source, "fingerprint": result.fingerprint}
    for name, rels in splits.items():
        kept = [rel for rel in rels if cfg.grey_threshold <= 0 or chroma[rel] >= cfg.grey_threshold]
        info[f"n_grey_{name}"] = len(rels) - len(kept)
        splits[name] = kept
    return root, result, splits, info


def ab_histogram(cfg: Config, repo_root: Path, max_images: int = PRIOR_IMAGES) -> tuple[np.ndarray, int]:
    """(pixel counts per a*b* cell [rebalance_bins, rebalance_bins] (color.ab_bin), images used): the training
    split's colours for the rebalanced loss, from its first images (capped as training is) at the training size,
    centre-cropped as for evaluation (no jitter)."""
    root, _, splits, _ = split_dataset(cfg, repo_root)
    rels = splits["train"][: cfg.max_train_images or None][:max_images]
    bins = cfg.rebalance_bins
    counts = np.zeros(bins * bins, np.int64)
    used = 0
    for rgb in _rgb_dataset([str(root / rel) for rel in rels], cfg.image_size).batch(64):
        _, ab = color.encode(rgb, "lab")
        counts += tf.math.bincount(tf.reshape(color.ab_bin(ab, bins), [-1]), minlength=bins * bins,
                                   maxlength=bins * bins, dtype=tf.int64).numpy()
        used += int(rgb.shape[0])
    if used == 0:
        raise DataError(f"data directory {root}: no training image to estimate the a*b* prior from")
    return counts.reshape(bins, bins), used


def load(cfg: Config, repo_root: Path) -> DataBundle:
    """Resolve, scan, filter near-grey images, split, cap, and build the three pipelines."""
    root, result, splits, info = split_dataset(cfg, repo_root)
    if cfg.max_train_images:
        splits["train"] = splits["train"][: cfg.max_train_images]
    if cfg.max_eval_images:
        splits["eval"] = splits["eval"][: cfg.max_eval_images]
    if not splits["train"]:
        raise DataError(f"data directory {root}: no training images left after the split and grey filter")
    paths = {name: [str(root / rel) for rel in rels] for name, rels in splits.items()}
    sample = list(_rgb_dataset(paths["eval"], cfg.image_size).take(cfg.sample_images).as_numpy_iterator())
    info.update(
        n_files=result.n_found,
        n_usable=len(result.files),
        n_train=len(splits["train"]),
        n_eval=len(splits["eval"]),
        n_test=len(splits["test"]),
        n_skipped=len(result.skipped),
        n_converted=result.converted,
    )
    return DataBundle(
        train=train_dataset(paths["train"], cfg),
        eval=eval_dataset(paths["eval"], cfg),
        eval_files=tuple(splits["eval"]),
        test=eval_dataset(paths["test"], cfg),
        eval_rgb_sample=np.stack(sample) if sample else np.zeros((0, cfg.image_size, cfg.image_size, 3), np.float32),
        info=info,
        skipped=result.skipped,
    )
