"""Full-resolution colorization: the one path used by `colorize`, the pyfunc, the SavedModel export and the web app.

The generator runs at its training size on L*; its a*b* is resized smoothly (bilinear) to the photo's full
resolution and joined with the photo's own full-resolution L*, so no detail is lost. The network input is the
whole photo resized (squashed, not cropped) to the training size, with the same antialiased resize the training
pipeline uses, so every pixel gets a colour. Nothing here knows MLflow: it takes a Keras generator.
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

from colorgan import color, images
from colorgan.config import UsageError
from colorgan.images import BadImage, read_image

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


class Colorizer:
    """A generator and its training size / colour space, as a callable: uint8 HxW, HxWx1 or HxWx3 -> uint8 RGB.

    One traced graph serves every image size; calls from several threads at once are safe (each call gets its
    own tensors; the weights are only read).
    """

    def __init__(self, generator, image_size: int, color_space: str):
        self.generator, self.image_size, self.color_space = generator, int(image_size), color_space
        self._fn = tf.function(
            lambda img: colorize_tensor(img, generator, self.image_size, color_space),
            input_signature=[tf.TensorSpec([None, None, None], tf.uint8)],
        )

    def __call__(self, image: np.ndarray) -> np.ndarray:
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[..., np.newaxis]
        if image.ndim != 3 or image.shape[-1] not in (1, 3):
            raise ValueError(f"expected an image of shape HxW, HxWx1 or HxWx3, got {image.shape}")
        if image.dtype != np.uint8:
            if np.issubdtype(image.dtype, np.integer) and image.size and (image.min() < 0 or image.max() > 255):
                raise ValueError("integer pixel values must lie in 0..255")
            image = image.astype(np.uint8)
        return self._fn(tf.constant(image)).numpy()


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


# --- files and folders ---------------------------------------------------------------------------------------


@dataclass
class Report:
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
                   progress: bool = True) -> Report:
    """Colorize every input into out_dir (same relative name, same format, same size). Bad files are named,
    counted and skipped; an input file is never overwritten; an output name used twice is written once."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    pairs = collect(inputs, out_dir)
    sources = {src.resolve() for src, _ in pairs}
    report, claimed = Report(), {}
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
                rgb = read_image(src)
            except BadImage as exc:
                reason = str(exc)
        if reason:
            report.skipped.append((str(src), reason))
            log.warning("skipped %s: %s", src, reason)
            continue
        out = colorizer(rgb)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        Image.fromarray(out).save(tmp, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
        os.replace(tmp, dest)
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
