"""Full-resolution colorization: the one method used by `colorize`, the pyfunc, the SavedModel export and the web app.

The generator runs at its training size on L*; its a*b* is resized smoothly (bilinear) to the photo's full
resolution and joined with the photo's own full-resolution L*, so no detail is lost. The network input is the
whole photo resized (squashed, not cropped) to the training size, with the same antialiased resize the training
pipeline uses, so every pixel gets a colour. colorize_tensor writes this as one TF graph (the SavedModel);
Colorizer runs the same steps in row stripes so a 50 MP photo needs no float copy of itself (they agree to one
level). Nothing here knows MLflow: it takes a Keras generator.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from colorgan.base import diskspace
from colorgan.base.errors import UsageError
from colorgan.data import color, images
from colorgan.data.images import BadImage

log = logging.getLogger(__name__)

# What `colorize` picks up inside folders (compared lower-case); files named explicitly are tried whatever
# their extension, and an unreadable one is reported like any bad file.
EXTENSIONS = (*images.EXTENSIONS, ".tif", ".tiff")
_SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}}


class ColorizeError(UsageError):
    """A bad command: an input path that does not exist, an output folder that is an input."""


def colorize_tensor(image: tf.Tensor, generator, image_size: int, color_space: str) -> tf.Tensor:
    """uint8 [H, W, 1] (gray) or [H, W, 3] (colour: only its L* is used) -> uint8 RGB [H, W, 3], in TF ops.

    Traceable (the SavedModel's serving function is this inside a tf.function) and usable eagerly.
    """
    image = tf.convert_to_tensor(image, tf.uint8)
    shape = tf.shape(image)
    rgb = tf.cast(tf.broadcast_to(image, tf.stack([shape[0], shape[1], 3])), tf.float32) / 255.0
    lightness = color.rgb_to_lab(rgb)[..., :1]  # the photo's own full-resolution L*
    small = tf.clip_by_value(tf.image.resize(rgb, [image_size, image_size], antialias=True), 0.0, 1.0)
    l_in, _ = color.encode(small[tf.newaxis], color_space)
    target = generator(l_in, training=False)
    ab = color.predicted_ab(l_in, target, color_space)[0]
    ab_full = tf.image.resize(ab, shape[:2], method="bilinear")
    out = color.lab_to_rgb(tf.concat([lightness, ab_full], axis=-1))
    return tf.cast(tf.round(out * 255.0), tf.uint8)


def _row_weights(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower row, upper row, weight of the upper) of each output row: tf.image.resize's bilinear sampling
    (half-pixel centres) along one axis, so rows can be interpolated a stripe at a time."""
    pos = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    lower = np.floor(pos).astype(np.int64)
    return lower, np.minimum(lower + 1, n_in - 1), (pos - lower).astype(np.float32)


class Colorizer:
    """A generator and its training size / colour space, as a callable: uint8 HxW, HxWx1 or HxWx3 -> uint8 RGB.

    The same steps as colorize_tensor, arranged so that a large photo never has a float copy: the network input
    is a box-reduced copy (at most REDUCE_TO x the training size a side) resized as in training, and the
    full-resolution join (its own L* + the upsampled a*b* -> RGB) runs in row stripes of about STRIPE_PIXELS,
    each written straight into the uint8 result. Memory is then the photo, the result and one stripe's floats.
    Calls from several threads at once are safe (each call gets its own tensors; the weights are only read).
    """

    REDUCE_TO = 4  # the network input is box-reduced to at most 4x the training size a side before the resize
    STRIPE_PIXELS = 1 << 20  # pixels per stripe of the full-resolution join (about 12 MB per float RGB copy)

    def __init__(self, generator, image_size: int, color_space: str):
        self.generator, self.image_size, self.color_space = generator, int(image_size), color_space
        size = self.image_size
        self._predict = tf.function(  # uint8 [h, w, 1|3] (already reduced) -> a*b* [size, size, 2]
            lambda img: _predict_ab(img, generator, size, color_space),
            input_signature=[tf.TensorSpec([None, None, None], tf.uint8)],
        )
        grey = np.repeat(np.arange(256, dtype=np.float32)[:, np.newaxis] / 255.0, 3, axis=1)
        grey_lightness = tf.constant(color.rgb_to_lab(grey).numpy()[:, :1])  # L* of each grey level: a lookup
        self._join_grey = tf.function(  # uint8 stripe [h, W, 1] + its a*b* [h, W, 2] -> uint8 RGB [h, W, 3]
            lambda stripe, ab: _join(tf.gather(grey_lightness, tf.cast(stripe[..., 0], tf.int32)), ab),
            input_signature=[tf.TensorSpec([None, None, 1], tf.uint8), tf.TensorSpec([None, None, 2], tf.float32)],
        )
        self._join_rgb = tf.function(  # uint8 stripe [h, W, 3] + its a*b* [h, W, 2] -> uint8 RGB [h, W, 3]
            lambda stripe, ab: _join(color.rgb_to_lab(tf.cast(stripe, tf.float32) / 255.0)[..., :1], ab),
            input_signature=[tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([None, None, 2], tf.float32)],
        )

    def __call__(self, image) -> np.ndarray:
        """uint8 HxW, HxWx1 or HxWx3 (an array) or an "L"/"RGB" Pillow image -> uint8 RGB [H, W, 3]."""
        if isinstance(image, Image.Image):
            image = np.asarray(image)
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[..., np.newaxis]
        if image.ndim != 3 or image.shape[-1] not in (1, 3):
            raise ValueError(f"expected an image of shape HxW, HxWx1 or HxWx3, got {image.shape}")
        if image.dtype != np.uint8:
            if np.issubdtype(image.dtype, np.integer) and image.size and (image.min() < 0 or image.max() > 255):
                raise ValueError("integer pixel values must lie in 0..255")
            image = image.astype(np.uint8)
        out = np.empty((*image.shape[:2], 3), np.uint8)
        ab = self._ab_columns(_reduce_array(image, self._factors(image.shape[1], image.shape[0])), image.shape[1])
        for top, bottom, ab_rows in self._stripes(ab, image.shape[0], image.shape[1]):
            out[top:bottom] = self._join_stripe(image[top:bottom], ab_rows)
        return out

    def colorize_image(self, photo: Image.Image) -> Image.Image:
        """An "L" or "RGB" Pillow image (images.open_photo) -> RGB Pillow image of the same size, built stripe by
        stripe: neither the photo nor the result is ever copied whole (what the web app and `colorize` use)."""
        if photo.mode not in ("L", "RGB"):
            raise ValueError(f"expected an 'L' or 'RGB' image, got mode {photo.mode!r}")
        w, h = photo.size
        kx, ky = self._factors(w, h)
        small = photo.reduce((kx, ky)) if kx > 1 or ky > 1 else photo
        ab = self._ab_columns(_as_hwc(small), w)
        del small
        out = Image.new("RGB", (w, h))
        for top, bottom, ab_rows in self._stripes(ab, h, w):
            stripe = _as_hwc(photo.crop((0, top, w, bottom)))
            out.paste(Image.fromarray(self._join_stripe(stripe, ab_rows)), (0, top))
        return out

    def _join_stripe(self, stripe: np.ndarray, ab_rows: np.ndarray) -> np.ndarray:
        join = self._join_grey if stripe.shape[-1] == 1 else self._join_rgb
        return join(tf.constant(stripe), tf.constant(ab_rows)).numpy()

    def _factors(self, w: int, h: int) -> tuple[int, int]:
        """Box-reduction factors that leave at least REDUCE_TO x the training size a side (1: none)."""
        limit = self.REDUCE_TO * self.image_size
        return max(1, w // limit), max(1, h // limit)

    def _ab_columns(self, small: np.ndarray, width: int) -> np.ndarray:
        """The predicted a*b*, resized to the photo's width (rows stay at the training size): [size, W, 2]."""
        ab = self._predict(tf.constant(small))
        return tf.image.resize(ab, [self.image_size, width], method="bilinear").numpy()

    def _stripes(self, ab_columns: np.ndarray, height: int, width: int):
        """(top, bottom, a*b* of those rows [rows, W, 2]) for row stripes of about STRIPE_PIXELS."""
        lower, upper, weight = _row_weights(height, ab_columns.shape[0])
        rows = max(1, self.STRIPE_PIXELS // max(1, width))
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            a, b = ab_columns[lower[top:bottom]], ab_columns[upper[top:bottom]]
            yield top, bottom, a + (b - a) * weight[top:bottom, np.newaxis, np.newaxis]


def _as_hwc(img: Image.Image) -> np.ndarray:
    arr = np.asarray(img)
    return arr[..., np.newaxis] if arr.ndim == 2 else arr


def _reduce_array(image: np.ndarray, factors: tuple[int, int]) -> np.ndarray:
    """Box-reduce a uint8 [H, W, C] array as Pillow's Image.reduce does (the array path of Colorizer)."""
    if factors == (1, 1):
        return image
    if image.shape[-1] == 1:
        return np.asarray(Image.fromarray(image[..., 0]).reduce(factors))[..., np.newaxis]
    return np.asarray(Image.fromarray(image).reduce(factors))


def _predict_ab(image: tf.Tensor, generator, image_size: int, color_space: str) -> tf.Tensor:
    """uint8 [h, w, 1|3] -> the predicted a*b* [size, size, 2]: the network part of colorize_tensor."""
    rgb = tf.cast(image, tf.float32) / 255.0
    small = tf.clip_by_value(tf.image.resize(rgb, [image_size, image_size], antialias=True), 0.0, 1.0)
    small = tf.broadcast_to(small, [image_size, image_size, 3])  # grey: resizing one channel = resizing three
    l_in, _ = color.encode(small[tf.newaxis], color_space)
    return color.predicted_ab(l_in, generator(l_in, training=False), color_space)[0]


def _join(lightness: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """The photo's own L* [h, W, 1] + the predicted a*b* [h, W, 2] -> uint8 RGB [h, W, 3]."""
    return tf.cast(tf.round(color.lab_to_rgb(tf.concat([lightness, ab], axis=-1)) * 255.0), tf.uint8)


def png_bytes(image) -> bytes:
    """A uint8 array or a Pillow image -> PNG bytes."""
    buf = io.BytesIO()
    (image if isinstance(image, Image.Image) else Image.fromarray(image)).save(buf, format="PNG")
    return buf.getvalue()


# --- files and folders ---------------------------------------------------------------------------------------


@dataclass
class ColorizedFiles:
    """What colorize_files did: the outputs written and the inputs skipped, with why."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (input path, reason)


def collect(inputs: list[str | Path], out_dir: Path) -> list[tuple[Path, Path]]:
    """(input file, output path relative to out_dir) for files and folders (recursive, hidden ones ignored).

    A file named directly keeps its name; a file found in a folder keeps its path relative to that folder.
    Anything already under out_dir is left out, so re-running never colorizes earlier outputs.
    """
    out_abs = Path(out_dir).resolve()
    pairs = []
    for raw in inputs:
        path = Path(raw)
        if path.is_file():
            pairs.append((path, Path(path.name)))
        elif path.is_dir():
            if path.resolve() == out_abs:
                raise ColorizeError(f"the output folder {out_dir} is also an input: choose another --out")
            for folder, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                                 and Path(folder, d).resolve() != out_abs)
                for name in sorted(names):
                    if not name.startswith(".") and name.lower().endswith(EXTENSIONS):
                        file = Path(folder) / name
                        pairs.append((file, file.relative_to(path)))
        else:
            raise ColorizeError(f"{raw}: no such file or folder")
    return pairs


def _output_format(rel: Path) -> tuple[Path, str]:
    """Keep the name and format (by extension); an extension Pillow cannot write becomes NAME.EXT.png."""
    fmt = Image.registered_extensions().get(rel.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        return rel.with_name(rel.name + ".png"), "PNG"
    return rel, fmt


def colorize_files(inputs: list[str | Path], out_dir: str | Path, colorizer: Colorizer,
                   progress: bool = True) -> ColorizedFiles:
    """Colorize every input into out_dir (same relative name, same format, same size). Bad files are named,
    counted and skipped; an input file is never overwritten; an output name used twice is written once."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    pairs = collect(inputs, out_dir)
    sources = {src.resolve() for src, _ in pairs}
    report, claimed = ColorizedFiles(), {}
    for src, rel in tqdm(pairs, desc="colorize", unit="img", disable=not progress, dynamic_ncols=True):
        rel, fmt = _output_format(rel)
        dest = out_dir / rel
        reason = None
        if dest.resolve() in sources:
            reason = "the output would overwrite an input file"
        elif dest.resolve() in claimed:
            reason = f"output name {rel} already written from {claimed[dest.resolve()]}"
        else:
            try:
                photo = images.open_photo(src)
            except BadImage as exc:
                reason = str(exc)
        if reason:
            report.skipped.append((str(src), reason))
            log.warning("skipped %s: %s", src, reason)
            continue
        out = colorizer.colorize_image(photo)
        del photo
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        try:
            out.save(tmp, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)  # never a half-written output
            if not diskspace.is_full(exc):
                raise
            raise diskspace.DiskFull(
                f"no space left in {out_dir} ({diskspace.show(diskspace.free_bytes(out_dir))} free) while writing "
                f"{rel}: kept the {len(report.written)} file(s) written before, whole; nothing of {rel}") from exc
        claimed[dest.resolve()] = src
        report.written.append(dest)
    return report


# --- TensorFlow SavedModel for TF Serving ----------------------------------------------------------------------


def export_savedmodel(colorizer: Colorizer, out_dir: str | Path) -> Path:
    """Write a SavedModel whose ``serving_default`` signature takes ``image``: uint8 gray [H, W, 1] of any size,
    and returns ``image``: uint8 RGB [H, W, 3], through colorize_tensor (the same full-resolution path)."""
    import keras

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ColorizeError(f"{out_dir} exists and is not empty: choose a new --out folder")
    archive = keras.export.ExportArchive()
    archive.track(colorizer.generator)

    def serve(image):
        return {"image": colorize_tensor(image, colorizer.generator, colorizer.image_size, colorizer.color_space)}

    archive.add_endpoint(name="serving_default", fn=serve,
                         input_signature=[tf.TensorSpec([None, None, 1], tf.uint8, name="image")])
    archive.write_out(str(out_dir), verbose=False)
    return out_dir
