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
from collections.abc import Callable
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


def _built_once(out: Path, settings: dict, write: Callable[[dict[str, Image.Image], Path], None]) -> Path:
    """``out``, filled by ``write(sources, folder)`` unless a complete build with the same settings is there.
    Built in a temporary folder and renamed, so an interrupted build never leaves a half-filled set behind."""
    marker = out / _MARKER
    if marker.is_file() and json.loads(marker.read_text()) == settings:
        return out
    sources = source_images()
    if not sources:
        raise RuntimeError("no bundled sample photographs found in the installed scikit-image / scikit-learn")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{out.name}.", dir=out.parent))
    write(sources, tmp)
    (tmp / _MARKER).write_text(json.dumps(settings))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    return out


def sample_dir(cache_root: Path, count: int = 300, size: int = 150, seed: int = 0) -> Path:
    """Build (once) and return ``cache_root/samples``: ``count`` random ``size`` x ``size`` JPEG crops.

    Each crop is a random square of a source photograph, between ``size`` pixels and its shorter side, scaled to
    ``size``: crops show whole objects as well as texture. Re-running with the same settings reuses
    the folder; different settings rebuild it.
    """

    def write(sources: dict[str, Image.Image], folder: Path) -> None:
        rng = np.random.default_rng(seed)
        names = sorted(sources)
        for i in range(count):
            name = names[i % len(names)]
            img = sources[name]
            low = min(size, *img.size)
            side = int(rng.integers(low, min(img.size) + 1))  # crop side in source pixels, then scaled to size
            x, y = int(rng.integers(0, img.width - side + 1)), int(rng.integers(0, img.height - side + 1))
            crop = img.crop((x, y, x + side, y + side)).resize((size, size), Image.Resampling.LANCZOS)
            if rng.random() < 0.5:
                crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            (folder / name).mkdir(exist_ok=True)
            crop.save(folder / name / f"{i:04d}.jpg", quality=92)

    settings = {"count": count, "size": size, "seed": seed, "sources": [s[0] for s in SOURCES]}
    return _built_once(Path(cache_root) / "samples", settings, write)


OTHER_SUBJECTS = "other"  # the class folder of the whole source photographs (colorgan evaluate groups by folder)


def other_subjects_dir(cache_root: Path) -> Path:
    """Build (once) and return ``cache_root/other-subjects``: every bundled source photograph whole, as PNG, in
    one class folder. Photos of subjects the landscape models never saw (a face, a cat, a rocket...), the
    out-of-domain set `make ood` scores a model on; nothing is cropped or resized here (evaluate does that)."""

    def write(sources: dict[str, Image.Image], folder: Path) -> None:
        (folder / OTHER_SUBJECTS).mkdir()
        for name, img in sorted(sources.items()):
            img.save(folder / OTHER_SUBJECTS / f"{name}.png")

    return _built_once(Path(cache_root) / "other-subjects", {"sources": [s[0] for s in SOURCES], "format": "png"},
                       write)


if __name__ == "__main__":  # `python -m colorgan.data.samples`: build the other-subjects folder, print where it is
    from colorgan.base import paths

    print(other_subjects_dir(paths.cache_dir(paths.repo_root()) / "colorgan"))
