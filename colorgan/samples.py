"""A small built-in data set, so the harness runs on a fresh checkout without the real photographs.

It is cut from colour photographs that ship inside the installed scikit-image and scikit-learn wheels. The
files are read straight from the packages' folders, never through ``skimage.data``'s fetchers, so nothing can
download. The crops are written once (seeded, so every machine builds the same set) under a git-ignored cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

# (name, package, file inside the package): natural colour photographs bundled in the wheels.
# skimage's hubble/retina/ihc are bundled too but are not everyday scenes; lily/skin/kidney download: not used.
SOURCES = (
    ("astronaut", "skimage", "data/astronaut.png"),
    ("coffee", "skimage", "data/coffee.png"),
    ("chelsea", "skimage", "data/chelsea.png"),
    ("rocket", "skimage", "data/rocket.jpg"),
    ("motorcycle", "skimage", "data/motorcycle_left.png"),
    ("china", "sklearn", "datasets/images/china.jpg"),
    ("flower", "sklearn", "datasets/images/flower.jpg"),
)
_MARKER = ".complete"  # written last: its presence (with matching settings) means the folder is whole


def source_images() -> dict[str, Image.Image]:
    """The bundled photographs as RGB images, by name; files missing from a package are left out."""
    out = {}
    for name, package, rel in SOURCES:
        spec = importlib.util.find_spec(package)  # locates the package without importing it
        if spec is None or not spec.submodule_search_locations:
            continue
        path = Path(next(iter(spec.submodule_search_locations))) / rel
        if path.is_file():
            with Image.open(path) as img:
                out[name] = img.convert("RGB")
    return out


def sample_dir(cache_root: Path, count: int = 300, size: int = 150, seed: int = 0) -> Path:
    """Build (once) and return ``cache_root/samples``: ``count`` random ``size`` x ``size`` JPEG crops.

    Each crop is a random square of a source photograph, between ``size`` pixels and its shorter side, scaled to
    ``size``: crops show whole objects as well as texture. Re-running with the same settings reuses
    the folder; different settings rebuild it. Built in a temporary folder and renamed, so an interrupted build
    never leaves a half-filled set behind.
    """
    out = Path(cache_root) / "samples"
    settings = {"count": count, "size": size, "seed": seed, "sources": [s[0] for s in SOURCES]}
    marker = out / _MARKER
    if marker.is_file() and json.loads(marker.read_text()) == settings:
        return out
    sources = source_images()
    if not sources:
        raise RuntimeError("no bundled sample photographs found in the installed scikit-image / scikit-learn")
    rng = np.random.default_rng(seed)
    names = sorted(sources)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="samples.", dir=out.parent))
    for i in range(count):
        name = names[i % len(names)]
        img = sources[name]
        low = min(size, *img.size)
        side = int(rng.integers(low, min(img.size) + 1))  # crop side in source pixels, then scaled to size
        x, y = int(rng.integers(0, img.width - side + 1)), int(rng.integers(0, img.height - side + 1))
        crop = img.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.LANCZOS)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        (tmp / name).mkdir(exist_ok=True)
        crop.save(tmp / name / f"{i:04d}.jpg", quality=92)
    (tmp / _MARKER).write_text(json.dumps(settings))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out
