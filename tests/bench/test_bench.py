"""`make bench`: its --quick mode runs end to end (32x32, real training steps, the profiler, fit on a tiny
folder) and prints the one table with every column filled by a measurement."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from colorgan.base import hardware

pytestmark = pytest.mark.slow


def test_quick_bench_prints_the_table(colour_folder, store):
    env = {**os.environ, "COLORGAN_DATA": str(colour_folder), "COLORGAN_HOME": str(store)}
    out = subprocess.run([sys.executable, "-m", "colorgan.bench", "--quick"], capture_output=True, text=True,
                         env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    assert text.startswith("CPU: ")
    assert "ceiling (GFLOP/s, measured here, the best of a few shapes): fp32 conv 3x3 " in text
    native = ["fp32"] + (["bf16"] if hardware.resolve_precision("auto")[0] == "bf16" else [])
    rows = [line.split() for line in text.splitlines() if re.match(r"\s+32 (fp32|bf16) ", line)]
    assert [r[1] for r in rows] == native
    for r in rows:
        flops, harness, gflops, reference = float(r[2]), float(r[3]), float(r[4]), float(r[6])
        assert 0.1 < flops < 10  # GFLOP per image of the 32x32 step, from the profiler
        assert harness > 0 and reference > 0 and gflops == pytest.approx(flops * harness, rel=0.05, abs=1)
        epochs = [float(v) for v in r[8].split("/")]
        assert len(epochs) == 2 and min(epochs) > 0 and float(r[9]) > 0  # the input pipeline alone, images/s
        assert 0 <= float(r[10].rstrip("%")) <= 100
    workers = re.search(r"one thread: the 32 fp32 harness step at ([\d.]+) images/s, against ([\d.]+) on all \d+ "
                        r"cores: two one-thread workers can run at most ([\d.]+)x", text)
    assert workers and float(workers[3]) == pytest.approx(2 * float(workers[1]) / float(workers[2]), abs=0.01)
    assert "median of 3 repeats of 3 steps" in text
