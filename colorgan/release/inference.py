"""What using a model costs, measured when its card is written: parameters, and the time and peak memory of
colorizing one photo, each photo size in a fresh process (`python -m colorgan.release.inference REF --side N`).

A fresh process per size, as a user's `colorgan colorize` is one: its peak resident memory (``VmHWM``, the high-water
mark of this process's own memory; ``ru_maxrss`` would hold the parent's from before the exec) is then that photo's
and not what the card's scoring left allocated. The photo is a decoded grey "L" image of side x side
pixels through ``Colorizer.colorize_image`` (what `colorize` and `serve` run; decoding and encoding the file are left
out), timed after one warm-up call (which traces the graph), the median of ``repeats``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from colorgan.base import hardware, paths
from colorgan.base.errors import UsageError

LARGE_SIDE = 1024  # the large photo of the card: side x side pixels, beside one at the model's own size
REPEATS = 5
MB = 1 << 20


class InferenceError(UsageError):
    """The measuring process failed; the message holds its last line."""


def _status_bytes(field: str) -> int:
    """A memory line of /proc/self/status in bytes: VmRSS (resident now) or VmHWM (its peak since the exec)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) * 1024  # kB


def grey_photo(side: int, seed: int = 0) -> Image.Image:
    """A smooth grey photo with fine detail (the colorizer's time does not depend on what it shows)."""
    rng = np.random.default_rng(seed)
    small = Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8), "L").resize((side, side), Image.BILINEAR)
    stripes = (20 * np.sin(np.arange(side) / 3.0)).astype(np.float32)[np.newaxis, :]
    return Image.fromarray(np.clip(np.asarray(small, np.float32) + stripes, 0, 255).astype(np.uint8), "L")


def measure_here(ref: str, side: int, repeats: int = REPEATS) -> dict:
    """In this process (a fresh one): load ``ref``, colorize one side x side photo; the figures as a dict."""
    from colorgan.serving import references

    colorizer, model = references.load_colorizer(ref, paths.repo_root())
    loaded = _status_bytes("VmRSS")
    photo = grey_photo(side)
    colorizer.colorize_image(photo)  # the warm-up: traces the graph for this size
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        colorizer.colorize_image(photo)
        seconds.append(time.perf_counter() - start)
    peak = _status_bytes("VmHWM")
    return {"side": side, "seconds": statistics.median(seconds), "seconds_min": min(seconds), "repeats": repeats,
            "loaded_mb": loaded / MB, "peak_mb": peak / MB, "parameters": int(model.generator.count_params())}


def measure(ref: str, image_size: int, root: Path, repeats: int = REPEATS) -> dict:
    """Each photo size (the model's, LARGE_SIDE) in a fresh process of this checkout's code; with the CPU, its cores
    and the load average when measured. ``ref``: a run id or a shipped folder, which the child resolves in the same
    store as the caller (``root``, passed on as COLORGAN_HOME)."""
    env = {**os.environ, paths.HOME_ENV: str(root),
           "PYTHONPATH": os.pathsep.join(filter(None, (str(paths.CHECKOUT), os.environ.get("PYTHONPATH"))))}
    rows = []
    for side in sorted({image_size, LARGE_SIDE}):
        out = subprocess.run([sys.executable, "-m", "colorgan.release.inference", ref, "--side", str(side),
                              "--repeats", str(repeats)], capture_output=True, text=True, env=env, timeout=900)
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["no output"])[-1]
            raise InferenceError(f"measuring {ref} at {side}x{side} failed: {last}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {"cpu": hardware.cpu_model(), "cores": os.cpu_count(), "load": round(os.getloadavg()[0], 1),
            "parameters": rows[0]["parameters"], "photos": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m colorgan.release.inference", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model reference (a run id, or a shipped-model folder)")
    parser.add_argument("--side", type=int, default=LARGE_SIDE, help="the photo's side in pixels")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="timed calls after the warm-up")
    args = parser.parse_args(argv)
    from colorgan.base import terminal
    from colorgan.base.errors import exit_code

    terminal.setup()

    def run() -> int:
        print(json.dumps(measure_here(args.model, args.side, args.repeats)))
        return 0

    return exit_code("colorgan inference", run)


if __name__ == "__main__":
    sys.exit(main())
