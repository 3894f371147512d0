"""The `colorgan` command line: a thin layer over train / study / reproduce / evaluate / colorize / publish / ship /
export / serve / close-stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    from colorgan.base import config
    from colorgan.scoring import metrics
    from colorgan.training import resume, train

    if args.resume:
        cfg = resume.resume_config(args.resume, config.parse_overrides(args.set))
    elif args.experiment is None:
        raise config.ConfigError("name an experiment file (e.g. experiments/lab_advanced.toml) or --resume RUN_ID")
    else:
        cfg = config.load(args.experiment, args.set)
    if args.dry_run:
        print(config.to_toml(cfg), end="")
        return 0
    _close_stale()
    train.configure_threads(args.threads)
    try:
        result = train.run_training(cfg, Path(args.experiment) if args.experiment else None,
                                    resume_run_id=args.resume, study_run=_study_run(None),
                                    verbose=1 if getattr(args, "verbose", False) else 0)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: the run is KILLED (tracking.open_run); say how to go on
        if getattr(exc, "run_id", None):
            exc.args = (f"run {exc.run_id} marked KILLED; `colorgan train --resume {exc.run_id}` goes on from its "
                        "last checkpoint",)
        raise
    psnr = metrics.QUALITY["psnr"]
    print(f"run {result.run_id} finished: {metrics.heading_of('eval/psnr')} "
          f"{psnr.show(result.final.get('eval/psnr', float('nan')))}" + _samples_note(result.data_source, "trained"))
    return 0


def _samples_note(source: str, done: str) -> str:
    """The end of a command's last line when its data was the built-in sample set (no data set found)."""
    from colorgan.data.datasets import BUILT_IN

    return (f"; {done} on the built-in sample set, not a data set: figures are not comparable" if source == BUILT_IN
            else "")


def _study(args: argparse.Namespace) -> int:
    from colorgan import studies
    from colorgan.base import paths
    from colorgan.studies import printout, storage

    spec = studies.load_spec(studies.resolve_path(args.study))
    root = paths.repo_root()
    if args.summary:
        printout.print_summary(storage.open_study(spec, storage.storage_url(args.storage, root)), spec, root)
        return 0
    from colorgan.studies import runner

    _close_stale()
    study = runner.run_study(spec, args.storage, args.workers, args.trials, args.epochs, root, args.threads)
    printout.print_summary(study, spec, root)
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from colorgan.training import reproduce

    report = reproduce.report_name(Path(args.file))
    if args.report_name:
        print(report)
        return 0
    _close_stale()
    done = reproduce.train_claims(Path(args.file), only=tuple(args.only))
    print(f"reproduce: {len(done)} runs ready in MLflow; next: make report NAME={report}")
    return 0


def _close_stale(args: argparse.Namespace | None = None) -> int:
    """Mark runs whose process died (stale heartbeat) FAILED: before train and study, and as `make ui` starts."""
    from colorgan.base import paths
    from colorgan.tracking import liveness

    closed = liveness.close_stale_runs(paths.repo_root())
    for run_id, name, reason in closed:
        print(f"marked run {run_id} ({name}) FAILED: {reason}")
    if args is not None and not closed:
        print("no stale runs")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from colorgan.evaluation import evaluate

    result = evaluate.evaluate_model(args.model, args.data, args.size, Path(args.out) if args.out else None,
                                     overrides=tuple(args.set), study_run=_study_run(args.storage))
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(result.summary.round(3).to_string(index=False))
    if not args.model:
        print(f"evaluated {result.model}: the default model (no --model named)")
    print(f"logged to run {result.run_id} under evaluation/{result.key}/ ({len(result.skipped)} files skipped)"
          + _samples_note(result.data_source, "scored"))
    return 0


def _study_run(storage: str | None):
    """``study:NAME`` -> its best trial's run id, for references.resolve (colorgan.studies knows Optuna; imported
    only when a study is named)."""

    def best_run_id(name: str) -> str:
        from colorgan.base import paths
        from colorgan.studies import lookup

        return lookup.best_run_id(name, storage, paths.repo_root())

    return best_run_id


def _load_colorizer(args: argparse.Namespace):
    """(Colorizer, references.Model, which model in words): --model, or the default model when none is named."""
    from colorgan.base import paths
    from colorgan.serving import references

    root = paths.repo_root()
    ref = args.model or references.default_ref(root)
    colorizer, model = references.load_colorizer(ref, root, study_run=_study_run(args.storage))
    return colorizer, model, model.description + ("" if args.model else " (the default model)")


def _colorize(args: argparse.Namespace) -> int:
    from colorgan.serving.colorize import colorize_files

    colorizer, _, which = _load_colorizer(args)
    report = colorize_files(args.paths, args.out, colorizer, progress=not args.quiet)
    print(f"colorized {len(report.written)} file(s) into {args.out} with {which}"
          + (f"; skipped {len(report.skipped)}:" if report.skipped else ""))
    for path, reason in report.skipped:
        print(f"  {path}: {reason}")
    return 1 if report.skipped else 0


def _publish(args: argparse.Namespace) -> int:
    from colorgan.base import paths
    from colorgan.release.publish import publish

    run_id = _study_run(args.storage)(args.study) if args.study else args.run
    published = publish(run_id, paths.repo_root(), study=args.study)
    print(f"registered {published.name} version {published.version} (alias {published.alias}) from run "
          f"{published.source_run_id}; model card in publish run {published.run_id}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from colorgan.serving.colorize import export_savedmodel

    colorizer, _, which = _load_colorizer(args)
    out = export_savedmodel(colorizer, args.out)
    print(f"SavedModel of {which} written to {out} (signature serving_default: uint8 image "
          "[H, W, 1] -> uint8 image [H, W, 3])")
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from colorgan.serving.app import create_app
    from colorgan.serving.limits import server_config

    colorizer, _, which = _load_colorizer(args)
    app = create_app(colorizer, which, max_bytes=int(args.max_mb * 1024 * 1024))
    print(f"serving {which} on http://{args.host}:{args.port}/ (API docs: /docs)", flush=True)
    uvicorn.Server(server_config(app, args.host, args.port)).run()  # with the timeouts and limits of serve.limits
    return 0


def _ship(args: argparse.Namespace) -> int:
    from colorgan.base import paths
    from colorgan.release.shipping import ship
    from colorgan.scoring import metrics

    out = Path(args.out) if args.out else paths.shipped_model_dir()
    result = ship(args.model, out, paths.repo_root(), args.command or "", args.replace, _study_run(args.storage))
    model, gray = result.figures["test"]["model"][0], result.figures["test"]["gray"][0]
    figures = "  ".join(f"{m.label} {m.show(model[m.name])} (gray {m.show(gray[m.name])})"
                        for m in (metrics.QUALITY[k] for k in ("psnr", "colorfulness", "colorfulness_gap")))
    print(f"shipped {result.source} to {result.folder} ({result.figures['n_test']} test images: {figures})")
    return 0


def main(argv: list[str] | None = None) -> int:
    verbose = argparse.ArgumentParser(add_help=False)  # -v before or after the command
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="show the traceback of an expected failure too, not only its one line; and "
                              "TensorFlow's start-up and log lines, Keras' progress bar, MLflow's and Optuna's "
                              "info lines and every epoch of a study's trials (see colorgan/base/terminal.py)")
    parser = argparse.ArgumentParser(prog="colorgan", description="Colorization cGAN research harness.",
                                     parents=[verbose])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[verbose], **kwargs)


    p = command("train", help="train one model; the run is tracked in MLflow")
    p.add_argument("experiment", nargs="?", help="experiments/NAME.toml (only the changes from the defaults)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="override config keys (typed)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an MLflow run from its last completed epoch")
    p.add_argument("--threads", type=int, default=0, help="TF intra-op threads (0 = all cores)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.set_defaults(func=_train)

    p = command("study", help="run (or resume) an Optuna study; every trial is a nested MLflow run")
    p.add_argument("study", help="studies/NAME.toml or just NAME")
    p.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite under mlruns/)")
    p.add_argument("--trials", type=int, help="budget of finished trials (default: the study file's)")
    p.add_argument("--epochs", type=int, help="override epochs per trial, for quick looks")
    p.add_argument("--threads", type=int, default=0, help="TF intra-op threads per worker (0 = share of cores)")
    p.add_argument("--summary", action="store_true", help="print the trials table and the best trial, then exit")
    p.set_defaults(func=_study)

    p = command("reproduce", help="train every run a claims file declares (each once; a rerun trains what is missing)")
    p.add_argument("file", nargs="?", default="reports/claims.toml", help="the claims file (default: %(default)s)")
    p.add_argument("--only", nargs="*", default=[], metavar="NAME", help="only these configurations (run names "
                   "without -sSEED)")
    p.add_argument("--report-name", action="store_true", help="print the report that checks the file, then exit")
    p.set_defaults(func=_reproduce)

    p = command("evaluate", help="score a model or baseline per image on a folder (default: the test split)")
    p.add_argument("--model", metavar="REF",
                   help="a model reference (as colorize's --model) or baseline:gray|welsh|l1_only; default: "
                        "models:/colorgan@champion if registered, else shipped (as colorize and serve)")
    p.add_argument("--data", help="a folder of colour photos, evaluated whole (default: the test split)")
    p.add_argument("--size", type=int, help="image size for gray/welsh (default 128; models use their own)")
    p.add_argument("--out", help="also write the per-image table to this CSV file")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="baselines only: data config (data_dir, test_fraction, ...) whose test split is used")
    p.add_argument("--storage", help="Optuna storage URL for study:NAME (default: sqlite under mlruns/)")
    p.set_defaults(func=_evaluate)


    model_help = ("runs:/RUN_ID, RUN_ID, models:/colorgan/N, models:/colorgan@champion, study:NAME, shipped or a "
                  "shipped-model folder; default: models:/colorgan@champion if registered, else shipped")
    p = command("colorize", help="colorize photos (files or folders) at full resolution")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (recursive)")
    p.add_argument("--model", metavar="REF", help=model_help)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (same names, formats and sizes)")
    p.add_argument("--storage", help="Optuna storage URL for study:NAME (default: sqlite under mlruns/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_colorize)

    p = command("publish", help="register a generator as models:/colorgan@champion, with a model card")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--study", metavar="NAME", help="the best trial of this Optuna study")
    which.add_argument("--run", metavar="RUN_ID", help="this training run")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite under mlruns/)")
    p.set_defaults(func=_publish)

    p = command("ship", help="write a trained generator into the repository as a shipped model (models/)")
    p.add_argument("--model", required=True, metavar="REF", help="a model reference (as colorize's --model)")
    p.add_argument("--out", metavar="DIR", help="the folder to write (default: the checkout's models/landscapes-128)")
    p.add_argument("--command", help="how it was trained, for the model card (default: from its resolved config)")
    p.add_argument("--replace", action="store_true", help="overwrite a shipped model already in --out")
    p.add_argument("--storage", help="Optuna storage URL for study:NAME")
    p.set_defaults(func=_ship)

    p = command("export", help="export a generator as a TensorFlow SavedModel for TF Serving")
    p.add_argument("--model", metavar="REF", help=model_help)
    p.add_argument("--out", required=True, metavar="DIR", help="a new (or empty) folder")
    p.add_argument("--storage", help="Optuna storage URL for study:NAME")
    p.set_defaults(func=_export)

    p = command("serve", help="the upload page and its API (FastAPI)")
    p.add_argument("--model", metavar="REF", help=model_help)
    p.add_argument("--host", default="127.0.0.1",
                   help="the interface to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every one)")
    p.add_argument("--port", type=int, default=8000, help="the port to listen on (default 8000)")
    p.add_argument("--max-mb", type=float, default=20.0, help="upload size limit in MB")
    p.add_argument("--storage", help="Optuna storage URL for study:NAME")
    p.set_defaults(func=_serve)

    p = command("close-stale", help="mark runs whose process died (stale heartbeat) FAILED; `make ui` runs it")
    p.set_defaults(func=_close_stale)

    args = parser.parse_args(argv)
    from colorgan.base import terminal
    from colorgan.base.errors import exit_code

    verbose = getattr(args, "verbose", False)
    terminal.setup(verbose)  # before anything imports TensorFlow
    return exit_code("colorgan", lambda: args.func(args), verbose)


if __name__ == "__main__":
    sys.exit(main())
