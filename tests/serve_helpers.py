"""What the web app's tests share (tests/test_serve*.py and the ``server`` fixture of conftest.py): the short read
timeouts they start it with, and a photo encoded, posted and its lightness read.

Not a test file (pytest collects nothing here): test files import it, so that no test file imports another.
"""

from __future__ import annotations

import io

import numpy as np
import requests
from PIL import Image

from colorgan.data import color
from colorgan.serving.limits import Limits

# short read timeouts, so that testing them is quick (the defaults are in Limits and docs/reference/serving-api.md)
FAST = Limits(body_s=3.0, idle_s=2.0, header_s=2.0)


def encode(image: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **options)
    return buf.getvalue()


def post(url: str, body: bytes, name: str = "photo.png") -> requests.Response:
    return requests.post(f"{url}/api/colorize", files={"file": (name, body, "application/octet-stream")},
                         timeout=120)


def lightness(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(color.rgb_to_lab(np.asarray(rgb, np.float32) / 255.0))[..., 0]
