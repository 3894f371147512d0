"""`python -m reports NAME [--storage URL] [--plan]`: write reports/NAME/ from MLflow (and Optuna).

``--plan`` prints, one per line, the `colorgan evaluate` commands the report still needs (nothing when it has
everything); `make report` runs them and then draws. Missing runs are an error naming `make train` / `make study`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports import build, render, spec
from reports.locations import project_root
from reports.source import Missing, Source


def generate(name: str, root: Path, storage: str | None = None, out: Path | None = None, log: bool = True,
             spec_dir: Path = spec.HERE) -> build.Report:
    source = Source(root, storage)
    report_spec = spec.load(name, spec_dir)
    out = out or spec.HERE / name
    report = build.build(report_spec, source, out)
    render.write(report, source, out)
    if log:
        render.publish(report, source, out)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="reports/NAME.toml, or the name of a study")
    parser.add_argument("--storage", help="Optuna storage URL (default: sqlite under mlruns/)")
    parser.add_argument("--out", help="output folder (default: reports/NAME/)")
    parser.add_argument("--plan", action="store_true", help="print the evaluate commands still needed, then exit")
    args = parser.parse_args(argv)
    root = project_root()
    try:
        if args.plan:
            for command in build.plan(spec.load(args.name), Source(root, args.storage)):
                print(command)
            return 0
        out = Path(args.out) if args.out else None
        report = generate(args.name, root, args.storage, out)
    except Missing as exc:
        print(f"reports: {exc}", file=sys.stderr)
        return 3
    except spec.SpecError as exc:
        print(f"reports: error: {exc}", file=sys.stderr)
        return 2
    where = out or spec.HERE / args.name
    print(f"wrote {where}/index.html, report.md, metrics.csv and {len(report.figure_files)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
