"""`python -m colorgan.bench.critic_pilots --init-from REF`: why the critic stays a constant, measured.

Each pilot is the critic alone (colorgan.scoring.critic.pretrain, no early stop), trained for ``--steps`` batches on the
frozen warm-started generator's colourings against the photos, then scored on held-out eval photos in inference
mode: its AUC with a 95% interval and its mean D(real) - D(fake). One row per critic design: the report's
(BatchNorm, real-only and generated-only batches, spectral norm) against one joint batch, the other normalisations,
spectral norm off, the critic's learning rate and its patch size. The table goes to stdout and, as CSV, to
``--out``; docs/results/critic.md holds the measured one.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import keras

from colorgan.base import config as config_mod
from colorgan.base import hardware, paths
from colorgan.data import datasets
from colorgan.model import gan
from colorgan.scoring import critic
from colorgan.training import curves, warmstart

# (name, the changes from the base design) of each pilot; the base is the report's critic with --base's other keys
PILOTS: tuple[tuple[str, dict], ...] = (
    ("report: batch norm, separate batches", {"critic_norm": "batch", "critic_batches": "separate"}),
    ("batch norm, one joint batch", {"critic_norm": "batch", "critic_batches": "joint"}),
    ("no normalisation", {"critic_norm": "none"}),
    ("instance norm", {"critic_norm": "instance"}),
    ("layer norm", {"critic_norm": "layer"}),
    ("group norm (8)", {"critic_norm": "group"}),
    ("report, spectral norm off", {"critic_norm": "batch", "critic_batches": "separate", "power_iterations": 0}),
    ("joint batch, spectral norm off", {"critic_norm": "batch", "critic_batches": "joint", "power_iterations": 0}),
    ("no normalisation, spectral norm off", {"critic_norm": "none", "power_iterations": 0}),
    ("joint batch, lr_d 5e-5", {"critic_norm": "batch", "critic_batches": "joint", "lr_d": 5e-5}),
    ("joint batch, lr_d 1e-3", {"critic_norm": "batch", "critic_batches": "joint", "lr_d": 1e-3}),
    ("joint batch, 16-pixel patch", {"critic_norm": "batch", "critic_batches": "joint", "critic_patch": 16}),
    ("joint batch, 1-pixel patch", {"critic_norm": "batch", "critic_batches": "joint", "critic_patch": 1}),
)
COLUMNS = ("pilot", "critic_norm", "critic_batches", "power_iterations", "lr_d", "critic_patch", "steps",
           "critic_auc", "critic_auc_low", "critic_auc_high", "critic_gap", "cpu_seconds")


def pilot_config(base: config_mod.Config, changes: dict) -> config_mod.Config:
    """A pilot's config: the base, the pilot's changes, an adversarial model with plain L1 (only the critic
    trains, so the generator's loss weighting does not matter)."""
    return config_mod.build({"adversarial": True, "recon_weighting": "none", "pretrain_epochs": 0, **changes}, base)


def run_pilot(cfg: config_mod.Config, bundle: datasets.DataBundle, subset, steps: int, root: Path) -> dict:
    keras.utils.set_random_seed(cfg.seed)  # every pilot's critic starts from the same draw of its layout
    model = gan.build_colorgan(cfg)
    warmstart.apply(model, cfg, root, announce=False)
    cpu = time.process_time()
    last = critic.pretrain(model, bundle.train, subset, steps, target_auc=1.01, check_every=steps,
                           log=lambda values, step: None)
    return last | {"cpu_seconds": time.process_time() - cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m colorgan.bench.critic_pilots", description=__doc__)
    parser.add_argument("--init-from", required=True, help="the warm-started generator (any model reference)")
    parser.add_argument("--base", default="landscapes", help="the experiment the pilots' other keys come from")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--heldout", type=int, default=256, help="eval photos the AUC is measured on")
    parser.add_argument("--only", default="", help="comma-separated pilot numbers (1-based) to run")
    parser.add_argument("--set", nargs="*", default=[], help="key=value changes to the base, e.g. image_size=64")
    parser.add_argument("--out", default="bench-results/critic_pilots.csv")
    args = parser.parse_args(argv)
    root = paths.repo_root()
    base = config_mod.load(paths.experiments_dir() / f"{args.base}.toml", args.set)
    base = base.replace(init_from=args.init_from)
    if base.precision == "bf16":
        raise SystemExit("critic_pilots: run them in fp32 (--set precision=fp32): bf16 is emulated on many CPUs")
    keras.mixed_precision.set_global_policy("float32")
    bundle = datasets.load(base, root)
    subset = curves.take_images(bundle.eval, args.heldout, base.batch_size)
    chosen = {int(i) for i in args.only.split(",") if i} or set(range(1, len(PILOTS) + 1))
    print(f"CPU: {hardware.cpu_model()}; {os.cpu_count()} cores; {args.steps} steps of batch {base.batch_size} at "
          f"{base.image_size}x{base.image_size}; held-out: {args.heldout} eval photos; generator: {args.init_from}",
          flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    new = not out.exists()
    with out.open("a") as fh:
        if new:
            fh.write(",".join(COLUMNS) + "\n")
        for number, (name, changes) in enumerate(PILOTS, start=1):
            if number not in chosen:
                continue
            cfg = pilot_config(base, changes)
            row = {"pilot": f"{number}. {name}", **{k: getattr(cfg, k) for k in COLUMNS[1:6]}, "steps": args.steps,
                   **run_pilot(cfg, bundle, subset, args.steps, root)}
            fh.write(",".join(f'"{row[c]}"' if c == "pilot" else f"{row[c]:.4g}" if isinstance(row[c], float)
                              else str(row[c]) for c in COLUMNS) + "\n")
            fh.flush()
            print(f"{row['pilot']:<42} AUC {row['critic_auc']:.3f} [{row['critic_auc_low']:.3f}, "
                  f"{row['critic_auc_high']:.3f}]  D(real)-D(fake) {row['critic_gap']:+.3f}  "
                  f"{row['cpu_seconds']:.0f} CPU-s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
