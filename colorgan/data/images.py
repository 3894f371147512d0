"""Image files and uploads -> uint8 RGB: the one decoder behind training, evaluation, `colorize` and the web app.

A file that cannot be used raises a ``BadImage`` whose message is the reason reported to the user; the web app
maps its subclasses to HTTP statuses. Limits are checked from the header, before anything is decoded.
"""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image, ImageOps

# Not hyper-parameters: limits on what counts as a usable file.
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")  # what a data folder scan picks up (compared lower-case)
MAX_PIXELS = 50_000_000  # larger images are refused from the header, before decoding (memory)
UNSUPPORTED_MODES = ("F", "LAB", "HSV")  # float and non-RGB colour models: no faithful sRGB conversion here
MIN_SIDE = 8  # a shorter side below this cannot be a photograph worth training on


class BadImage(Exception):
    """A file that cannot be used; the message is the reason that gets reported."""


class NotAnImage(BadImage):
    """The bytes are not an image format Pillow knows (sniffed from the content, never the file name)."""


class TooLarge(BadImage):
    """Over MAX_PIXELS (or a decompression bomb): refused from the header, before decoding."""


class UnsupportedMode(BadImage):
    """An image mode with no meaningful 8-bit RGB rendering (32-bit float, Lab, HSV)."""


def _grey16_to_8(img: Image.Image) -> Image.Image:
    """16/32-bit grey -> 8-bit "L", scaled (not clipped) and rounded, in integers (no float copy of the image)."""
    wide = np.clip(np.asarray(img), 0, 65535).astype(np.uint32)
    return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8), "L")  # = rint(v * 255 / 65535)


def _to_photo(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit "L" (single-channel grey stays one byte a pixel) or "RGB": 16-bit grey is scaled,
    transparency is composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I"):  # "I;16", "I;16B", "I": 16-bit grey (PNG); plain convert would clip at 255
        return _grey16_to_8(img)
    if img.has_transparency_data:  # RGBA, LA, PA, P or L with a transparent colour
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    if img.mode == "L":
        return img
    return img.convert("L" if img.mode == "1" else "RGB")  # CMYK, P, YCbCr, ...


def _check(img: Image.Image) -> None:
    """The header checks, before anything is decoded: pixel count, shorter side, mode."""
    w, h = img.size
    if w * h > MAX_PIXELS:
        raise TooLarge(f"too large: {w}x{h} is over {MAX_PIXELS // 1_000_000} megapixels")
    if min(w, h) < MIN_SIDE:
        raise BadImage(f"too small: {w}x{h} (shorter side under {MIN_SIDE} px)")
    if img.mode in UNSUPPORTED_MODES:
        raise UnsupportedMode(f"unsupported image mode {img.mode!r}")


def _open(source) -> Image.Image:
    """Image.open with the reasons of colorgan: Pillow's decompression-bomb refusal (over 2 x 89 MP, raised before
    our own header check can run) reads as the same over-the-limit message."""
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    try:
        return Image.open(source)
    except Image.DecompressionBombError as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(claimed.group(1)) / 1e6:.0f} megapixels" if claimed else "the image"
        raise TooLarge(f"too large: {size} is over {MAX_PIXELS // 1_000_000} megapixels") from None


def _reasons(fn):
    """Run fn, turning Pillow's failures into BadImage reasons."""
    try:
        return fn()
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:  # a size that changes while decoding (e.g. an MPO frame)
        raise TooLarge(f"too large: {exc}") from None
    except Image.UnidentifiedImageError:
        raise NotAnImage("not a readable image") from None
    except Exception as exc:  # truncated/corrupt data surfaces as OSError, SyntaxError, ValueError, ...
        raise BadImage(f"corrupt: {type(exc).__name__}: {exc}") from None


def header_size(source) -> tuple[int, int]:
    """(width, height) from the header alone (a path, bytes or a binary file object, rewound afterwards), with
    every header check of open_photo: what a server needs to budget a request before decoding it."""

    def run():
        with _open(source) as img:
            _check(img)
            return img.size

    try:
        return _reasons(run)
    finally:
        if hasattr(source, "seek"):
            source.seek(0)


def _decode(source) -> tuple[Image.Image, bool]:
    def run():
        with _open(source) as img:  # leaving the block closes a file Pillow opened, not the decoded pixels
            _check(img)
            img.load()
            mode = img.mode
            ImageOps.exif_transpose(img, in_place=True)  # in place: no second copy of a large photo
            return _to_photo(img), mode != "RGB"

    return _reasons(run)


def open_photo(source) -> Image.Image:
    """Decode a path, bytes or binary file object to an 8-bit Pillow image, "L" for single-channel grey (one byte
    a pixel) and "RGB" otherwise, with EXIF orientation applied: the one decoder behind read_rgb too.

    Raises BadImage (or its subclasses NotAnImage, TooLarge, UnsupportedMode) with a reason. The pixel count and
    the mode are checked from the header, before anything is decoded.
    """
    return _decode(source)[0]


def read_rgb(path) -> tuple[np.ndarray, bool]:
    """Decode a file (a path or a binary file object) to uint8 RGB [H, W, 3] (EXIF orientation applied) and
    whether it needed converting.

    Raises BadImage (or its subclasses NotAnImage, TooLarge, UnsupportedMode) with a reason. The pixel count
    and the mode are checked from the header, before anything is decoded.
    """
    photo, converted = _decode(path)
    return np.asarray(photo if photo.mode == "RGB" else photo.convert("RGB"), dtype=np.uint8), converted


def read_image(source) -> np.ndarray:
    """A path, bytes or binary file object -> uint8 RGB [H, W, 3], EXIF orientation applied (read_rgb).

    Raises BadImage (NotAnImage, TooLarge, UnsupportedMode, or plain BadImage) with the reason.
    """
    return read_rgb(source)[0]
