"""Image files and uploads -> uint8 RGB: the one decoder behind training, evaluation, `colorize` and the web app.

A file that cannot be used raises a ``BadImage`` whose message is the reason reported to the user; the web app
maps its subclasses to HTTP statuses. Limits are checked from the header, before anything is decoded.
"""

from __future__ import annotations

import io

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


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB: 16-bit grey is scaled (not clipped), transparency is composited on white."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I"):  # "I;16", "I;16B", "I": 16-bit grey (PNG); plain convert would clip at 255
        grey = np.asarray(img).astype(np.float64) * (255.0 / 65535.0)
        return Image.fromarray(np.clip(np.rint(grey), 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.has_transparency_data:  # RGBA, LA, PA, P or L with a transparent colour
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")  # CMYK, L, P, 1, YCbCr, ...


def read_rgb(path) -> tuple[np.ndarray, bool]:
    """Decode a file (a path or a binary file object) to uint8 RGB [H, W, 3] (EXIF orientation applied) and
    whether it needed converting.

    Raises BadImage (or its subclasses NotAnImage, TooLarge, UnsupportedMode) with a reason. The pixel count
    and the mode are checked from the header, before anything is decoded.
    """
    try:
        with Image.open(path) as img:
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise TooLarge(f"too large: {w}x{h} is over {MAX_PIXELS // 1_000_000} megapixels")
            if min(w, h) < MIN_SIDE:
                raise BadImage(f"too small: {w}x{h} (shorter side under {MIN_SIDE} px)")
            mode = img.mode
            if mode in UNSUPPORTED_MODES:
                raise UnsupportedMode(f"unsupported image mode {mode!r}")
            img.load()
            rgb = _to_rgb(ImageOps.exif_transpose(img))
            return np.asarray(rgb, dtype=np.uint8), mode != "RGB"
    except BadImage:
        raise
    except Image.DecompressionBombError as exc:
        raise TooLarge(f"too large: {exc}") from None
    except Image.UnidentifiedImageError:
        raise NotAnImage("not a readable image") from None
    except Exception as exc:  # truncated/corrupt data surfaces as OSError, SyntaxError, ValueError, ...
        raise BadImage(f"corrupt: {type(exc).__name__}: {exc}") from None


def read_image(source) -> np.ndarray:
    """A path, bytes or binary file object -> uint8 RGB [H, W, 3], EXIF orientation applied (read_rgb).

    Raises BadImage (NotAnImage, TooLarge, UnsupportedMode, or plain BadImage) with the reason.
    """
    if isinstance(source, bytes | bytearray):
        source = io.BytesIO(source)
    return read_rgb(source)[0]
