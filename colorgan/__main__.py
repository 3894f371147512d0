"""The `colorgan` command line: a thin layer over train / study."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from colorgan import config, train

    if args.resume:
        cfg = train.resume_config(args.resume, config.parse_overrides(args.set))
    elif args.experiment is None:
        raise config.ConfigError("name an experiment file (e.g. experiments/lab_advanced.toml) or --resume RUN_ID")
    else:
        cfg = config.load(args.experiment, args.set)
    if args.dry_run:
        print(config.to_toml(cfg), end="")
        return 0
    train.configure_threads(args.threads)
    result = train.run(cfg, Path(args.experiment) if args.experiment else None, resume_run_id=args.resume)
    print(f"run {result.run_id} finished: eval PSNR {result.final.get('eval/psnr', float('nan')):.2f} dB")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="colorgan", description="Colorization cGAN research harness.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train one model; the run is tracked in MLflow")
    p.add_argument("experiment", nargs="?", help="experiments/NAME.toml (only the changes from the defaults)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config keys (typed)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an MLflow run from its last completed epoch")
    p.add_argument("--threads", type=int, default=0, help="TF intra-op threads (0 = all cores)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=_train)

    args = parser.parse_args(argv)
    from colorgan.config import ConfigError
    from colorgan.data import DataError

    try:
        return args.func(args)
    except (ConfigError, DataError) as exc:
        print(f"colorgan: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("colorgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
