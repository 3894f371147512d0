"""`make bench`: training throughput (images/s) of the report's model at 64 and 128, float32 and bf16.

Synthetic batches in memory, so the figure is the model's own cost, not the input pipeline's. Each
configuration runs in a fresh process (the precision policy is global) and is timed after warm-up steps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def measure(image_size: int, precision: str, batch_size: int, steps: int, warmup: int) -> dict:
    import keras
    import tensorflow as tf

    from colorgan import config, gan

    cfg = config.build({"image_size": image_size, "precision": precision, "batch_size": batch_size})
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if precision == "bf16" else "float32")
    model = gan.build(cfg)
    rng = tf.random.Generator.from_seed(0)
    l_in = rng.uniform((batch_size, image_size, image_size, 1), -1, 1)
    target = rng.uniform((batch_size, image_size, image_size, 2), -1, 1)
    step = tf.function(model.train_step)
    for _ in range(warmup):
        step((l_in, target))
    start = time.perf_counter()
    for _ in range(steps):
        out = step((l_in, target))
    float(out["g_total"])  # wait for the last step
    seconds = time.perf_counter() - start
    return {"image_size": image_size, "precision": precision, "batch_size": batch_size, "steps": steps,
            "images_per_sec": steps * batch_size / seconds, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--one", nargs=2, metavar=("SIZE", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(int(args.one[0]), args.one[1], args.batch_size, args.steps, args.warmup)))
        return 0
    rows = []
    for size in (64, 128):
        for precision in ("fp32", "bf16"):
            cmd = [sys.executable, "-m", "colorgan.bench", "--one", str(size), precision,
                   "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            rows.append(json.loads(out))
            print(f"  {size}x{size} {precision}: {rows[-1]['images_per_sec']:.1f} images/s", file=sys.stderr,
                  flush=True)  # as it goes: the bf16 rows can take minutes on CPUs without bf16 instructions
    print(f"\nGAN training step (G + D, Adam), batch {args.batch_size}, {args.steps} timed steps after "
          f"{args.warmup} warm-up, synthetic data")
    print(f"{'size':>6} {'precision':>9} {'images/s':>9} {'ms/image':>9}")
    for r in rows:
        print(f"{r['image_size']:>6} {r['precision']:>9} {r['images_per_sec']:>9.1f} "
              f"{1000 / r['images_per_sec']:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
