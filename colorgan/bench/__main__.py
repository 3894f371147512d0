"""`python -m colorgan.bench [--quick]`: the table of colorgan.bench, measured on this host; `--json ...`: one of
its measurements (each row runs in a process of its own)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from colorgan.base import hardware

SHOWN_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def _measure(args: list[str]) -> dict:
    """One measurement (``python -m colorgan.bench --json ARGS``) in a process of its own: its JSON line."""
    cmd = [sys.executable, "-m", "colorgan.bench", "--json", *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"bench: {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(ceiling: dict, rows: list[dict], flags: frozenset[str], steps: int, repeats: int,
          one_thread: float) -> str:
    have = [f for f in SHOWN_FLAGS if f in flags]
    lines = [f"CPU: {hardware.cpu_model()}; flags: {', '.join(have) or 'none of ' + ', '.join(SHOWN_FLAGS)}",
             "ceiling (GFLOP/s, measured here, the best of a few shapes): " + "; ".join(
                 f"{p} conv 3x3 {c['conv']:.0f} ({c['conv_shape']}), matmul {c['matmul']:.0f} (n={c['matmul_n']})"
                 for p, c in ceiling.items()),
             f"each figure: median of {repeats} repeats of {steps} steps; synthetic batches except `fit`",
             "",
             f"{'size':>4} {'prec':>4} {'GFLOP/img':>9} {'harness':>8} {'GFLOP/s':>7} {'%ceil':>5} {'reference':>9} "
             f"{'harn/ref':>8} {'fit per epoch (real data)':>25} {'pipeline':>8} {'input':>5}"]
    for r in rows:
        gflops = r["flops_per_image"] * r["harness"] / 1e9
        ceil = ceiling[r["precision"]]["conv"]
        fits = "/".join(f"{v:.1f}" for v in r["fit_epochs"])
        lines.append(f"{r['image_size']:>4} {r['precision']:>4} {r['flops_per_image'] / 1e9:>9.2f} "
                     f"{r['harness']:>8.1f} {gflops:>7.0f} {100 * gflops / ceil:>4.0f}% {r['reference']:>9.1f} "
                     f"{100 * r['harness_ratio']:>7.0f}% {fits:>25} {r['pipeline']:>8.0f} "
                     f"{100 * r['input_share']:>4.0f}%")
    lines.append("harn/ref: the harness's train_step / a plain two-tape step of the same networks, images/s of the "
                 "two taking turns; fit: Keras fit on the real photos, images/s per epoch (the first decodes and "
                 "traces; each epoch 30 steps); pipeline: images/s of the input pipeline alone; input: the share of "
                 "the later fit epochs' time (their median) not spent in the step")
    first = rows[0]
    workers = 2 * one_thread / first["harness"]
    lines.append(f"one thread: the {first['image_size']} {first['precision']} harness step at {one_thread:.1f} "
                 f"images/s, against {first['harness']:.1f} on all {os.cpu_count()} cores: two one-thread workers "
                 f"can run at most {workers:.2f}x the training steps per hour of one worker on all cores")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m colorgan.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="32x32, 3 repeats of 3 steps: checks the bench runs")
    parser.add_argument("--batch-size", type=int, default=16)
    # The table measures each row in a process of its own (a fresh TF, its thread pools set before first use):
    # these two are how it asks one, and run one measurement by hand.
    parser.add_argument("--json", nargs="+", metavar="ARG",
                        help="one measurement in this process, printed as JSON: `ceiling float32|bfloat16` or "
                             "`SIZE fp32|bf16` (a table row)")
    parser.add_argument("--threads", type=int, default=0,
                        help="with --json: TF intra-op threads (0 = all cores; > 0 measures the harness step alone)")
    args = parser.parse_args(argv)
    steps, repeats, epochs = (3, 3, 2) if args.quick else (20, 3, 4)
    if args.json is not None:
        from colorgan.training import train

        train.configure_threads(args.threads)
        if args.json[0] == "ceiling":
            from colorgan.bench import ceiling

            print(json.dumps(ceiling.measure(args.json[1], steps, repeats, quick=args.quick)))
        else:
            from colorgan.bench import step

            print(json.dumps(step.measure(int(args.json[0]), args.json[1], args.batch_size, steps, repeats, epochs,
                                          threads_only=args.threads > 0)))
        return 0
    flags = hardware.cpu_flags()
    native = ["fp32"] + (["bf16"] if hardware.resolve_precision("auto", flags)[0] == "bf16" else [])
    quick = ["--quick"] if args.quick else []
    ceiling = {p: _measure(["ceiling", {"fp32": "float32", "bf16": "bfloat16"}[p], *quick]) for p in native}
    rows = []
    for size in (32,) if args.quick else (64, 128):
        for precision in native:
            rows.append(_measure([str(size), precision, "--batch-size", str(args.batch_size), *quick]))
            print(f"  {size}x{size} {precision}: harness {rows[-1]['harness']:.1f} images/s", file=sys.stderr,
                  flush=True)
    # The same step on one thread: how many more training steps a second worker on the other core could add at most
    # (whole trials gain more, their evaluation and tracking leaving a core idle: docs/results/measurements.md).
    first = rows[0]
    one_thread = _measure([str(first["image_size"]), first["precision"], "--batch-size", str(args.batch_size),
                           "--threads", "1", *quick])["harness"]
    print(table(ceiling, rows, flags, steps, repeats, one_thread))
    return 0


if __name__ == "__main__":
    sys.exit(main())
